"""Every core busy, every network on the fastest engine (issue 40): the figures, measured in one run.

    BENCH_DATA_ROOT=../shared/data python perf/engine_speed.py [--only fast-srgan] [--frames 32] [--repeats 2]
        [--skip-networks] [--skip-run] [--one-core-before /path/to/old/checkout]

1. Networks. For each shipped network at its natural input (the clips its recipe runs: bikes 640x272
   for ``fast-srgan`` x2 and, at JPEG QF20, for ``ssim``/``gan``; bikes at x4 down, 160x68, for
   ``srresnet``/``srgan``; bigbuckbunny at 256x144 for ``videoboost`` x5 and at 1280x720 for
   ``pix2pix``), in batches of 8 frames (one for the per-frame JPEG ensembles, with ``ssim``'s two
   views): the forward pass alone (a float tensor in, a tensor out) in eager PyTorch and on the
   engine (OpenVINO at f32), batch by batch in turn on the same frames (``fast-srgan``: all 250
   frames of bikes), with the share of output values equal after rounding to 8 bits and the largest
   difference; then ``bench enhance`` on the same clip as a whole process (spawn to exit: imports,
   weights, decoding, the network, encoding), frames over wall seconds, with its peak RSS
   (``wait4``): on the engine with a cold engine cache, again warm, and with ``--engine eager``.
   Ratios: engine/eager forward-only, enhance (warm)/eager forward-only.
2. The default ``bench run`` of the metric job (LIVE1 + CBSD68 at QF20, identity, psnr, ssim, niqe,
   brisque: 97 images, ``--no-cache``: cold) against ``--workers 1`` and against the hand loop of
   ``perf/vs_plain_loop.py`` (Pillow, piq, pyiqa, one process), whole process against whole process,
   in turn ``--repeats`` times; the default's rows against ``--workers 1``'s (every column but
   ``run_id``, ``elapsed_s`` and the ``fps`` values).
3. With ``--one-core-before CHECKOUT``: the README's default job (``bench run``, no arguments, a cold
   cache each time) under ``taskset -c 0``, this checkout against the one given, in turn.

Speeds move with the machine's load: the load average is printed with each section; compare the
ratios, measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: network -> (clip, downscale, JPEG quality or None, frames per forward call, frames at most (None: all))
NATURAL = {
    "fast-srgan": ("bikes", 1, None, 8, None),
    "ssim": ("bikes", 1, 20, 1, None),
    "gan": ("bikes", 1, 20, 1, None),
    "srresnet": ("bikes", 4, None, 8, None),
    "srgan": ("bikes", 4, None, 8, None),
    "videoboost": ("bigbuckbunny", 5, None, 8, None),
    "pix2pix": ("bigbuckbunny", 1, None, 8, None),
}


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def clip_frames(name: str, down: int, quality: int | None, limit: int | None) -> list[np.ndarray]:
    """The clip's frames, area-downscaled ``down`` times (even sides) and through JPEG at ``quality``."""
    import av
    import cv2

    from benchmark.tools.pipelines import embedded_clip

    frames = []
    with av.open(str(embedded_clip(name))) as c:
        for vf in c.decode(video=0):
            f = vf.to_ndarray(format="rgb24")
            if down > 1:
                h, w = f.shape[0] // down // 2 * 2, f.shape[1] // down // 2 * 2
                f = cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA)
            if quality:
                ok, buf = cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
                f = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            frames.append(f)
            if limit and len(frames) == limit:
                break
    return frames


