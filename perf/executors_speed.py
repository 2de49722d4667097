"""Executors on one CPU-bound run, measured in the same script run: serial, --workers 2 and
Ray on this machine (each a whole `bench run` process, cold cache), alternated and repeated.

Prints wall seconds of each process and of its execution phase (manifest timings: Ray's
start-up is outside it), and the ratios: workers 2 against serial (target >= 1.6x) and Ray
against workers 2 (target: within 20%).

    BENCH_DATA_ROOT=../shared/data python perf/executors_speed.py [--repeat 2] [--no-ray] [--detector PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUN = ["-m", "identity", "-d", "live1-qf20", "-d", "cbsd68-qf20", "--metrics", "psnr,ssim,niqe,brisque"]
# with --detector: the CPU-bound example, the COCO subset with three methods, NR and detection metrics
COCO = ["-m", "identity,ssim,gan", "-d", "coco-qf10", "--metrics", "psnr,ssim,niqe,brisque,map50,map"]


def once(tmp: Path, tag: str, run: list[str], extra: list[str]) -> tuple[float, float]:
    out, cache = tmp / f"o-{tag}", tmp / f"c-{tag}"
    t0 = time.perf_counter()
    env = {**os.environ, "RAY_TMPDIR": str(tmp)}  # a Ray of its own: never joins (or leaves files beside) the user's
    subprocess.run(
        [sys.executable, "-m", "benchmark.cli", "run", "-q", *run, "-o", str(out), "--cache-dir", str(cache), *extra],
        check=True,
        capture_output=True,
        env=env,
    )
    wall = time.perf_counter() - t0
    m = json.loads((out / "manifest.json").read_text())
    return wall, m["timings"]["execute_s"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument(
        "--detector",
        help="run the COCO subset with this detector instead (e.g. ../shared/weights/yolov8n_int8_openvino_model)",
    )
    args = ap.parse_args()
    run = COCO + ["--detector", args.detector] if args.detector else RUN
    configs = {"serial": [], "workers 2": ["--workers", "2"]}
    if not args.no_ray:
        configs["ray (local)"] = ["--executor", "ray"]
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeat):
            for name, extra in configs.items():
                times[name].append(once(Path(tmp), f"{name.split()[0]}{r}", run, extra))
    print(f"bench run {' '.join(run)}  (cold cache, median of {args.repeat})")
    print(f"{'executor':<12} {'process s':>10} {'execute s':>10}")
    med = {k: (statistics.median(w for w, _ in v), statistics.median(e for _, e in v)) for k, v in times.items()}
    for k, (w, e) in med.items():
        print(f"{k:<12} {w:10.1f} {e:10.1f}")
    s, w2 = med["serial"], med["workers 2"]
    print(f"workers 2 vs serial: {s[0] / w2[0]:.2f}x (process), {s[1] / w2[1]:.2f}x (execution)   target >= 1.6x")
    if "ray (local)" in med:
        r = med["ray (local)"]
        print(
            f"ray vs workers 2: {w2[0] / r[0]:.2f}x (process), {w2[1] / r[1]:.2f}x (execution)   target >= 0.8x (within 20%)"
        )


if __name__ == "__main__":
    main()
