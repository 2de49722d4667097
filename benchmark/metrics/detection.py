"""Detection on restored images, scored with pycocotools (the reference implementation).

Metrics (corpus level, one value per data set and method, plus per-class rows):

* ``map``: COCO mAP@[.5:.95] over the data set's classes; rows ``ap/<class>``.
* ``map50``: COCO-style AP at IoU 0.5; rows ``ap50/<class>``.
* ``voc-map50``: AP at IoU 0.5 over the 20 PASCAL VOC classes (a COCO-trained detector's
  classes mapped onto VOC's: motorcycle->motorbike, airplane->aeroplane, couch->sofa,
  potted plant->pottedplant, dining table->diningtable, tv->tvmonitor); rows
  ``voc-ap50/<class>``. Computed with pycocotools' 101-point interpolated AP (not the
  VOC2007 11-point one); VOC "difficult" boxes are ignore regions (``iscrowd``).
* ``det-fidelity``: for sets without box annotations, mAP@.5 of the detections on the
  restored image against the same detector's detections on the reference image
  (score >= 0.25 taken as pseudo ground truth). It measures agreement with the
  detector's view of the original, not accuracy.

The runner also writes ``<metric>-gain`` rows (e.g. ``voc-ap50-gain/dog``): each
method's value minus the ``identity`` method's, when the run includes ``identity``.

Detector back-ends are pluggable: ``--detector`` takes ``[backend:]NAME_OR_PATH``; the
default back-end is ``ultralytics`` (AGPL-3.0, the ``[detect]`` extra): a weights name
such as ``yolov8n.pt`` that ultralytics downloads when online, or a local path (``.pt``,
an OpenVINO/ONNX export folder or file). Others register under the ``bench.detectors``
entry-point group: a callable ``(spec: str) -> Detector``.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator

import numpy as np

from benchmark.core import environment
from benchmark.core.paths import expand as expand_path
from benchmark.files.weights import WeightsMissing, path_hash, reachable

from ..api import CorpusMetric, CorpusRecord
from ..datasets.voc import VOC_CLASSES
from ..errors import BenchError

ENV_DETECTOR = environment.DETECTOR
DEFAULT_DETECTOR = "yolov8n.pt"
COCO_TO_VOC = {
    "airplane": "aeroplane",
    "bicycle": "bicycle",
    "bird": "bird",
    "boat": "boat",
    "bottle": "bottle",
    "bus": "bus",
    "car": "car",
    "cat": "cat",
    "chair": "chair",
    "cow": "cow",
    "dining table": "diningtable",
    "dog": "dog",
    "horse": "horse",
    "motorcycle": "motorbike",
    "person": "person",
    "potted plant": "pottedplant",
    "sheep": "sheep",
    "couch": "sofa",
    "train": "train",
    "tv": "tvmonitor",
}
PSEUDO_GT_SCORE = 0.25
_path_ids: dict[str, dict[str, Any]] = {}


class Detector:
    """A detector back-end: ``detect`` maps an RGB uint8 frame to boxes (x1, y1, x2, y2
    in pixels), scores and class names."""

    def identity(self) -> dict[str, Any]:  # pragma: no cover - interface
        raise NotImplementedError

    def detect_many(self, frames: list[np.ndarray]) -> list[dict[str, list]]:
        """Several frames at once (a back-end that batches overrides it)."""
        return [self.detect(f) for f in frames]

    def detect(self, frame: np.ndarray) -> dict[str, list]:  # pragma: no cover
        raise NotImplementedError


class UltralyticsDetector(Detector):
    """Ultralytics YOLO in its evaluation setting: conf 0.001, NMS IoU 0.7, 300 boxes
    (as ``yolo val``), input size from the export's metadata (else 640)."""

    def __init__(self, spec: str, conf: float = 0.001, iou: float = 0.7, max_det: int = 300):
        try:
            from ultralytics import YOLO
        except ImportError:
            raise BenchError(
                "detection metrics need ultralytics: pip install 'bench-enhance[detect]' (AGPL-3.0)"
            ) from None
        path = expand_path(spec)
        if path.exists():
            self.weights = path_hash(path)
            self.imgsz = self._imgsz(path)
        elif os.sep in spec or not reachable("github.com"):
            why = (
                "no such file or folder"
                if os.sep in spec
                else "not a local file, and ultralytics cannot download it (no network)"
            )
            raise WeightsMissing(
                f"detector '{spec}': {why}. Pass --detector PATH "
                f"(or set ${ENV_DETECTOR}) to a weights file or export folder, e.g. ../shared/weights/yolov8n_int8_openvino_model, "
                "or fetch the weights on a machine with internet (ultralytics downloads them by name)."
            )
        else:  # a name, online: ultralytics downloads it
            self.weights = None
            self.imgsz = 640
        self.spec = str(path.resolve()) if path.exists() else spec
        self.model = YOLO(self.spec, task="detect")
        if self.weights is None:
            self.weights = path_hash(Path(self.model.ckpt_path or self.spec))
        self.args = dict(conf=conf, iou=iou, max_det=max_det)

    @staticmethod
    def _imgsz(path: Path) -> int:
        meta = path / "metadata.yaml" if path.is_dir() else path.with_name("metadata.yaml")
        if meta.exists():
            import yaml

            size = (yaml.safe_load(meta.read_text()) or {}).get("imgsz")
            if size:
                return int(size[0] if isinstance(size, (list, tuple)) else size)
        return 640

    def identity(self):
        return {"backend": "ultralytics", "weights_sha256": self.weights, "imgsz": self.imgsz, **self.args}

    @classmethod
    def describe(cls, path: Path, conf: float = 0.001, iou: float = 0.7, max_det: int = 300) -> dict[str, Any]:
        """The identity of local weights, without loading them (same as ``identity()``)."""
        return {
            "backend": "ultralytics",
            "weights_sha256": path_hash(path),
            "imgsz": cls._imgsz(path),
            "conf": conf,
            "iou": iou,
            "max_det": max_det,
        }

    def detect(self, frame):
        return self.detect_many([frame])[0]

    def detect_many(self, frames):
        """One ``predict`` call for the frames (a list: ultralytics batches it)."""
        import cv2

        bgr = [
            cv2.cvtColor(f, cv2.COLOR_RGB2BGR) if f.shape[2] == 3 else np.repeat(f, 3, axis=2) for f in frames
        ]  # ultralytics takes BGR arrays
        return [self._boxes(r) for r in self.model.predict(bgr, imgsz=self.imgsz, verbose=False, **self.args)]

    @staticmethod
    def _boxes(r):
        names = r.names
        b = r.boxes
        return {
            "boxes": np.round(b.xyxy.cpu().numpy().astype(np.float64), 2).tolist(),
            "scores": np.round(b.conf.cpu().numpy().astype(np.float64), 5).tolist(),
            "labels": [names[int(c)] for c in b.cls.cpu().numpy()],
        }


