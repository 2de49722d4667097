"""A run's ``peak-mem`` row against the peak RSS increase that ``perf/run_memory.py``
measures in a process of its own (issue 35's target: within 20%).

    python perf/cost_memory.py                          # srgan on a 512x512 input, CPU
    python perf/cost_memory.py --method fast-srgan --size 640x360 --repeats 3

Each repeat, alternately:

* ``bench run -m METHOD -d FOLDER@xS --metrics psnr --no-cache -q`` on one generated photo of
  S x the input size (so the method sees one frame of ``--size``), in its own process; its
  ``peak-mem`` row (MiB, scope ``dataset``) is the run's own measurement (peak RSS above the level
  before the call, heap trimmed, sampled and VmHWM: benchmark/run/measure.py);
* ``python perf/run_memory.py --forward METHOD --size WxH --json``: a fresh process that
  sets the method up, resets the kernel's peak RSS mark and reads it after one ``process`` call.

Prints both per repeat, their medians, the ratio, and the tiling budget of this machine (a
frame too large for it is tiled, and the peak stays near the budget).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def make_photo(path: Path, w: int, h: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([128 + 70 * np.sin(x / (23 + 5 * k) + k) * np.cos(y / (31 + 3 * k)) for k in range(3)], 2)
    img += rng.normal(0, 8, img.shape).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)


def run_peak(bench: str, folder: Path, method: str, scale: int, out: Path, device: str) -> float:
    cmd = [
        bench,
        "run",
        "-m",
        method,
        "-d",
        f"{folder}@x{scale}" if scale > 1 else f"{folder}@qf90",
        "--metrics",
        "psnr",
        "--no-cache",
        "-q",
        "-o",
        str(out),
        "--device",
        device,
        "--cost",
    ]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
    import pandas as pd

    df = pd.read_parquet(out / "scores.parquet")
    row = df[(df.metric == "peak-mem") & (df.method == method)].iloc[0]
    if row.status != "ok":
        raise SystemExit(f"peak-mem row: {row.status}: {row.error}")
    return float(row.value)


def forward_peak(method: str, size: str, device: str) -> float:
    cmd = [
        sys.executable,
        str(HERE / "run_memory.py"),
        "--forward",
        method,
        "--size",
        size,
        "--device",
        device,
        "--json",
    ]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{p.stderr[-2000:]}")
    return float(json.loads(p.stdout.strip().splitlines()[-1])["peak_rss_increase_mib"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", default="srgan")
    ap.add_argument("--size", default="512x512", help="WxH of the method's input frame")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--bench", default=str(Path(sys.executable).with_name("bench")))
    a = ap.parse_args()
    from benchmark.core.memory import memory_budget
    from benchmark.run.resolve import make_method

    scale = make_method(a.method).scale or 1
    w, h = (int(v) for v in a.size.split("x"))
    tmp = Path(tempfile.mkdtemp(prefix="costmem-"))
    try:
        make_photo(tmp / "set" / "photo.png", w * scale, h * scale)
        runs, forwards = [], []
        for r in range(a.repeats):
            runs.append(run_peak(a.bench, tmp / "set", a.method, scale, tmp / f"run{r}", a.device))
            forwards.append(forward_peak(a.method, a.size, a.device))
            print(
                f"  repeat {r + 1}: bench run peak-mem {runs[-1]:7.1f} MiB   run_memory.py --forward {forwards[-1]:7.1f} MiB",
                flush=True,
            )
        run_m, fwd_m = statistics.median(runs), statistics.median(forwards)
        print(
            f"{a.method} on {a.size} ({a.device}): peak-mem row {run_m:.1f} MiB, run_memory.py {fwd_m:.1f} MiB, "
            f"ratio {run_m / fwd_m:.3f} (target 0.8-1.2); tiling budget here {memory_budget(a.device) / 2**20:.0f} MiB"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
