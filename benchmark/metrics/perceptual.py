"""Learned full-reference metrics under open licenses: LPIPS on the authors' ``lpips`` package
(BSD-2-Clause), DISTS on piq (Apache-2.0), and TecoGAN's temporal LPIPS (``tlp``).

* ``lpips``, ``lpips-vgg``: ``lpips.LPIPS(net=..., version="0.1")`` with the linear layers
  shipped in the ``lpips`` wheel and torchvision's ImageNet backbone loaded from the verified
  file in ``$TORCH_HOME/hub/checkpoints`` (``bench metrics fetch lpips``): the numbers of
  ``lpips.LPIPS(net=...)`` itself on the same backbone (tested to 1e-6). Inputs RGB in
  [0, 1] (``normalize=True``, i.e. [-1, 1] inside), gray repeated to 3 channels, no resize.
* ``dists``: piq's DISTS code (VGG16 with L2 pooling, structure and texture terms) with the
  DISTS authors' alpha/beta (``DISTS_pytorch/weights.pt``, MIT), divided by their sum as the
  authors' ``DISTS_pt.py`` does; so ``dists(x, x) = 0``. As piq does, a frame whose short side
  is over 256 px is resized (bilinear) to a short side of 256 first.
* ``tlp``: for each frame t >= 1, |LPIPS(o_t, o_t-1) - LPIPS(r_t, r_t-1)| with LPIPS-alex,
  mean over the clip; TecoGAN's tables print it x100.

Models run on the CPU in float32 (the run's device is for methods); one per process.
Runs never download: a missing or damaged file is one line naming ``bench metrics fetch``.
"""

from __future__ import annotations

import re
import warnings
from typing import Any, ClassVar

import numpy as np

from benchmark.files.metricweights import missing_note, require

from ..api import ClipMetric, Metric, crop
from .fidelity import _check

_MODELS: dict[tuple, Any] = {}
_BACKBONE = {"alex": "alexnet", "vgg": "vgg16"}


class WeightedMetric(Metric):
    """A metric whose weights are declared files (:mod:`benchmark.files.metricweights`): usable only
    when they are on disk; ``license`` and ``value_range`` feed its card."""

    weights_files: ClassVar[tuple[str, ...]] = ()
    license: ClassVar[str] = ""
    value_range: ClassVar[str] = ""
    reference_values: ClassVar[str] = ""

    @classmethod
    def availability(cls) -> str:
        import importlib.util

        gone = [m for m in cls.requires if importlib.util.find_spec(m) is None]
        if gone and not cls.requires_extra:  # a core dependency that is not installed
            return f"needs {', '.join(gone)} (a dependency of bench-enhance): pip install {' '.join(gone)}"
        return super().availability() or missing_note(cls.name, cls.weights_files)

    def files(self) -> dict:
        return require(self.name, self.weights_files)