def detector_backends() -> dict[str, Callable[[str], Detector]]:
    from importlib.metadata import entry_points

    out: dict[str, Callable[[str], Detector]] = {"ultralytics": UltralyticsDetector}
    for ep in entry_points(group="bench.detectors"):
        out[ep.name] = ep  # loaded on use
    return out


def load_detector(spec: str) -> Detector:
    backends = detector_backends()
    backend, sep, rest = spec.partition(":")
    if sep and backend in backends and not Path(spec).exists():
        factory = backends[backend]
        spec = rest
    else:
        factory = backends["ultralytics"]
    if hasattr(factory, "load") and not isinstance(factory, type):
        factory = factory.load()
    return factory(spec)


# ----------------------------------------------------------------------------- evaluation
def _gt_objects(ann: dict[str, Any]) -> list[tuple[list[float], str, int]] | None:
    """(xywh box, class name, ignore) per ground-truth object, or None without annotations."""
    fmt = ann.get("format")
    if fmt == "coco":
        return [
            (list(b), lab, int(c))
            for b, lab, c in zip(ann["boxes_xywh"], ann["labels"], ann.get("iscrowd", [0] * len(ann["labels"])))
        ]
    if fmt == "voc":
        return [
            ([x1, y1, x2 - x1, y2 - y1], lab, int(d))
            for (x1, y1, x2, y2), lab, d in zip(ann["boxes_xyxy"], ann["labels"], ann["difficult"])
        ]
    return None


