"""Throughput of bench's NIQE, BRISQUE and detection against the libraries called directly.

    python perf/task_throughput.py --data-root ../shared/data --detector ../shared/weights/yolov8n_int8_openvino_model

Images: COCO val2017 subset at JPEG QF20 (the first --limit images). Baselines, in the same run:

* NIQE: ``pyiqa.archs.niqe_arch.calculate_niqe`` on a ready float64 tensor, same parameters.
* BRISQUE: ``pyiqa.archs.brisque_arch.brisque`` on a ready float64 tensor, same SVR.
* detection: ``ultralytics.YOLO.predict`` on ready BGR arrays, same settings.

The bench paths take uint8 RGB frames as the runner hands them (conversion, checks and JSON
predictions included); detection is also timed through ``stages.corpus.predictions`` (reading the
degraded frames from the cache and writing predictions to it). Prints images per second and
the suite's overhead (bench time / direct time - 1), best of --repeat interleaved passes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def compare(direct, direct_items, ours, our_items, repeat):
    """Images per second of both paths, best of `repeat` interleaved passes (the machine's
    noise hits both alike)."""
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for k, (fn, items) in enumerate(((direct, direct_items), (ours, our_items))):
            t = time.perf_counter()
            for x in items:
                fn(x)
            best[k] = min(best[k], time.perf_counter() - t)
    return len(direct_items) / best[0], len(our_items) / best[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--detector", required=True)
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()

    import torch

    from benchmark.core.names import resolve
    from benchmark.degradations.jpeg import JPEG

    spec = resolve("coco", Path(a.data_root))
    jpeg = JPEG(20)
    frames = [jpeg.apply(next(i.frames())) for i in list(spec.dataset.items())[: a.limit]]
    tensors = [torch.from_numpy(f).permute(2, 0, 1)[None].double() / 255 for f in frames]
    print(f"{len(frames)} COCO images at JPEG QF20, {torch.get_num_threads()} torch threads")

    rows = nr_rows(frames, tensors, a.repeat)
    rows.append(detection_row(frames, a.detector, a.repeat))
    rows.append(corpus_row(frames, a.detector, a.repeat))
    print(f"{'path':34s} {'baseline':22s} {'baseline img/s':>15s} {'bench img/s':>12s} {'overhead':>9s}")
    for name, base, d, b in rows:
        print(f"{name:34s} {base:22s} {d:15.2f} {b:12.2f} {100 * (d / b - 1):8.1f}%")


def nr_rows(frames, tensors, repeat: int) -> list:
    """NIQE and BRISQUE: pyiqa's functions called directly against bench's metrics."""
    import torch
    from pyiqa.archs.brisque_arch import brisque
    from pyiqa.archs.niqe_arch import calculate_niqe

    from benchmark import registry
    from benchmark.metrics.nr import brisque_model, niqe_params

    rows = []
    mu, cov = (torch.from_numpy(a) for a in niqe_params())
    sv_coef, sv, gamma, rho = brisque_model()
    sv_coef, sv = torch.from_numpy(sv_coef), torch.from_numpy(sv)
    niqe, bris = registry.metrics.get("niqe")(), registry.metrics.get("brisque")()
    for name, direct, ours in [
        ("niqe", lambda t: calculate_niqe(t, 0, True, "ycbcr", mu, cov), lambda f: niqe.score(f)),
        (
            "brisque",
            lambda t: brisque(t, sv_coef=sv_coef, sv=sv, gamma=gamma, rho=rho, version="original"),
            lambda f: bris.score(f),
        ),
    ]:
        rows.append((name, "pyiqa direct", *compare(direct, tensors, ours, frames, repeat)))
    return rows


def detection_row(frames, detector_path: str, repeat: int) -> tuple:
    """Detection: ultralytics' predict on arrays against bench's Detector.detect."""
    from ultralytics import YOLO

    from benchmark import registry

    detector = registry.metrics.get("map")(detector=detector_path).detector
    yolo = YOLO(detector_path, task="detect")
    bgr = [np.ascontiguousarray(f[..., ::-1]) for f in frames]
    yolo.predict(bgr[0], imgsz=detector.imgsz, verbose=False)  # warm up both
    detector.detect(frames[0])
    predict = dict(imgsz=detector.imgsz, conf=0.001, iou=0.7, max_det=300, verbose=False)
    return (
        "detection (Detector.detect)",
        "ultralytics predict(array)",
        *compare(lambda x: yolo.predict(x, **predict), bgr, detector.detect, frames, repeat),
    )


def corpus_row(frames, detector_path: str, repeat: int) -> tuple:
    """Through the runner: restored frames read from the cache (PNG), predictions written to it;
    the baseline reads the same PNG files with ultralytics (predict(path)) and keeps the results."""
    from ultralytics import YOLO

    from benchmark import registry
    from benchmark.api import digest
    from benchmark.run.runner import RunConfig, Runner
    from benchmark.run.stages.corpus import predictions

    det_metric = registry.metrics.get("map")(detector=detector_path)
    detector = det_metric.detector
    yolo = YOLO(detector_path, task="detect")
    predict = dict(imgsz=detector.imgsz, conf=0.001, iou=0.7, max_det=300, verbose=False)

    with tempfile.TemporaryDirectory() as tmp:
        runner = Runner(RunConfig(cache_dir=tmp))
        keys = []
        for i, f in enumerate(frames):
            with runner.cache.writer(f"frames-{i}") as w:
                w.add(f)
            keys.append(f"frames-{i}")
        files = [runner.cache.frames_path(k) / "000000.png" for k in keys]
        pred_paths = {k: runner.cache.json_path(digest("prediction", det_metric.predictor_identity(), k)) for k in keys}

        ready: set[str] = set()

        def setup_once(m):  # as the run does: the metric's model is loaded once
            if m.name not in ready:
                m.setup("cpu")
                ready.add(m.name)

        def through_runner(k):
            pred_paths[k].unlink(missing_ok=True)  # recompute on every pass
            predictions(runner.cache, det_metric, k, lambda: runner.cache.read_frames(k), 8, setup_once)

        return (
            "detection (stages.corpus.predictions)",
            "ultralytics predict(file)",
            *compare(
                lambda p: yolo.predict(str(p), **predict)[0].boxes.xyxy.tolist(),
                files,
                through_runner,
                keys,
                repeat,
            ),
        )


if __name__ == "__main__":
    main()
