"""Semantic fidelity that works offline: does an ImageNet classifier see the same thing
in the restored image as in the reference?

* ``imagenet-agreement``: 1 when the top-1 class on the restored image equals the
  top-1 class on the reference, else 0; its mean over a data set is the agreement rate.
* ``imagenet-kl``: KL(p_reference || p_restored) of the 1000-class softmax, in nats.

Model: torchvision MobileNetV2 with the IMAGENET1K_V1 weights (checksum verified; see
``weights.MOBILENET_V2`` for where the file comes from offline). Preprocessing is
torchvision's for those weights: RGB, resize the short side to 256 (bilinear,
antialiased), centre crop 224, ImageNet mean/std. Gray frames are repeated to RGB.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

import numpy as np

from benchmark.files.weights import MOBILENET_V2, asset_path

from ..api import Metric, crop
from .fidelity import _check

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class ImageNetClassifier:
    """MobileNetV2 with a small cache of class distributions keyed by frame content, so
    the two semantic metrics (and the reference, shared by every method) cost one
    forward pass per distinct frame."""

    _instance: "ImageNetClassifier | None" = None

    def __init__(self, weights: str | None = None):
        import torch
        import torchvision

        path = asset_path(MOBILENET_V2, weights)
        self.model = torchvision.models.mobilenet_v2(weights=None)
        self.model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.model.eval()
        self.cache: OrderedDict[str, Any] = OrderedDict()

    @classmethod
    def shared(cls) -> "ImageNetClassifier":
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def preprocess(self, frame: np.ndarray):
        import torch
        import torchvision.transforms.v2.functional as F

        x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)
        if x.shape[0] == 1:
            x = x.repeat(3, 1, 1)
        x = F.resize(x, [256], interpolation=F.InterpolationMode.BILINEAR, antialias=True)
        x = F.center_crop(x, [224, 224])
        x = F.to_dtype(x, torch.float32, scale=True)
        return F.normalize(x, _MEAN, _STD)

    def log_probs(self, frame: np.ndarray) -> np.ndarray:
        import torch

        key = hashlib.sha1(np.ascontiguousarray(frame).data).hexdigest() + str(frame.shape)
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]
        with torch.inference_mode():
            out = torch.log_softmax(self.model(self.preprocess(frame)[None]).double(), dim=1)[0].numpy()
        self.cache[key] = out
        if len(self.cache) > 64:
            self.cache.popitem(last=False)
        return out


class _Semantic(Metric):
    kind = "fr"
    family = "task"
    conventions = {
        "model": "torchvision MobileNetV2 IMAGENET1K_V1 (sha256 b0353104...)",
        "preprocess": "RGB, short side 256 bilinear antialiased, centre crop 224, ImageNet mean/std",
        "crop_border": "run setting",
    }

    def _pair(self, output, reference, crop_border):
        reference = _check(output, reference)
        clf = ImageNetClassifier.shared()
        return clf.log_probs(crop(reference, crop_border)), clf.log_probs(crop(output, crop_border))


class ImageNetAgreement(_Semantic):
    name = "imagenet-agreement"
    version = "1"
    higher_is_better = True
    unit = "fraction"
    description = "Top-1 ImageNet class of the restored image equals that of the reference (1) or not (0); the mean is the agreement rate."

    def score(self, output, reference, crop_border=0):
        ref, out = self._pair(output, reference, crop_border)
        return float(np.argmax(ref) == np.argmax(out))


class ImageNetKL(_Semantic):
    name = "imagenet-kl"
    version = "1"
    higher_is_better = False
    unit = "nats"
    description = "KL divergence from the reference's ImageNet class distribution to the restored image's."

    def score(self, output, reference, crop_border=0):
        ref, out = self._pair(output, reference, crop_border)
        return float(max(0.0, np.sum(np.exp(ref) * (ref - out))))
