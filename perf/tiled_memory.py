"""Peak memory of a published model on one 3840x2160 frame, whole and in tiles.

A tiny-but-not-trivial x2 model (Real-ESRGAN's SRVGGNetCompact architecture, 24 features, 6
convolutions, random weights, saved as safetensors and loaded through spandrel like any
published file) restores one 3840x2160 frame to 7680x4320 in a fresh process per setting:
whole (``tile=0``), fixed tiles (``tile=512``), and automatic tiles under a memory budget
(``--budget-mb``: the tile is chosen from the budget and the model's estimated bytes per pixel,
as ``tile=auto`` does from the free memory). It prints seconds, the tile used and the peak RSS
(``wait4``'s ``ru_maxrss``) beside the RSS before inference (the interpreter, torch, the model
and the input frame); the whole-frame run is the baseline, and the tiled outputs'
largest difference from it (grey levels) shows the blending is seamless.

    python perf/tiled_memory.py                 # the three settings
    python perf/tiled_memory.py --budget-mb 512 --threads 2

``--builtin`` measures a built-in network instead, tiled through its own restore path
(methods/adapters/tiled.py): ``srgan`` (x4) on a 1024x1024 input whole (``tile=0``) and under the
budget, and on a 4096x4096 input under the budget (whole it would need ~70 GB). ``--psnr``
prints the PSNR of tiled (a small forced ``tile=``) against untiled outputs of ``srgan`` and
``srresnet`` on Set5 x4 and ``ssim`` and ``gan`` on LIVE1 QF10 (perf/tiled_psnr.py).

    python perf/tiled_memory.py --builtin --budget-mb 1024 --threads 2
    python perf/tiled_memory.py --builtin --default-budget --threads 2   # as `bench run` does
    BENCH_DATA_ROOT=../shared/data python perf/tiled_memory.py --psnr

Each child runs under an address-space limit (``--limit-gb``) so a setting that needs more
memory than the machine can spare fails alone instead of starving other processes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys, time
import numpy as np, torch
torch.set_num_threads(int(sys.argv[4]))
from benchmark.core import memory as pub
from benchmark.run.runner import make_method
if sys.argv[3] != "none":  # automatic tiles under this budget instead of the free memory
    pub.memory_budget = lambda device: float(sys.argv[3]) * 2**20
m = make_method(sys.argv[1])
m.setup("cpu")
x, y = np.arange(3840, dtype=np.float32)[None], np.arange(2160, dtype=np.float32)[:, None]
frame = np.empty((2160, 3840, 3), np.uint8)
for c, f in enumerate((np.sin(x / 37) * np.cos(y / 23), np.cos((x + y) / 51), np.sin(x / 11 + y / 17))):
    frame[:, :, c] = np.clip(128 + 100 * f, 0, 255)
import resource
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
out = m.restore([frame])[0]
seconds = time.perf_counter() - t0
np.save(sys.argv[2], out)
print(json.dumps({"seconds": seconds, "before_mb": before, "tile": m.choose_tile(1, 2160, 3840), "shape": list(out.shape),
                  "bytes_per_pixel": m.bytes_per_pixel() if m.tile is None else None}))
"""


BUILTIN = r"""
import json, sys, time
import numpy as np, torch
torch.set_num_threads(int(sys.argv[5]))
from benchmark.core import memory as pub
from benchmark.api import Context
from benchmark.run.runner import make_method
if sys.argv[4] != "none":  # automatic tiles under this budget instead of the free memory
    pub.memory_budget = lambda device: float(sys.argv[4]) * 2**20
side = int(sys.argv[2])
m = make_method(sys.argv[1])
m.setup("cpu")
x, y = np.arange(side, dtype=np.float32)[None], np.arange(side, dtype=np.float32)[:, None]
frame = np.empty((side, side, 3), np.uint8)
for c, f in enumerate((np.sin(x / 37) * np.cos(y / 23), np.cos((x + y) / 51), np.sin(x / 11 + y / 17))):
    frame[:, :, c] = np.clip(128 + 100 * f, 0, 255)
import resource
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
out = m.process([frame], Context(scale=m.scale))[0]
seconds = time.perf_counter() - t0
np.save(sys.argv[3], out)
cost = lambda: m.tiling.bytes_per_pixel(m.model, m.model, "cpu")
print(json.dumps({"seconds": seconds, "before_mb": before, "tile": m.tiling.choose(1, side, side, cost, "cpu"), "shape": list(out.shape)}))
"""


def measure_builtin(spec: str, side: int, out: Path, budget_mb: float | None, threads: int, limit_gb: float) -> dict:
    """One built-in network on one ``side`` x ``side`` frame in a fresh process (as :func:`measure`)."""
    return measure(spec, out, budget_mb, threads, limit_gb, [BUILTIN, spec, str(side)])


