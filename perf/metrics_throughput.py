"""Throughput of bench's fidelity metrics against calling piq directly on the same images.

    python perf/metrics_throughput.py [--data-root DIR] [--repeat 3]

Uses LIVE1 (JPEG QF20) when a data root is given, else the embedded photos. Prints images per
second for each metric path and the ratio bench / piq (> 1 means bench is faster). Also times a
whole cached `bench run` pass (scores recomputed, inputs read from the cache) per image.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def load_pairs(data_root: str | None):
    from benchmark.core.names import resolve
    from benchmark.degradations.jpeg import JPEG

    spec = resolve("live1" if data_root else "photos", Path(data_root) if data_root else None)
    refs = [next(i.frames()) for i in spec.dataset.items()]
    refs = [r if r.shape[2] == 3 else np.repeat(r, 3, axis=2) for r in refs]
    jpeg = JPEG(20)
    return [(jpeg.apply(r), r) for r in refs]


def timed(fn, pairs, repeat):
    """Images per second, best of `repeat` passes."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for out, ref in pairs:
            fn(out, ref)
        best = min(best, time.perf_counter() - t)
    return len(pairs) / best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-root")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import piq
    import torch

    from benchmark import registry

    pairs = load_pairs(args.data_root)
    print(f"{len(pairs)} images, e.g. {pairs[0][1].shape}; torch threads {torch.get_num_threads()}")

    def piq_tensor(a, dtype):
        return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).to(dtype)[None] / 255.0

    def piq_psnr(out, ref):
        with torch.inference_mode():
            return piq.psnr(piq_tensor(out, torch.float32), piq_tensor(ref, torch.float32), data_range=1.0).item()

    def piq_ssim(out, ref, dtype=torch.float32):
        with torch.inference_mode():
            return piq.ssim(piq_tensor(out, dtype), piq_tensor(ref, dtype), data_range=1.0, downsample=False).item()

    rows = []
    for name, baseline, base_name in [
        ("psnr", piq_psnr, "piq.psnr fp32"),
        ("ssim", piq_ssim, "piq.ssim fp32"),
        ("ssim", lambda o, r: piq_ssim(o, r, torch.float64), "piq.ssim fp64"),
    ]:
        metric = registry.metrics.get(name)()
        ours = timed(lambda o, r: metric.score(o, r), pairs, args.repeat)
        theirs = timed(baseline, pairs, args.repeat)
        diff = max(abs(metric.score(o, r) - baseline(o, r)) for o, r in pairs[:3])
        rows.append((f"bench {name}", ours, base_name, theirs, ours / theirs, diff))
    for name in ("psnr-y", "ssim-y", "psnr-b"):
        metric = registry.metrics.get(name)()
        ours = timed(lambda o, r: metric.score(o, r), pairs, args.repeat)
        rows.append((f"bench {name}", ours, "-", float("nan"), float("nan"), float("nan")))

    print(f"{'path':<16}{'img/s':>9}  {'baseline':<15}{'img/s':>9}{'ratio':>8}  max |diff| (3 imgs)")
    for a, x, b, y, r, d in rows:
        print(f"{a:<16}{x:>9.1f}  {b:<15}{y:>9.1f}{r:>8.2f}  {d:.2e}")

    # the whole suite path: a `bench run` whose inputs are cached, scores recomputed each time
    from benchmark.run.runner import RunConfig, Runner

    with tempfile.TemporaryDirectory() as tmp:
        ds = "live1-qf20" if args.data_root else "photos-qf20"
        cfg = dict(datasets=[ds], metrics=["psnr", "ssim"], data_root=args.data_root, cache_dir=f"{tmp}/c")
        Runner(RunConfig(**cfg, out=f"{tmp}/warm")).run(progress=False)
        import shutil

        times = []
        for i in range(args.repeat):
            shutil.rmtree(f"{tmp}/c/scores", ignore_errors=True)
            t = time.perf_counter()
            Runner(RunConfig(**cfg, out=f"{tmp}/r{i}")).run(progress=False)
            times.append(time.perf_counter() - t)
        suite = len(pairs) / min(times)
        ps = timed(lambda o, r: (piq_psnr(o, r), piq_ssim(o, r)), pairs, args.repeat)
        print(
            f"\nbench run (psnr+ssim, PNG cache reads, rows, parquet): {suite:.1f} img/s; "
            f"piq psnr+ssim fp32 called directly: {ps:.1f} img/s; ratio {suite / ps:.2f}"
        )


if __name__ == "__main__":
    main()
