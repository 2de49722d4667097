"""Seconds per 768x512 image of the JPEG artifact-removal methods (``ssim``, ``gan``: QF
prediction + generator), against the 1 s budget, with ``identity`` measured in the same run as
the baseline (the cost of the call itself).

    python perf/artifact_speed.py [--repeats 5] [--methods ssim,ssim:self_ensemble=1,gan,identity]

Input: scikit-image's astronaut resized to 768x768 and cropped to 768x512,
JPEG QF10. Each method processes the image alone (batch 1); the figure is the best of
``--repeats`` calls of Method.process, on this machine's CPU threads. The QF predictor's share is
printed separately.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--methods", default="ssim,ssim:self_ensemble=1,gan,identity")
    a = ap.parse_args()

    import cv2
    import torch
    from skimage import data

    from benchmark.api import Context
    from benchmark.methods.networks import predict_qf
    from benchmark.methods.training.galteri import jpeg
    from benchmark.run.runner import make_method

    img = cv2.resize(data.astronaut(), (768, 768), interpolation=cv2.INTER_AREA)[128:640]
    x = jpeg(img, 10)
    ctx = Context(scale=1, degradation="qf10", kind="image")
    print(f"768x512 JPEG QF10, torch threads {torch.get_num_threads()}, budget 1 s per image")
    width = max(len(n) for n in a.methods.split(",") + ["method"])
    print(f"{'method':{width}s} {'s/image':>8s} {'vs 1 s':>7s} {'QF predictor s':>15s}")
    for name in a.methods.split(","):
        m = make_method(name)
        m.setup("cpu")
        m.process([x], ctx)  # warm up
        best = float("inf")
        for _ in range(a.repeats):
            t = time.perf_counter()
            out = m.process([x], ctx)
            best = min(best, time.perf_counter() - t)
        assert out[0].shape == x.shape
        pred = ""
        if getattr(m, "predictor", None) is not None:
            pbest = float("inf")
            for _ in range(a.repeats):
                t = time.perf_counter()
                predict_qf(m.predictor, x)
                pbest = min(pbest, time.perf_counter() - t)
            pred = f"{pbest:.3f}"
        print(f"{name:{width}s} {best:8.3f} {best:6.2f}x {pred:>15s}")


if __name__ == "__main__":
    main()
