"""Is the planner or the writer a bottleneck? A simulated run of thousands of cheap units
(tiny images, identity, PSNR) on the serial executor and on local worker processes.

Prints, per executor: units, wall time of the whole process, the driver's planning time,
the time inside units (measured in the workers), and what the driver spent per unit on
everything else (dispatch, result handling, the single writer). The planner and writer
are not the bottleneck when that per-unit overhead is small against a real unit (tens of
milliseconds to seconds: see docs/scaling.md).

    python perf/plan_scale.py [--units 3000] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--units", type=int, default=3000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    from benchmark.core.imaging import write_png

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "tiny"
        d.mkdir()
        rng = np.random.default_rng(0)
        for i in range(args.units):
            write_png(d / f"{i:05d}.png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
        print(f"{args.units} units: {args.units} 16x16 images x identity x psnr, cold cache each time")
        print(
            f"{'executor':<12} {'wall s':>8} {'plan s':>8} {'exec s':>8} {'in units s':>11} {'driver ms/unit':>15} {'units/s':>9}"
        )
        for name, extra in (("serial", []), (f"workers {args.workers}", ["--workers", str(args.workers)])):
            out, cache = Path(tmp) / f"o-{len(extra)}", Path(tmp) / f"c-{len(extra)}"
            t0 = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmark.cli",
                    "run",
                    "-q",
                    "-m",
                    "identity",
                    "-d",
                    f"{d}@qf20",
                    "--metrics",
                    "psnr",
                    "-o",
                    str(out),
                    "--cache-dir",
                    str(cache),
                    *extra,
                ],
                check=True,
                capture_output=True,
            )
            wall = time.perf_counter() - t0
            t = json.loads((out / "manifest.json").read_text())["timings"]
            per_worker = t["unit_s"] / (args.workers if extra else 1)  # units run side by side on the workers
            driver = max(0.0, t["execute_s"] - per_worker) / args.units * 1e3
            print(
                f"{name:<12} {wall:8.1f} {t['plan_s']:8.2f} {t['execute_s']:8.1f} {t['unit_s']:11.1f} {driver:15.2f} {args.units / wall:9.0f}"
            )


if __name__ == "__main__":
    main()