def coco_evaluate(
    images: Iterator[tuple[list, dict]], classes: list[str] | None, rename: Callable[[str], str | None]
) -> tuple[Any, list[str]]:
    """Run pycocotools COCOeval. ``images`` yields (ground-truth objects, detections) per
    image; ``rename`` maps a class name onto the evaluated vocabulary (None: drop)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gts, dets, names = [], [], set(classes or [])
    img_ids = []
    for img_id, (objects, det) in enumerate(images, start=1):
        img_ids.append(img_id)
        for box, label, ignore in objects:
            label = rename(label)
            if label is None or (classes is not None and label not in names):
                continue
            names.add(label)
            gts.append(
                {"image_id": img_id, "bbox": box, "category": label, "area": float(box[2] * box[3]), "iscrowd": ignore}
            )
        for (x1, y1, x2, y2), s, label in zip(det["boxes"], det["scores"], det["labels"]):
            label = rename(label)
            if label is not None:
                dets.append({"image_id": img_id, "bbox": [x1, y1, x2 - x1, y2 - y1], "score": s, "category": label})
    ordered = list(classes) if classes is not None else sorted(names)
    cat = {n: i + 1 for i, n in enumerate(ordered)}
    if not gts:
        raise ValueError("no ground-truth boxes of the evaluated classes in this data set")
    gt = COCO()
    gt.dataset = {
        "images": [{"id": i} for i in img_ids],
        "categories": [{"id": cat[n], "name": n} for n in ordered],
        "annotations": [{**g, "id": k + 1, "category_id": cat[g.pop("category")]} for k, g in enumerate(gts)],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt_list = [{**d, "category_id": cat[d.pop("category")]} for d in dets if d["category"] in cat]
        dt = gt.loadRes(dt_list) if dt_list else COCO()
        if not dt_list:
            dt.dataset = {"images": gt.dataset["images"], "categories": gt.dataset["categories"], "annotations": []}
            dt.createIndex()
        ev = COCOeval(gt, dt, iouType="bbox")
        ev.params.imgIds = img_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev, ordered


def per_class_ap(ev, classes: list[str], iou50: bool) -> dict[str, float]:
    p = ev.eval["precision"]  # [T, R, K, A, M]; area "all" = 0, maxDets 100 = -1
    out = {}
    for k, name in enumerate(classes):
        pr = p[0, :, k, 0, -1] if iou50 else p[:, :, k, 0, -1]
        pr = pr[pr > -1]
        if pr.size:  # a class with no ground truth has no AP
            out[name] = float(np.mean(pr))
    return out


class _Detection(CorpusMetric):
    family = "task"
    unit = ""
    higher_is_better = True
    options = ("detector",)
    requires = ("ultralytics",)
    requires_extra = "detect"
    classes: ClassVar[tuple[str, ...] | None] = None  # None: the data set's own classes
    iou50: ClassVar[bool] = False
    row_prefix: ClassVar[str] = "ap"
    _detectors: ClassVar[dict[str, Detector]] = {}

    def __init__(self, detector: str | None = None, **params):
        super().__init__(**params)
        self.detector_spec = detector or environment.get(environment.DETECTOR) or DEFAULT_DETECTOR

    @property
    def detector(self) -> Detector:
        if self.detector_spec not in self._detectors:
            self._detectors[self.detector_spec] = load_detector(self.detector_spec)
        return self._detectors[self.detector_spec]

    def identity(self):  # cheap (no model load); the cache key uses predictor_identity()
        return {**super().identity(), "detector": self.detector_spec}

    def predictor_identity(self):
        path = expand_path(self.detector_spec)
        if path.exists() and self.detector_spec not in self._detectors:  # identify local weights without loading them
            if self.detector_spec not in _path_ids:
                _path_ids[self.detector_spec] = UltralyticsDetector.describe(path)
            return {"task": "detection", **_path_ids[self.detector_spec]}
        return {"task": "detection", **self.detector.identity()}

    def setup(self, device):
        self.detector  # noqa: B018 - load now, fail early

    def predict(self, frame):
        return self.detector.detect(frame)

    def predict_many(self, frames):
        return self.detector.detect_many(frames)

    def compute(self, records: Iterator[CorpusRecord]) -> dict[str, float]:
        fmt: set[str] = set()

        def images():
            for r in records:
                objects = _gt_objects(r.annotations)
                if objects is None:
                    raise ValueError(
                        f"item '{r.item_id}' has no box annotations: use the 'det-fidelity' metric on this data set"
                    )
                fmt.add(r.annotations.get("format"))
                for det in r.predictions:
                    yield objects, det

        def rename(label: str) -> str | None:  # onto VOC names for voc-map50, and on VOC-format sets
            if self.classes is VOC_CLASSES or fmt == {"voc"}:
                return label if label in VOC_CLASSES else COCO_TO_VOC.get(label)
            return label

        classes = list(self.classes) if self.classes is not None else None
        ev, names = coco_evaluate(images(), classes, rename)
        headline = float(ev.stats[1] if self.iou50 else ev.stats[0])
        return {
            self.name: headline,
            **{f"{self.row_prefix}/{c}": v for c, v in per_class_ap(ev, names, self.iou50).items()},
        }


class MAP(_Detection):
    name = "map"
    version = "1"
    conventions = {
        "iou": "0.50:0.05:0.95",
        "interpolation": "COCO 101-point",
        "area": "all",
        "max_dets": 100,
        "classes": "the data set's (COCO: 80 names; VOC: 20, detector classes mapped)",
        "implementation": "pycocotools COCOeval",
        "detector_settings": "conf 0.001, NMS IoU 0.7, 300 boxes (ultralytics val)",
    }
    description = "COCO mAP@[.5:.95] of a detector on the restored images; per-class rows ap/<class>."


class MAP50(_Detection):
    name = "map50"
    version = "1"
    iou50 = True
    row_prefix = "ap50"
    conventions = {**MAP.conventions, "iou": "0.50"}
    description = "COCO-style mAP at IoU 0.5; per-class rows ap50/<class>."


class VOCMAP50(_Detection):
    name = "voc-map50"
    version = "1"
    iou50 = True
    classes = VOC_CLASSES
    row_prefix = "voc-ap50"
    conventions = {
        **MAP.conventions,
        "iou": "0.50",
        "classes": "the 20 PASCAL VOC classes (COCO names mapped)",
        "difficult": "ignore regions (pycocotools iscrowd)",
        "interpolation": "COCO 101-point (not VOC07 11-point)",
    }
    description = (
        "mAP@.5 over the 20 PASCAL VOC classes (the reference study's measure); per-class rows voc-ap50/<class>."
    )


class DetectionFidelity(_Detection):
    name = "det-fidelity"
    version = "1"
    iou50 = True
    needs_reference_predictions = True
    conventions = {
        **MAP.conventions,
        "iou": "0.50",
        "ground_truth": f"the detector's own boxes on the reference image with score >= {PSEUDO_GT_SCORE}",
    }
    description = (
        "Detection fidelity: mAP@.5 against the detector's detections on the reference (no annotations needed)."
    )

    def compute(self, records):
        def images():
            for r in records:
                for det, ref in zip(r.predictions, r.reference_predictions):
                    objects = [
                        ([x1, y1, x2 - x1, y2 - y1], lab, 0)
                        for (x1, y1, x2, y2), s, lab in zip(ref["boxes"], ref["scores"], ref["labels"])
                        if s >= PSEUDO_GT_SCORE
                    ]
                    yield objects, det

        ev, _ = coco_evaluate(images(), None, lambda lab: lab)
        return {self.name: float(ev.stats[1])}
