"""Throughput of bench's NIQE, BRISQUE and detection against the libraries called directly.

    python benchmarks/task_throughput.py --data-root ../shared/data --detector ../shared/weights/yolov8n_int8_openvino_model

Images: COCO val2017 subset at JPEG QF20 (the first --limit images). Baselines, in the same run:

* NIQE: ``pyiqa.archs.niqe_arch.calculate_niqe`` on a ready float64 tensor, same parameters.
* BRISQUE: ``pyiqa.archs.brisque_arch.brisque`` on a ready float64 tensor, same SVR.
* detection: ``ultralytics.YOLO.predict`` on ready BGR arrays, same settings.

The bench paths take uint8 RGB frames as the runner hands them (conversion, checks and JSON
predictions included); detection is also timed through ``Runner.predictions`` (reading the
degraded frames from the cache and writing predictions to it). Prints images per second and
the suite's overhead (bench time / direct time - 1), best of --repeat passes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def best_rate(fn, items, repeat):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for x in items:
            fn(x)
        best = min(best, time.perf_counter() - t)
    return len(items) / best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--detector", required=True)
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()

    import torch
    from pyiqa.archs.brisque_arch import brisque
    from pyiqa.archs.niqe_arch import calculate_niqe

    from benchmark import registry
    from benchmark.cache import Cache
    from benchmark.degradations.jpeg import JPEG
    from benchmark.metrics.nr import brisque_model, niqe_params
    from benchmark.names import resolve
    from benchmark.runner import RunConfig, Runner

    spec = resolve("coco", Path(a.data_root))
    jpeg = JPEG(20)
    frames = [jpeg.apply(next(i.frames())) for i in list(spec.dataset.items())[: a.limit]]
    tensors = [torch.from_numpy(f).permute(2, 0, 1)[None].double() / 255 for f in frames]
    print(f"{len(frames)} COCO images at JPEG QF20, {torch.get_num_threads()} torch threads")

    rows = []
    mu, cov = niqe_params()
    sv_coef, sv, gamma, rho = brisque_model()
    niqe, bris = registry.metrics.get("niqe")(), registry.metrics.get("brisque")()
    for name, direct, ours in [
        ("niqe", lambda t: calculate_niqe(t, 0, True, "ycbcr", mu, cov), lambda f: niqe.score(f)),
        ("brisque", lambda t: brisque(t, sv_coef=sv_coef, sv=sv, gamma=gamma, rho=rho, version="original"), lambda f: bris.score(f)),
    ]:
        d = best_rate(direct, tensors, a.repeat)
        b = best_rate(ours, frames, a.repeat)
        rows.append((name, "pyiqa direct", d, b))

    from ultralytics import YOLO

    det_metric = registry.metrics.get("map")(detector=a.detector)
    detector = det_metric.detector
    yolo = YOLO(a.detector, task="detect")
    bgr = [np.ascontiguousarray(f[..., ::-1]) for f in frames]
    yolo.predict(bgr[0], imgsz=detector.imgsz, verbose=False)  # warm up both
    detector.detect(frames[0])
    d = best_rate(lambda x: yolo.predict(x, imgsz=detector.imgsz, conf=0.001, iou=0.7, max_det=300, verbose=False), bgr, a.repeat)
    b = best_rate(detector.detect, frames, a.repeat)
    rows.append(("detection (Detector.detect)", "ultralytics predict", d, b))

    # through the runner: degraded frames read from the cache, predictions written to it
    from benchmark.api import digest

    with tempfile.TemporaryDirectory() as tmp:
        runner = Runner(RunConfig(cache_dir=tmp))
        keys = []
        for i, f in enumerate(frames):
            with runner.cache.writer(f"frames-{i}") as w:
                w.add(f)
            keys.append(f"frames-{i}")
        pred_paths = [runner.cache.json_path(digest("prediction", det_metric.predictor_identity(), k)) for k in keys]
        best = float("inf")
        for _ in range(a.repeat):
            for p in pred_paths:  # recompute every pass
                p.unlink(missing_ok=True)
            t = time.perf_counter()
            for k in keys:
                runner.predictions(det_metric, k, lambda k=k: runner.cache.read_frames(k))
            best = min(best, time.perf_counter() - t)
        rows.append(("detection (Runner.predictions)", "ultralytics predict", d, len(frames) / best))

    print(f"{'path':34s} {'baseline':22s} {'baseline img/s':>15s} {'bench img/s':>12s} {'overhead':>9s}")
    for name, base, d, b in rows:
        print(f"{name:34s} {base:22s} {d:15.2f} {b:12.2f} {100 * (d / b - 1):8.1f}%")


if __name__ == "__main__":
    main()
