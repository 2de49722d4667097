"""Peak memory of one metric on one large frame: the strip-wise path against the
whole-frame path (the implementation before strips, which the code still takes for
frames up to ``fidelity.STRIP_PIXELS``), each in a fresh process, in the same run.

    python perf/metric_memory.py                      # 1000, 2000 and 4000 px squares
    python perf/metric_memory.py --sizes 2000 --metrics ssim,niqe --whole-max 2000

Prints, per metric and size, the peak RSS the scoring added (Linux: the peak, VmHWM, is
reset through /proc/self/clear_refs just before scoring; minus the RSS then), the value of both paths and their relative difference, and the ratio
whole / strips. ``--whole-max`` skips the whole-frame path above that side (it needs
several GB at 4000x4000: keep the machine's memory in mind).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CHILD = r"""
import json, sys, time
import numpy as np
from benchmark.registry import metrics
from benchmark.metrics import fidelity
name, side, whole = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
if whole:
    fidelity.STRIP_PIXELS = 1 << 62  # every frame at once: the path before strips
rng = np.random.default_rng(0)
y, x = np.mgrid[0:side, 0:side].astype(np.float32)
ref = np.stack([128 + 60 * np.sin(x / (7 + 3 * k)) * np.cos(y / (11 + 2 * k)) for k in range(3)], 2)
ref = np.clip(ref + rng.normal(0, 6, ref.shape).astype(np.float32), 0, 255).astype(np.uint8)
out = np.clip(ref.astype(np.int16) + rng.integers(-9, 10, ref.shape, dtype=np.int16), 0, 255).astype(np.uint8)
del x, y
m = metrics.get(name)()
m.score(out[:128, :128], ref[:128, :128] if m.kind == "fr" else None)  # imports and model files: not the frame's cost
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])  # kB
before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current RSS
t = time.perf_counter()
v = m.score(out, ref if m.kind == "fr" else None)
dt = time.perf_counter() - t
print(json.dumps({"value": v, "peak_mb": (status("VmHWM") - before) / 1024, "seconds": dt}))
"""


def measure(metric: str, side: int, whole: bool) -> dict:
    p = subprocess.run(
        [sys.executable, "-c", CHILD, metric, str(side), "1" if whole else "0"], capture_output=True, text=True
    )
    if p.returncode != 0:
        return {"error": (p.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,2000,4000", help="square sides in pixels")
    ap.add_argument("--metrics", default="psnr,psnr-y,ssim,ssim-y,niqe,brisque")
    ap.add_argument("--whole-max", type=int, default=2000, help="largest side for the whole-frame path")
    a = ap.parse_args()
    print(
        f"{'metric':8} {'size':>10} {'whole MB':>9} {'strips MB':>9} {'ratio':>6} {'whole s':>8} {'strips s':>8}  rel. diff"
    )
    for metric in a.metrics.split(","):
        for side in (int(s) for s in a.sizes.split(",")):
            new = measure(metric, side, whole=False)
            old = measure(metric, side, whole=True) if side <= a.whole_max else None
            if "error" in new:
                print(f"{metric:8} {side:>5}x{side:<4} strips failed: {new['error']}")
                continue
            if old is None or "error" in old:
                why = "not run (--whole-max)" if old is None else f"failed: {old['error'][:60]}"
                print(
                    f"{metric:8} {side:>5}x{side:<4} {'-':>9} {new['peak_mb']:9.0f} {'-':>6} {'-':>8} {new['seconds']:8.2f}  whole path {why}"
                )
                continue
            rel = abs(new["value"] - old["value"]) / max(abs(old["value"]), 1e-300)
            ratio = old["peak_mb"] / max(new["peak_mb"], 1.0)
            print(
                f"{metric:8} {side:>5}x{side:<4} {old['peak_mb']:9.0f} {new['peak_mb']:9.0f} {ratio:6.1f} {old['seconds']:8.2f} {new['seconds']:8.2f}  {rel:.1e}"
            )
        sys.stdout.flush()


if __name__ == "__main__":
    t0 = time.time()
    main()
    print(f"({time.time() - t0:.0f} s)")
