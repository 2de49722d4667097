"""Detection mAP (pycocotools) and captioning scores (pycocoevalcap), end to end."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark import registry
from benchmark.api import CorpusRecord
from benchmark.files.weights import WeightsMissing
from benchmark.metrics.detection import coco_evaluate
from benchmark.run.runner import RunConfig, run

from conftest import tiny_captioner

YOLO = "weights/yolov8n_int8_openvino_model"


def needs_java():
    """Caption tokenisation and METEOR run Java: a skip on a machine without it, a failure in CI."""
    import shutil

    if shutil.which("java") is None:
        msg = "Java is not installed (apt install default-jre-headless)"
        pytest.fail(msg) if os.environ.get("CI") else pytest.skip(msg)


def det(boxes, labels, scores=None):
    return {"boxes": boxes, "labels": labels, "scores": scores or [0.9] * len(boxes)}


def coco_ann(boxes_xywh, labels):
    return {"format": "coco", "boxes_xywh": boxes_xywh, "labels": labels, "iscrowd": [0] * len(labels)}


# ----------------------------------------------------------------------------- scorer
def test_coco_evaluate_perfect_missing_and_false_detections():
    gt = [([10, 10, 50, 50], "dog", 0), ([100, 100, 40, 60], "cat", 0)]
    perfect = det([[10, 10, 60, 60], [100, 100, 140, 160]], ["dog", "cat"])
    ev, names = coco_evaluate(iter([(gt, perfect)]), None, lambda s: s)
    assert ev.stats[0] == pytest.approx(1.0) and names == ["cat", "dog"]
    # the dog found, the cat missed, one false dog elsewhere with a lower score
    half = det([[10, 10, 60, 60], [300, 300, 340, 340]], ["dog", "dog"], [0.9, 0.5])
    ev, _ = coco_evaluate(iter([(gt, half)]), None, lambda s: s)
    assert ev.stats[1] == pytest.approx(0.5)  # AP50: dog 1.0, cat 0.0
    # a box shifted to IoU ~0.68 counts at .5 but not at .75
    shifted = det([[20, 10, 70, 60], [100, 100, 140, 160]], ["dog", "cat"])
    ev, _ = coco_evaluate(iter([(gt, shifted)]), None, lambda s: s)
    assert ev.stats[1] == pytest.approx(1.0) and ev.stats[2] == pytest.approx(0.5)


def test_voc_map_maps_coco_names_and_ignores_other_classes():
    m = registry.metrics.get("voc-map50")(detector="unused")
    recs = [
        CorpusRecord(
            "a",
            coco_ann([[0, 0, 50, 50], [60, 60, 30, 30], [5, 70, 20, 20]], ["motorcycle", "tv", "giraffe"]),
            [det([[0, 0, 50, 50], [60, 60, 90, 90]], ["motorcycle", "tv"])],
        )
    ]
    out = m.compute(iter(recs))
    assert out["voc-map50"] == pytest.approx(1.0)
    assert set(out) == {"voc-map50", "voc-ap50/motorbike", "voc-ap50/tvmonitor"}  # giraffe is not a VOC class


def test_map_refuses_a_set_without_boxes():
    m = registry.metrics.get("map")(detector="unused")
    with pytest.raises(ValueError, match="det-fidelity"):
        m.compute(iter([CorpusRecord("clip", {}, [det([], [])])]))


def test_missing_detector_is_a_clear_error_not_a_hang(mini_coco, tmp_path):
    pytest.importorskip("ultralytics")
    res = run(
        RunConfig(
            datasets=["coco-qf20"],
            metrics=["psnr", "map"],
            data_root=str(mini_coco),
            detector=str(tmp_path / "none.pt"),
            out=str(tmp_path / "o"),
        ),
        progress=False,
    )
    err = res.rows[res.rows.metric == "map"]
    assert list(err.status) == ["error"] and "none.pt" in err.error.iloc[0] and "--detector" in err.error.iloc[0]
    assert (res.rows[res.rows.metric == "psnr"].status == "ok").all()  # the other metrics are unaffected


# ----------------------------------------------------------------------------- detection end to end
@pytest.fixture
def detector(data_root):
    pytest.importorskip("ultralytics")
    path = data_root.parent / YOLO
    if not path.exists():
        pytest.fail(f"{path} missing") if os.environ.get("CI") else pytest.skip(f"{path} missing")
    return str(path)


@pytest.mark.shared
def test_detection_on_coco_falls_with_jpeg_quality_and_writes_gain_rows(data_root, detector, tmp_path):
    res = run(
        RunConfig(
            methods=["identity", "bicubic"],
            datasets=["coco", "coco-qf5"],
            metrics=["map", "map50", "voc-map50", "det-fidelity"],
            data_root=str(data_root),
            limit=12,
            detector=detector,
            out=str(tmp_path / "o"),
        ),
        progress=False,
    )
    assert not res.failures, res.failures
    d = res.rows.set_index(["dataset", "method", "metric"])["value"]
    assert d["coco", "identity", "map"] > 0.2
    assert d["coco-qf5", "identity", "map50"] < d["coco", "identity", "map50"]
    assert d["coco", "identity", "det-fidelity"] == pytest.approx(1.0)  # the reference against itself
    assert d["coco-qf5", "identity", "det-fidelity"] < 0.9
    assert ("coco", "identity", "ap/person") in d.index and ("coco", "identity", "voc-ap50/person") in d.index
    # bicubic at scale 1 is a copy: its gain over identity is exactly zero
    assert d["coco-qf5", "bicubic", "map-gain"] == pytest.approx(0.0)
    assert d["coco-qf5", "bicubic", "voc-ap50-gain/person"] == pytest.approx(0.0)
    assert (res.rows[res.rows.scope == "dataset"].item_id == "*").all()


# ----------------------------------------------------------------------------- captioning
def test_caption_scorers_against_hand_computed_values():
    pytest.importorskip("pycocoevalcap")
    needs_java()
    b1 = registry.metrics.get("bleu1")(captioner="unused")
    recs = [CorpusRecord("x", {"captions": ["a cat sat on the mat"]}, ["a cat on the mat"])]
    # unigram precision 5/5, brevity penalty exp(1 - 6/5)
    assert b1.compute(iter(recs))["bleu1"] == pytest.approx(np.exp(1 - 6 / 5), abs=1e-4)
    same = [
        CorpusRecord("x", {"captions": ["a dog runs on the beach", "the dog is running"]}, ["a dog runs on the beach"])
    ]
    assert registry.metrics.get("bleu4")(captioner="unused").compute(iter(same))["bleu4"] == pytest.approx(
        1.0, abs=1e-6
    )
    assert registry.metrics.get("rouge-l")(captioner="unused").compute(iter(same))["rouge-l"] == pytest.approx(1.0)
    assert registry.metrics.get("meteor")(captioner="unused").compute(iter(same))["meteor"] > 0.9
    disjoint = [CorpusRecord("x", {"captions": ["a dog runs on the beach"]}, ["purple elephants fly"])]
    assert registry.metrics.get("cider")(captioner="unused").compute(iter(disjoint))["cider"] == pytest.approx(0.0)


def test_captioning_end_to_end_with_a_tiny_random_model(mini_coco, tmp_path):
    pytest.importorskip("transformers")
    needs_java()
    model = tiny_captioner(tmp_path / "tiny-blip")
    metrics = [
        "bleu4",
        "rouge-l",
        "cider",
    ]  # METEOR's scorer (a JVM, 9 s) is checked by hand above; the rows are made the same way
    res = run(
        RunConfig(
            methods=["identity"],
            datasets=["coco-qf20"],
            metrics=metrics,
            data_root=str(mini_coco),
            captioner=str(model),
            out=str(tmp_path / "o"),
        ),
        progress=False,
    )
    assert not res.failures, res.failures
    rows = res.rows
    assert set(rows.metric) == set(metrics) and (rows.scope == "dataset").all()
    assert ((rows.value >= 0) & np.isfinite(rows.value)).all()
    # the predictions are cached: a rerun does not load the model again
    from benchmark.metrics.captioning import _Caption

    _Caption._captioners.clear()
    again = run(
        RunConfig(
            methods=["identity"],
            datasets=["coco-qf20"],
            metrics=metrics,
            data_root=str(mini_coco),
            captioner=str(model),
            out=str(tmp_path / "o2"),
        ),
        progress=False,
    )
    assert not _Caption._captioners and list(again.rows.value) == list(rows.value)


def test_captioning_without_reference_captions_scores_against_the_originals(image_folder, tmp_path):
    pytest.importorskip("transformers")
    needs_java()
    model = tiny_captioner(tmp_path / "tiny-blip")
    res = run(
        RunConfig(
            datasets=[f"{image_folder}@qf10"], metrics=["cider", "bleu1"], captioner=str(model), out=str(tmp_path / "o")
        ),
        progress=False,
    )
    assert not res.failures, res.failures
    assert set(res.rows.metric) == {"cider-refcap", "bleu1-refcap"}


def test_missing_captioner_names_what_to_do(mini_coco, tmp_path):
    pytest.importorskip("transformers")
    res = run(
        RunConfig(
            datasets=["coco-qf20"],
            metrics=["cider"],
            data_root=str(mini_coco),
            captioner=str(tmp_path / "no-model"),
            out=str(tmp_path / "o"),
        ),
        progress=False,
    )
    assert list(res.rows.status) == ["error"] and "--captioner" in res.rows.error.iloc[0]


def test_detector_backends_are_pluggable_and_env_selects_the_detector(mini_coco, tmp_path, monkeypatch):
    """A back-end named in `backend:spec` is used instead of ultralytics; here one that
    finds the cat in chelsea and nothing else, so mAP is exactly computable."""
    from benchmark.metrics import detection
    from benchmark.metrics.detection import Detector

    class CatFinder(Detector):
        def __init__(self, spec):
            self.spec = spec

        def identity(self):
            return {"backend": "cat-finder", "spec": self.spec}

        def detect(self, frame):
            if frame.shape[:2] == (300, 451):  # skimage's chelsea
                return {"boxes": [[60.0, 30.0, 360.0, 290.0]], "scores": [0.9], "labels": ["cat"]}
            return {"boxes": [], "scores": [], "labels": []}

    monkeypatch.setattr(detection, "detector_backends", lambda: {"ultralytics": None, "cat-finder": CatFinder})
    detection._Detection._detectors.clear()
    monkeypatch.setenv("BENCH_DETECTOR", "cat-finder:v1")
    res = run(
        RunConfig(
            methods=["identity"],
            datasets=["coco"],
            metrics=["map50", "map"],
            data_root=str(mini_coco),
            out=str(tmp_path / "o"),
        ),
        progress=False,
    )
    assert not res.failures, res.failures
    v = res.rows.set_index("metric")["value"]
    assert v["ap50/cat"] == pytest.approx(1.0) and v["ap50/person"] == 0 and v["ap50/cup"] == 0
    assert v["map50"] == pytest.approx(1 / 3)
    assert res.manifest["config"]["metrics"][0]["detector"] == "cat-finder:v1"


def test_spice_without_its_stanford_models_names_the_files():
    pytest.importorskip("pycocoevalcap")
    import pycocoevalcap.spice as sp

    lib = Path(sp.__file__).parent / "lib"
    if (lib / "stanford-corenlp-3.6.0-models.jar").exists():
        pytest.skip("SPICE's models are installed here")
    needs_java()
    with pytest.raises(WeightsMissing, match="stanford-corenlp-3.6.0"):
        registry.metrics.get("spice")(captioner="unused").scorer()


@pytest.mark.shared
def test_detection_batched_over_a_clips_frames_equals_frame_by_frame(data_root, detector):
    from PIL import Image

    from benchmark.metrics.detection import UltralyticsDetector

    d = UltralyticsDetector(detector)
    frames = [
        np.array(Image.open(f).convert("RGB")) for f in sorted((data_root / "video/Vid4/GT/city").glob("*.png"))[:3]
    ]
    batched = d.detect_many(frames)
    assert batched == [d.detect(f) for f in frames] and len(batched[0]["boxes"]) > 0


@pytest.mark.shared
def test_detection_map_rows_are_the_same_from_worker_processes(data_root, detector, tmp_path):
    """Corpus metrics under --workers: the predictions come back with each unit and the
    driver computes mAP from them, so the rows equal the serial run's."""
    cfg = dict(
        methods=["identity"],
        datasets=["coco-qf10"],
        metrics=["psnr", "map50"],
        data_root=str(data_root),
        limit=4,
        detector=detector,
    )
    serial = run(RunConfig(**cfg, out=str(tmp_path / "s"), cache_dir=str(tmp_path / "cs")), progress=False)
    workers = run(
        RunConfig(**cfg, out=str(tmp_path / "w"), cache_dir=str(tmp_path / "cw"), executor="processes", workers=2),
        progress=False,
    )
    cols = [c for c in serial.rows.columns if c not in ("run_id", "elapsed_s")]
    assert not serial.failures and not workers.failures
    assert (serial.rows.metric == "map50").sum() == 1
    pd.testing.assert_frame_equal(serial.rows[cols].reset_index(drop=True), workers.rows[cols].reset_index(drop=True))