def _tensor(frame: np.ndarray):
    """HxWxC uint8 -> 1x3xHxW float32 in [0, 1] (gray repeated)."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float() / 255.0
    return x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x


def _torchvision_to_slices(sliced: dict, tv_state: dict) -> dict:
    """torchvision's ``features.<i>.<param>`` onto lpips's ``slice<k>.<i>.<param>`` (the
    slices keep torchvision's layer indices)."""
    out = {}
    for key in sliced:
        m = re.fullmatch(r"slice\d+\.(\d+)\.(.+)", key)
        out[key] = tv_state[f"features.{m.group(1)}.{m.group(2)}"]
    return out


def lpips_model(net: str, metric: str):
    """``lpips.LPIPS(net, version 0.1)`` with the verified torchvision backbone, cached per file."""
    path = require(metric, (_BACKBONE[net],))[_BACKBONE[net]]
    from benchmark.files.weights import file_sha256

    key = ("lpips", net, str(path), file_sha256(path))
    if key not in _MODELS:
        import lpips
        import torch

        with warnings.catch_warnings():  # lpips passes torchvision's deprecated `pretrained=False`
            warnings.simplefilter("ignore")
            model = lpips.LPIPS(net=net, version="0.1", pnet_rand=True, verbose=False)
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.net.load_state_dict(_torchvision_to_slices(model.net.state_dict(), state), strict=True)
        _MODELS[key] = model.eval()
    return _MODELS[key]


def lpips_distance(model, a: np.ndarray, b: np.ndarray) -> float:
    import torch

    with torch.no_grad():
        return float(model(_tensor(a), _tensor(b), normalize=True).reshape(()))


class _LPIPS(WeightedMetric):
    kind = "fr"
    higher_is_better = False
    unit = ""
    family = "perceptual"
    requires = ("lpips",)
    license = "BSD-2-Clause (lpips: code and linear layers, in its wheel); backbone BSD-3-Clause (torchvision)"
    value_range = "0 (identical) to about 1; typical restorations 0.05-0.4"
    net: ClassVar[str] = "alex"

    def score(self, output, reference=None, crop_border=0):
        reference = _check(output, reference)
        return lpips_distance(lpips_model(self.net, self.name), crop(output, crop_border), crop(reference, crop_border))


class LPIPS(_LPIPS):
    name = "lpips"
    version = "2"
    weights_files = ("alexnet",)
    conventions = {
        "implementation": "lpips.LPIPS(net='alex', version='0.1') (the authors' package, BSD-2)",
        "backbone": "torchvision AlexNet IMAGENET1K_V1 (alexnet-owt-7be5be79.pth)",
        "input": "RGB [0, 1] (normalize=True), gray repeated, no resize",
        "crop_border": "run setting",
        "device": "CPU, float32",
    }
    description = "LPIPS v0.1, AlexNet (Zhang et al. 2018): learned perceptual distance; lower is closer."


class LPIPSVGG(_LPIPS):
    name = "lpips-vgg"
    version = "2"
    net = "vgg"
    weights_files = ("vgg16",)
    conventions = {
        **LPIPS.conventions,
        "implementation": "lpips.LPIPS(net='vgg', version='0.1') (the authors' package, BSD-2)",
        "backbone": "torchvision VGG16 IMAGENET1K_V1 (vgg16-397923af.pth)",
    }
    description = "LPIPS v0.1 with VGG16 features (the variant SR papers often report)."


def dists_model(metric: str):
    """piq's DISTS on the verified VGG16 and the authors' alpha/beta (normalised by their sum)."""
    from benchmark.files.weights import file_sha256

    paths = require(metric, DISTS.weights_files)
    key = ("dists",) + tuple(file_sha256(p) for p in paths.values())
    if key not in _MODELS:
        import torch
        from piq.perceptual import DISTS as PiqDISTS
        from piq.perceptual import IMAGENET_MEAN, IMAGENET_STD, VGG16_LAYERS, ContentLoss
        from torchvision.models.vgg import cfgs, make_layers

        features = make_layers(cfgs["D"])  # torchvision's vgg16().features (piq uses nothing else of it)
        state = torch.load(paths["vgg16"], map_location="cpu", weights_only=True)
        features.load_state_dict(
            {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
        )
        ab = torch.load(paths["dists-weights"], map_location="cpu", weights_only=True)
        total = ab["alpha"].sum() + ab["beta"].sum()
        channels = [3, 64, 128, 256, 512, 512]
        weights = list(torch.split(ab["alpha"] / total, channels, dim=1)) + list(
            torch.split(ab["beta"] / total, channels, dim=1)
        )
        model = PiqDISTS.__new__(PiqDISTS)  # piq's DISTS.__init__ downloads; this is its body on local files
        ContentLoss.__init__(
            model,
            features,
            layers=[VGG16_LAYERS[n] for n in ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")],
            weights=weights,
            replace_pooling=True,
            reduction="none",
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            normalize_features=False,
            allow_layers_weights_mismatch=True,
        )
        _MODELS[key] = model.eval()
    return _MODELS[key]


class DISTS(WeightedMetric):
    name = "dists"
    version = "2"
    kind = "fr"
    higher_is_better = False
    unit = ""
    family = "perceptual"
    requires = ("piq",)
    weights_files = ("vgg16", "dists-weights")
    license = "Apache-2.0 (piq's code); MIT (the DISTS authors' alpha/beta); backbone BSD-3-Clause (torchvision)"
    value_range = "0 (identical) to 1"
    reference_values = "the authors' demo pair (DISTS repo images/r0.png vs r1.png, resized to 256): 0.3347"
    conventions = {
        "implementation": "piq.DISTS's code (L2 pooling, structure + texture terms)",
        "weights": "the authors' alpha/beta (DISTS_pytorch weights.pt) / (sum alpha + sum beta), as DISTS_pt.py",
        "backbone": "torchvision VGG16 IMAGENET1K_V1 (vgg16-397923af.pth)",
        "input": "RGB [0, 1], ImageNet mean/std, gray repeated; short side > 256 px: bilinear resize to 256 (piq)",
        "crop_border": "run setting",
        "device": "CPU, float32",
    }
    description = "DISTS (Ding et al. 2020): structure and texture similarity of VGG features; lower is closer."

    def score(self, output, reference=None, crop_border=0):
        import torch

        reference = _check(output, reference)
        model = dists_model(self.name)
        with torch.no_grad():
            return float(model(_tensor(crop(output, crop_border)), _tensor(crop(reference, crop_border))).reshape(()))


class TLP(ClipMetric, WeightedMetric):
    name = "tlp"
    version = "1"
    kind = "fr"
    higher_is_better = False
    unit = ""
    family = "temporal"
    requires = ("lpips",)
    weights_files = ("alexnet",)
    license = LPIPS.license
    value_range = "0 (the output changes between frames as perceptibly as the reference) upwards; TecoGAN prints x100"
    conventions = {
        "value": "|LPIPS(o_t, o_t-1) - LPIPS(r_t, r_t-1)| per frame t >= 1 (TecoGAN's tLP, not x100)",
        "lpips": "lpips.LPIPS(net='alex', version='0.1'), RGB [0, 1]",
        "frame_0": "undefined (no row)",
        "crop_border": "run setting",
        "device": "CPU, float32",
    }
    description = "Temporal LPIPS (TecoGAN's tLP): how differently from the reference the output changes between frames; 0 is best."

    def start(self, crop_border=0):
        self.border = crop_border
        self.prev: tuple[np.ndarray, np.ndarray] | None = None
        self.values: list[float | None] = []
        self.model = lpips_model("alex", self.name)

    def update(self, output, reference):
        reference = _check(output, reference)
        cur = (crop(output, self.border), crop(reference, self.border))
        if self.prev is None:
            self.values.append(None)
        else:
            self.values.append(
                abs(lpips_distance(self.model, cur[0], self.prev[0]) - lpips_distance(self.model, cur[1], self.prev[1]))
            )
        self.prev = cur

    def finish(self):
        return self.values