def write_clip(frames: list[np.ndarray], dst: Path) -> None:
    import av

    with av.open(str(dst), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.height, v.width = frames[0].shape[:2]
        v.pix_fmt, v.options = "yuv420p", {"crf": "12", "preset": "ultrafast"}
        for f in frames:
            for p in v.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(p)
        for p in v.encode():
            out.mux(p)


def forward_fn(name: str, method):
    """The network pass alone as the method runs it: (tensor in [-1, 1]) -> tensor."""
    if name in ("ssim", "gan"):
        from benchmark.methods.adapters.galteri import self_ensemble

        g = method.models[20]
        return lambda x: self_ensemble(g, x, method.self_ensemble)
    return method.model


def forward_speeds(name: str, frames: list[np.ndarray], batch: int, cache: Path) -> dict:
    """Eager and engine forward-only frames/s on ``frames``, batch by batch in turn, and how far apart."""
    import torch

    from benchmark.core import engine
    from benchmark.methods.adapters.trainable import frames_to_tensor
    from benchmark.run.resolve import make_method

    # one method: two instances may share their networks (weights loaded once per process), and
    # eager_only() runs the very same modules eagerly
    method = make_method(name)
    method.setup("cpu")
    choice = engine.choose("openvino", "f32", "cpu", cache)
    engine.WARM_S = 0.0  # the engine from the first call: this is its forward pass alone
    engine.attach(method, choice)
    fast = forward_fn(name, method)

    def eager(x):
        with engine.eager_only():
            return fast(x)

    batches = [frames_to_tensor(frames[i : i + batch], "cpu") for i in range(0, len(frames), batch)]
    t_eager = t_fast = 0.0
    equal = total = 0
    worst = 0
    with torch.inference_mode():
        t0 = time.perf_counter()
        fast(batches[0])  # converts (cold) or reads the network, compiles this size: not a frame's work
        warm_s = time.perf_counter() - t0
        eager(batches[0][:1])
        for x in batches:
            t0 = time.perf_counter()
            a = eager(x)
            t1 = time.perf_counter()
            b = fast(x)
            t_fast += time.perf_counter() - t1
            t_eager += t1 - t0
            qa = a.clamp(-1, 1).add(1).mul(127.5).round()
            qb = b.clamp(-1, 1).add(1).mul(127.5).round()
            d = (qa - qb).abs()
            equal += int((d == 0).sum())
            total += d.numel()
            worst = max(worst, int(d.max()))
    n = len(frames)
    return {
        "frames": n,
        "size": f"{frames[0].shape[1]}x{frames[0].shape[0]}",
        "batch": batch,
        "eager_fps": n / t_eager,
        "engine_fps": n / t_fast,
        "first_call_s": warm_s,
        "equal": equal / total,
        "max_diff": worst,
    }


#: a small launcher between this (large) process and the one measured: Linux keeps a process's peak RSS
#: across exec, so a child forked from a process holding torch and OpenVINO would report the parent's
LAUNCH = (
    "import os, sys\n"
    "pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "print(f'maxrss_kb {usage.ru_maxrss}', flush=True)\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def enhance(clip: Path, name: str, out: Path, env: dict, engine_name: str) -> dict:
    """``bench enhance`` as a whole process: wall seconds from spawn to exit, and its own peak RSS."""
    cmd = [sys.executable, "-m", "benchmark.cli", "enhance", str(clip), "-m", name, "-o", str(out), "-q", "-f"]
    wall, rss, text = launched(cmd + ["--engine", engine_name], env)
    return {"wall_s": wall, "rss_mb": rss, "said": [x for x in text.splitlines() if x.startswith("engine:")]}


def launched(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """``cmd`` through :data:`LAUNCH`: (wall seconds, its own peak RSS in MB, what it printed)."""
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-S", "-c", LAUNCH, *cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stdout[-2000:]}")
    rss = [int(x.split()[1]) for x in p.stdout.splitlines() if x.startswith("maxrss_kb ")]
    return wall, rss[-1] / 1024, "\n".join(x for x in p.stdout.splitlines() if not x.startswith("maxrss_kb "))


def networks_section(names: list[str], limit: int, repeats: int, tmp: Path) -> None:
    print(
        f"\n== networks: forward only and bench enhance end to end ({load()}, torch threads: "
        f"{os.environ.get('OMP_NUM_THREADS', 'default')}, {os.cpu_count()} CPUs)",
        flush=True,
    )
    print(
        f"{'network':11} {'input':>9} {'b':>2} {'frames':>6} {'eager f/s':>9} {'engine f/s':>10} {'x eager':>7} "
        f"{'equal':>9} {'max':>3} | {'enh cold':>8} {'enh warm':>8} {'x eager':>7} {'enh eager':>9} {'RSS MB cold/warm/eager':>22}"
    )
    for name in names:
        clip_name, down, quality, batch, cap = NATURAL[name]
        frames = clip_frames(clip_name, down, quality, None if name == "fast-srgan" else (cap or limit))
        clip = tmp / f"{name}-input.mp4"
        write_clip(frames, clip)
        env = {**os.environ, "BENCH_CACHE_DIR": str(tmp / f"engine-{name}")}
        n = len(frames)
        cold = enhance(clip, name, tmp / "out.mp4", env, "openvino")
        fwd, warm, eager = [], [], []
        for _ in range(repeats):  # in turn, so that a change of the machine's load falls on all of them
            fwd.append(forward_speeds(name, frames, batch, tmp / "forward-engine"))
            warm.append(enhance(clip, name, tmp / "out.mp4", env, "openvino"))
            eager.append(enhance(clip, name, tmp / "out.mp4", env, "eager"))
        med = statistics.median
        e_fps, o_fps = med(f["eager_fps"] for f in fwd), med(f["engine_fps"] for f in fwd)
        print(
            f"{name:11} {fwd[0]['size']:>9} {batch:>2} {n:>6} {e_fps:9.2f} {o_fps:10.2f} "
            f"{med(f['engine_fps'] / f['eager_fps'] for f in fwd):7.2f} {min(f['equal'] for f in fwd):9.6f} "
            f"{max(f['max_diff'] for f in fwd):3d} | {n / cold['wall_s']:8.2f} {med(n / w['wall_s'] for w in warm):8.2f} "
            f"{med(n / w['wall_s'] / f['eager_fps'] for w, f in zip(warm, fwd)):7.2f} "
            f"{med(n / e['wall_s'] for e in eager):9.2f} "
            f"{cold['rss_mb']:8.0f}/{max(w['rss_mb'] for w in warm):.0f}/{max(e['rss_mb'] for e in eager):.0f}",
            flush=True,
        )
        for said in sorted({x for r in [cold, *warm] for x in r["said"]}):
            print(f"    {said}")
    print(
        f"({load()}; medians of {repeats} turns; enh: frames over the whole process's wall seconds; cold: a fresh engine "
        "cache, once; x eager: enh warm over the eager forward-only frames/s of the same turn)"
    )


def run_section(repeats: int, tmp: Path) -> None:
    import pandas as pd
    from vs_plain_loop import JOB, LOOP, model_files

    root = os.environ.get("BENCH_DATA_ROOT")
    if not root:
        print("\n== bench run: skipped (set BENCH_DATA_ROOT: images/LIVE1, images/CBSD68)")
        return
    niqe_mat, brisque_pt = model_files(tmp)
    loop_py = tmp / "plain_loop.py"
    loop_py.write_text(LOOP)
    bench = [str(Path(sys.executable).with_name("bench")), *JOB]
    variants = {
        "hand loop": lambda i: [sys.executable, str(loop_py), root, niqe_mat, brisque_pt, "0"],
        "bench run": lambda i: bench + ["-o", str(tmp / f"default-{i}")],
        "bench run --workers 1": lambda i: bench + ["--workers", "1", "-o", str(tmp / f"one-{i}")],
    }
    print(f"\n== bench run, 97 images, psnr,ssim,niqe,brisque, cold, whole process ({load()})", flush=True)
    times: dict[str, list[float]] = {k: [] for k in variants}
    for i in range(repeats):
        for name, cmd in variants.items():
            dt, mb, text = launched(cmd(i), dict(os.environ))
            last = ([x for x in text.splitlines() if x.strip()] or [""])[-1]
            times[name].append(dt)
            print(f"  {i + 1} {name:22} {dt:6.1f} s  peak RSS {mb:5.0f} MB  {last[:90]}", flush=True)
    loop = statistics.median(times["hand loop"])
    for name, ts in times.items():
        print(f"{name:22} median {statistics.median(ts):6.1f} s   loop/this {loop / statistics.median(ts):5.2f}")
    a = pd.read_csv(tmp / "default-0" / "scores.csv")
    b = pd.read_csv(tmp / "one-0" / "scores.csv")
    keep = [c for c in a.columns if c not in ("run_id", "elapsed_s")]
    a, b = a[keep], b[keep]
    a.loc[a.metric == "fps", "value"] = b.loc[b.metric == "fps", "value"] = 0.0
    same = len(a) == len(b) and a.reset_index(drop=True).equals(b.reset_index(drop=True))
    print(f"rows of the default against --workers 1: {len(a)} and {len(b)}, {'the same' if same else 'DIFFERENT'}")
    import json

    print("the default's executor:", json.loads((tmp / "default-0" / "manifest.json").read_text()).get("executor"))
    print(f"({load()})")


def one_core_section(before: Path, repeats: int, tmp: Path) -> None:
    from rows_unchanged import import_root

    sides = {
        "before": import_root(before.resolve(), tmp),
        "after": import_root(Path(__file__).resolve().parent.parent, tmp),
    }
    site = [p for p in sys.path if p.endswith("site-packages")]
    print(f"\n== the README's default job (bench run, no arguments), cold cache, taskset -c 0 ({load()})", flush=True)
    times: dict[str, list[float]] = {k: [] for k in sides}
    for i in range(repeats):
        for side, root in sides.items():
            env = {
                **os.environ,
                "PYTHONPATH": os.pathsep.join([str(root), *site]),
                "BENCH_CACHE_DIR": str(tmp / f"cache-{side}-{i}"),
            }
            cmd = [
                "taskset",
                "-c",
                "0",
                sys.executable,
                "-S",
                "-m",
                "benchmark.cli",
                "run",
                "-q",
                "-o",
                str(tmp / f"readme-{side}-{i}"),
            ]
            t0 = time.perf_counter()
            p = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp)
            dt = time.perf_counter() - t0
            if p.returncode != 0:
                raise SystemExit(f"{side} failed:\n{p.stdout[-1500:]}\n{p.stderr[-1500:]}")
            times[side].append(dt)
            print(f"  {i + 1} {side:6} {dt:6.1f} s", flush=True)
    b, a = statistics.median(times["before"]), statistics.median(times["after"])
    print(f"median before {b:.1f} s, after {a:.1f} s: after/before {a / b:.2f} ({load()})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", choices=list(NATURAL), help="a network (repeatable; default: all)")
    ap.add_argument("--frames", type=int, default=32, help="frames per clip (fast-srgan: all 250 of bikes)")
    ap.add_argument("--repeats", type=int, default=2, help="runs of each bench run variant")
    ap.add_argument("--skip-networks", action="store_true")
    ap.add_argument("--skip-run", action="store_true")
    ap.add_argument(
        "--one-core-before", type=Path, help="an older checkout: the README's default job on one core, before and after"
    )
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="engine-speed-") as t:
        tmp = Path(t)
        if not a.skip_networks:
            networks_section(a.only or list(NATURAL), a.frames, a.repeats, tmp)
        if not a.skip_run:
            run_section(a.repeats, tmp)
        if a.one_core_before:
            one_core_section(a.one_core_before, a.repeats, tmp)


if __name__ == "__main__":
    main()