def builtin_table(a) -> None:
    """``srgan`` (a built-in network, tiled through its own restore path) at 1024 and 4096."""
    import numpy as np

    budget_mb = None if a.default_budget else a.budget_mb
    under = (
        "the default budget (benchmark/core/memory.py: memory_budget)"
        if budget_mb is None
        else f"a {budget_mb:.0f} MB budget"
    )
    print(f"srgan x4, synthetic frames, CPU, {a.threads} torch thread(s); auto = tiles chosen under {under}")
    print(
        f"{'input':<10} {'setting':<24} {'tile':>6} {'seconds':>8} {'RSS before MB':>14} {'peak RSS MB':>12} {'max diff vs whole':>18}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for side in a.sides:
            ref = None
            settings = ([("whole frame (tile=0)", "srgan:tile=0", None)] if side <= a.whole_up_to else []) + [
                ("auto (budget)", "srgan", budget_mb)
            ]
            for i, (label, spec, budget) in enumerate(settings):
                path = Path(tmp) / f"b{side}_{i}.npy"
                r = measure_builtin(spec, side, path, budget, a.threads, a.limit_gb)
                if "error" in r:
                    print(f"{side:<10} {label:<24} {'':>6} {'':>8} {'':>14} {r['rss_mb']:>12.0f}  failed: {r['error']}")
                    continue
                out = np.load(path, mmap_mode="r")
                diff = (
                    "baseline"
                    if spec.endswith("tile=0")
                    else ("-" if ref is None else f"{int(np.abs(out.astype(np.int16) - ref).max())} grey level(s)")
                )
                ref = np.array(out) if spec.endswith("tile=0") else ref
                print(
                    f"{side:<10} {label:<24} {r['tile'] or 'none'!s:>6} {r['seconds']:>8.1f} {r['before_mb']:>14.0f} {r['rss_mb']:>12.0f} {diff:>18}",
                    flush=True,
                )


def make_model(path: Path) -> None:
    import torch
    from safetensors.torch import save_file
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(0)
    net = Compact(num_feat=24, num_conv=6, upscale=2)
    for p in net.parameters():
        p.data.mul_(0.5)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))


def measure(
    spec: str, out: Path, budget_mb: float | None, threads: int, limit_gb: float, child: list[str] | None = None
) -> dict:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (int(limit_gb * 2**30), int(limit_gb * 2**30)))

    cmd = [
        sys.executable,
        "-c",
        *(child or [CHILD, spec]),
        str(out),
        "none" if budget_mb is None else str(budget_mb),
        str(threads),
    ]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=limit)
    _, status, usage = os.wait4(p.pid, 0)
    text = p.stdout.read()
    rss = usage.ru_maxrss / 1024
    if os.waitstatus_to_exitcode(status) != 0:
        return {"error": text.strip().splitlines()[-1] if text.strip() else f"exit {status}", "rss_mb": rss}
    return {**json.loads(text.strip().splitlines()[-1]), "wall_s": time.perf_counter() - t0, "rss_mb": rss}


def main() -> None:
    import numpy as np

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tile", type=int, default=512, help="the fixed tile setting")
    ap.add_argument("--budget-mb", type=float, default=1024, help="memory budget for the automatic setting")
    ap.add_argument(
        "--default-budget", action="store_true", help="--builtin: auto tiles under the default budget, not --budget-mb"
    )
    ap.add_argument("--threads", type=int, default=1, help="torch threads in each child")
    ap.add_argument("--limit-gb", type=float, default=14, help="address-space limit of each child")
    ap.add_argument(
        "--builtin", action="store_true", help="srgan (a built-in network) at --sides instead of the published model"
    )
    ap.add_argument("--sides", type=int, nargs="+", default=[1024, 4096], help="input sides for --builtin")
    ap.add_argument(
        "--whole-up-to", type=int, default=1024, help="--builtin: also run untiled (tile=0) up to this side"
    )
    ap.add_argument(
        "--psnr", action="store_true", help="PSNR of tiled vs untiled built-in networks on Set5 x4 and LIVE1 QF10"
    )
    a = ap.parse_args()
    if a.builtin or a.psnr:
        if a.builtin:
            builtin_table(a)
        if a.psnr:
            import torch
            from tiled_psnr import psnr_table

            torch.set_num_threads(a.threads)
            psnr_table()
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = tmp / "compact_x2.safetensors"
        make_model(model)
        settings = [
            ("whole frame (tile=0)", f"{model}:tile=0", None),
            (f"tile={a.tile}", f"{model}:tile={a.tile}", None),
            (f"auto, {a.budget_mb:.0f} MB budget", str(model), a.budget_mb),
        ]
        print(
            f"3840x2160 -> 7680x4320, SRVGGNetCompact x2 (24 features, 6 convs) via spandrel, CPU, {a.threads} torch thread(s)"
        )
        print(
            f"{'setting':<26} {'tile':>6} {'seconds':>8} {'RSS before MB':>14} {'peak RSS MB':>12} {'max diff vs whole':>18}"
        )
        ref = None
        for i, (label, spec, budget) in enumerate(settings):
            r = measure(spec, tmp / f"out{i}.npy", budget, a.threads, a.limit_gb)
            if "error" in r:
                print(f"{label:<26} {'':>6} {'':>8} {'':>14} {r['rss_mb']:>12.0f}  failed: {r['error']}")
                continue
            out = np.load(tmp / f"out{i}.npy")
            if ref is None and spec.endswith("tile=0"):
                ref = out
            diff = (
                "baseline"
                if out is ref
                else ("-" if ref is None else f"{int(np.abs(out.astype(np.int16) - ref).max())} grey level(s)")
            )
            print(
                f"{label:<26} {r['tile'] or 'none'!s:>6} {r['seconds']:>8.1f} {r['before_mb']:>14.0f} {r['rss_mb']:>12.0f} {diff:>18}"
            )
            if r.get("bytes_per_pixel"):
                print(f"{'':<26} estimated {r['bytes_per_pixel']:.0f} bytes per input pixel")


if __name__ == "__main__":
    main()
