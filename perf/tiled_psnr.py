"""PSNR of the built-in networks tiled (a small forced ``tile=``) against untiled, for
``perf/tiled_memory.py --psnr``: ``srgan`` and ``srresnet`` on Set5 x4, ``ssim`` and
``gan`` on LIVE1 QF10 (``$BENCH_DATA_ROOT``). PSNR is over RGB (and BT.601 Y), the border of
``scale`` pixels cropped as ``bench run`` does; the mean over the set of each, and the largest
per-image difference in grey levels between the two outputs."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

#: (data set, [methods], forced tile in input pixels)
CASES = [("set5-x4", ["srgan", "srresnet"], 48), ("live1-qf10", ["ssim", "gan"], 128)]


def pairs(name: str):
    """(reference, degraded input) of each image of data set ``name``, as a run scores them."""
    from benchmark.core.names import resolve

    root = os.environ.get("BENCH_DATA_ROOT")
    spec = resolve(name, Path(root) if root else None)
    s = spec.scale
    for item in spec.dataset.items():
        ref = next(iter(item.frames()))
        ref = np.ascontiguousarray(ref[: ref.shape[0] - ref.shape[0] % s, : ref.shape[1] - ref.shape[1] % s])
        x = ref
        for d in spec.chain:
            x = d.apply(x)
        yield ref, x


def psnr_table() -> None:
    from benchmark.api import Context
    from benchmark.metrics.fidelity import PSNR, PSNRY
    from benchmark.run.runner import make_method

    print(
        f"{'set':<12} {'method':<10} {'tile':>5} {'PSNR untiled':>13} {'tiled':>8} {'diff dB':>8} "
        f"{'PSNR-Y untiled':>15} {'tiled':>8} {'diff dB':>8} {'max grey diff':>14} {'s untiled/tiled':>16}"
    )
    for name, methods, tile in CASES:
        data = list(pairs(name))
        for method in methods:
            whole, tiled = make_method(method), make_method(f"{method}:tile={tile}")
            whole.setup("cpu")
            tiled.setup("cpu")
            scores = {"w": [], "t": [], "wy": [], "ty": []}
            secs, diff = [0.0, 0.0], 0
            for ref, x in data:
                ctx = Context(scale=whole.scale)
                outs = []
                for i, m in enumerate((whole, tiled)):
                    t0 = time.perf_counter()
                    outs.append(m.process([x], ctx)[0])
                    secs[i] += time.perf_counter() - t0
                border = whole.scale if whole.scale > 1 else 0
                for k, o in zip("wt", outs):
                    scores[k].append(PSNR().score(o, ref, border))
                    scores[k + "y"].append(PSNRY().score(o, ref, border))
                diff = max(diff, int(np.abs(outs[0].astype(np.int16) - outs[1]).max()))
            w, t, wy, ty = (float(np.mean(scores[k])) for k in ("w", "t", "wy", "ty"))
            print(
                f"{name:<12} {method:<10} {tile:>5} {w:>13.3f} {t:>8.3f} {t - w:>+8.3f} {wy:>15.3f} {ty:>8.3f} {ty - wy:>+8.3f} "
                f"{diff:>14} {secs[0]:>7.1f}/{secs[1]:<8.1f}",
                flush=True,
            )
