"""Scale on paper: what a COCO-val-size run takes, from unit costs measured here.

Runs (or reads) a measurement on the shared COCO subset -- methods x coco-qf10 with NR and
detection metrics, cold cache -- takes the measured seconds per unit and per megapixel of
each method from the cache's costs.json, and prints what 5,000 images x 6 QFs x 10 methods
would take on 1, 8 and 64 workers (each worker one core, the measured --workers 2
efficiency applied, the corpus evaluation and start-up added).

    BENCH_DATA_ROOT=../shared/data python perf/paper_estimate.py --detector ../shared/weights/yolov8n_int8_openvino_model
    python perf/paper_estimate.py --costs CACHE/costs.json     # from an earlier run's cache
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

METHODS = "identity,ssim,gan"
METRICS = "psnr,ssim,niqe,brisque,map50,map"


def measure(detector: str, workers: int, tmp: Path) -> tuple[dict, dict[int, float]]:
    """Cold runs on coco-qf10 serially (1 thread) and with --workers N: costs and wall times."""
    walls = {}
    costs = {}
    for n in (1, workers):
        cache, out = tmp / f"c{n}", tmp / f"o{n}"
        cmd = [
            sys.executable,
            "-m",
            "benchmark.cli",
            "run",
            "-q",
            "-m",
            METHODS,
            "-d",
            "coco-qf10",
            "--metrics",
            METRICS,
            "--detector",
            detector,
            "--cache-dir",
            str(cache),
            "-o",
            str(out),
        ] + (["--workers", str(n)] if n > 1 else [])
        env = None
        if n == 1:
            import os

            env = {**os.environ, "OMP_NUM_THREADS": "1"}  # one core, as each worker has
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        walls[n] = time.perf_counter() - t0
        if n == 1:
            costs = json.loads((cache / "costs.json").read_text())
            m = json.loads((out / "manifest.json").read_text())
            walls["corpus"] = walls[1] - m["timings"]["execute_s"] - m["timings"]["plan_s"]
    return costs, walls


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--costs", help="costs.json of an earlier run's cache (skip the measurement)")
    ap.add_argument("--detector", default="yolov8n.pt")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--qfs", type=int, default=6)
    ap.add_argument("--methods", type=int, default=10)
    ap.add_argument("--megapixels", type=float, default=0.275, help="mean image size (COCO val: ~0.27 MP)")
    a = ap.parse_args()
    eff, overhead = 1.0, 0.0
    if a.costs:
        costs = json.loads(Path(a.costs).read_text())
        print(f"unit costs from {a.costs}; no parallel efficiency measured (taken as 1)")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            costs, walls = measure(a.detector, a.workers, Path(tmp))
        eff = walls[1] / walls[a.workers] / a.workers
        overhead = max(0.0, walls["corpus"])
        print(
            f"coco-qf10 (125 images) x {METHODS} x {METRICS}: 1 worker (1 thread) {walls[1]:.1f} s, "
            f"--workers {a.workers} {walls[a.workers]:.1f} s -> parallel efficiency {eff:.2f}; start-up + corpus {overhead:.1f} s"
        )
    print(f"{'method':<10} {'units':>6} {'s/unit':>8} {'s/MP':>8}")
    per_mp = []
    for rec in costs.values():
        spm = rec["px_seconds"] / (rec["pixels"] / 1e6) if rec.get("pixels") else float("nan")
        per_mp.append(spm)
        print(f"{rec['method']:<10} {rec['units']:>6} {rec['seconds'] / rec['units']:8.3f} {spm:8.3f}")
    mean_spm = sum(per_mp) / len(per_mp)
    units = a.images * a.qfs * a.methods
    unit_s = mean_spm * a.megapixels
    total = units * unit_s
    print(
        f"\n{a.images} images x {a.qfs} QFs x {a.methods} methods = {units:,} units of ~{unit_s:.2f} s "
        f"(the measured methods' mean {mean_spm:.2f} s/MP at {a.megapixels} MP; 10 methods as costly as these on average)"
    )
    print(f"{'workers':>8} {'hours':>8}")
    for n in (1, 8, 64):
        t = total / (n * (eff if n > 1 else 1.0)) + overhead * a.qfs * a.images / 125
        print(f"{n:>8} {t / 3600:8.1f}")


if __name__ == "__main__":
    main()
