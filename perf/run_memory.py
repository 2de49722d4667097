"""Peak RSS of a whole `bench run` on N items against 10N items: memory must stay flat in
the number of items (rows are streamed to disk, frames released after scoring).

    python perf/run_memory.py                    # N = 20 and 200 photos of 512x384
    python perf/run_memory.py --n 10 --size 768x512 --metrics psnr,ssim,niqe,brisque

Writes a folder of N generated photo-like PNGs (smooth fields plus texture and noise, each
different) and one of 10N, runs ``bench run -m identity -d FOLDER@qf20 --metrics ...
--no-cache -q`` on each in its own process, alternately, ``--repeats`` times, and prints
each process's peak RSS (``os.wait4``'s rusage of that child), wall time and the ratio
10N / N of the peak RSS (the target: within 1.2).

    python perf/run_memory.py --forward srgan --size 512x512

One method's first forward pass instead, in a process of its own: the method is made and set
up (weights loaded), the kernel's peak RSS mark is reset (``/proc/self/clear_refs``), one
generated frame of that size goes through ``Method.process``, and the peak RSS above the level
just before the call is printed (``peak RSS increase: N MiB``, and as JSON with ``--json``):
what ``perf/cost_memory.py`` compares a run's ``peak-mem`` row with.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_folder(d: Path, n: int, w: int, h: int) -> None:
    import numpy as np
    from PIL import Image

    d.mkdir(parents=True)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    for i in range(n):
        rng = np.random.default_rng(i)
        f = rng.uniform(5, 40, 6)
        img = np.stack([128 + 70 * np.sin(x / f[k] + i) * np.cos(y / f[k + 3] - k) for k in range(3)], 2)
        img += rng.normal(0, 8, img.shape).astype(np.float32)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(d / f"img{i:05d}.png")


def run(cmd: list[str]) -> tuple[float, float]:
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{out[-2000:]}")
    return time.perf_counter() - t, ru.ru_maxrss / 1024


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def forward_peak(method_name: str, w: int, h: int, device: str) -> dict:
    """In this process: the peak RSS increase of ``method_name``'s first ``process`` call on one
    generated ``h`` x ``w`` RGB frame, after its setup (the ``--forward`` mode; Linux)."""
    import numpy as np

    from benchmark.api import Context
    from benchmark.run.resolve import make_method

    method = make_method(method_name)
    method.setup(device)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    frame = np.clip(
        np.stack([128 + 70 * np.sin(x / (9 + k) + k) * np.cos(y / (13 + k)) for k in range(3)], 2)
        + rng.normal(0, 8, (h, w, 3)),
        0,
        255,
    ).astype(np.uint8)
    ctx = Context(scale=method.scale or 1, device=device)
    method.start_clip(ctx)
    with open(
        "/proc/self/clear_refs", "w"
    ) as f:  # the high-water mark from here on: loading the weights is not the call
        f.write("5")
    before = _status_kb("VmRSS")
    t = time.perf_counter()
    method.process([frame], ctx)
    seconds = time.perf_counter() - t
    peak = _status_kb("VmHWM")
    return {
        "method": method_name,
        "size": f"{w}x{h}",
        "device": device,
        "rss_before_mib": before / 1024,
        "peak_rss_increase_mib": (peak - before) / 1024,
        "seconds": seconds,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--size", default="512x384", help="WxH of the generated photos")
    ap.add_argument("--metrics", default="psnr,ssim,niqe,brisque")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--bench", default=str(Path(sys.executable).with_name("bench")))
    ap.add_argument(
        "--forward", metavar="METHOD", help="measure one forward pass of METHOD on one frame of --size instead"
    )
    ap.add_argument("--device", default="cpu", help="with --forward")
    ap.add_argument("--json", action="store_true", help="with --forward: print the result as one JSON line")
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.split("x"))
    if a.forward:
        r = forward_peak(a.forward, w, h, a.device)
        print(
            json.dumps(r)
            if a.json
            else f"{r['method']} on {r['size']} ({r['device']}): peak RSS increase {r['peak_rss_increase_mib']:.1f} MiB "
            f"above {r['rss_before_mib']:.1f} MiB, {r['seconds']:.2f} s"
        )
        return
    tmp = Path(tempfile.mkdtemp(prefix="runmem-"))
    try:
        sizes = (a.n, 10 * a.n)
        for n in sizes:
            make_folder(tmp / f"set{n}", n, w, h)
        peaks: dict[int, list[float]] = {n: [] for n in sizes}
        for r in range(a.repeats):
            for n in sizes:
                cmd = [
                    a.bench,
                    "run",
                    "-m",
                    "identity",
                    "-d",
                    f"{tmp / f'set{n}'}@qf20",
                    "--metrics",
                    a.metrics,
                    "--no-cache",
                    "-q",
                    "-o",
                    str(tmp / f"run{n}-{r}"),
                ]
                dt, mb = run(cmd)
                peaks[n].append(mb)
                print(f"  {n:5} items of {w}x{h}: {dt:7.1f} s, peak RSS {mb:7.1f} MB", flush=True)
        lo, hi = max(peaks[sizes[0]]), max(peaks[sizes[1]])
        print(
            f"peak RSS: {sizes[0]} items {lo:.1f} MB, {sizes[1]} items {hi:.1f} MB, ratio {hi / lo:.3f} (target <= 1.2)"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
