"""SSIM: bench's separable-filter implementation against the scikit-image one it replaced,
on the same images in the same run (values and time).

    BENCH_DATA_ROOT=../shared/data python perf/ssim_speed.py [--repeat 3]

Prints images/s of each, the ratio (target >= 3x) and the largest difference of the values
(target <= 1e-6), for RGB SSIM and SSIM on Y.
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    from benchmark.core.imaging import rgb_to_y
    from benchmark.core.names import resolve
    from benchmark.degradations.jpeg import JPEG
    from benchmark.metrics.fidelity import _ssim, _ssim_skimage

    root = os.environ.get("BENCH_DATA_ROOT")
    from pathlib import Path

    spec = resolve("live1" if root else "photos", Path(root) if root else None)
    refs = [next(i.frames()) for i in spec.dataset.items()]
    pairs = [(JPEG(20).apply(r), r) for r in refs]
    y = lambda x: rgb_to_y(x)[:, :, None]  # noqa: E731
    print(
        f"{len(pairs)} {'LIVE1' if root else 'embedded'} images, JPEG QF20, {pairs[0][0].shape[1]}x{pairs[0][0].shape[0]} first"
    )
    for label, conv in (("ssim (RGB)", None), ("ssim-y", y)):
        t = {"bench": [], "skimage": []}
        diff = 0.0
        for _ in range(a.repeat):
            for name, fn in (("bench", _ssim), ("skimage", _ssim_skimage)):
                t0 = time.perf_counter()
                vals = [fn(o, r, conv) for o, r in pairs]
                t[name].append(time.perf_counter() - t0)
                if name == "bench":
                    new = vals
                else:
                    diff = max(diff, max(abs(p - q) for p, q in zip(new, vals)))
        b, s = min(t["bench"]), min(t["skimage"])
        print(
            f"{label:<11} bench {len(pairs) / b:6.1f} img/s   skimage {len(pairs) / s:6.1f} img/s   {s / b:.2f}x   max |diff| {diff:.2e}"
        )


if __name__ == "__main__":
    main()
