"""MS-SSIM (piq) and learned metrics through pyiqa (LPIPS, DISTS, MUSIQ, ...).

Learned metrics need their weights on disk: pyiqa keeps them in
``$TORCH_HOME/hub/pyiqa/`` and torchvision backbones in ``$TORCH_HOME/hub/checkpoints/``.
bench never downloads them: when one is missing, the metric fails with an error that
names the file, its URL and the path to put it at (see ``weights.no_downloads``).
"""

from __future__ import annotations

from typing import Any, ClassVar


from ..api import Metric, crop
from ..errors import BenchError
from .fidelity import _check
from .nr import _require_pyiqa, _tensor
from ..weights import no_downloads


class MSSSIM(Metric):
    name = "ms-ssim"
    version = "1"
    kind = "fr"
    higher_is_better = True
    unit = ""
    family = "fidelity"
    conventions = {
        "space": "RGB, mean over channels (gray: the one channel)",
        "window": "11x11 Gaussian, sigma 1.5, K1 0.01, K2 0.03, 5 scales, Wang 2003 weights",
        "data_range": 255,
        "min_size": "161x161 after the crop border",
        "implementation": "piq.multi_scale_ssim, float64",
        "crop_border": "run setting",
    }
    description = "Multi-scale SSIM (Wang, Simoncelli, Bovik 2003)."

    def score(self, output, reference, crop_border=0):
        import piq

        reference = _check(output, reference)
        x, y = _tensor(crop(output, crop_border)), _tensor(crop(reference, crop_border))
        if min(x.shape[-2:]) < 161:
            raise ValueError(f"ms-ssim needs at least 161x161 pixels (5 scales of an 11x11 window), got {tuple(x.shape[-2:])}")
        return float(piq.multi_scale_ssim(x, y, data_range=1.0, reduction="none"))


class PyIQAMetric(Metric):
    """A pyiqa model by name. Subclasses set ``pyiqa_name`` and the metric fields."""

    pyiqa_name: ClassVar[str] = ""
    requires = ("pyiqa",)
    requires_extra = "iqa"
    family = "perceptual"
    _models: ClassVar[dict[str, Any]] = {}

    def _model(self):
        _require_pyiqa(self.name)
        import pyiqa
        import torch

        if self.pyiqa_name not in self._models:
            with no_downloads(f"metric '{self.name}' (pyiqa '{self.pyiqa_name}')"):
                self._models[self.pyiqa_name] = pyiqa.create_metric(self.pyiqa_name, device=torch.device("cpu"), as_loss=False)
            if bool(self._models[self.pyiqa_name].lower_better) == self.higher_is_better:  # pragma: no cover - guards our table
                raise BenchError(f"{self.name}: pyiqa says lower_better={self._models[self.pyiqa_name].lower_better}")
        return self._models[self.pyiqa_name]

    def score(self, output, reference=None, crop_border=0):
        import torch

        model = self._model()
        out = _tensor(crop(output, crop_border)).float()
        if out.shape[1] == 1:
            out = out.repeat(1, 3, 1, 1)
        with torch.no_grad():
            if self.kind == "fr":
                ref = _tensor(crop(_check(output, reference), crop_border)).float()
                if ref.shape[1] == 1:
                    ref = ref.repeat(1, 3, 1, 1)
                return float(model(out, ref))
            return float(model(out))


def _pyiqa_metric(pname: str, name: str, kind: str, higher: bool, desc: str) -> type[PyIQAMetric]:
    conventions = {"space": "RGB in [0, 1] (gray repeated to 3 channels)", "implementation": f"pyiqa.create_metric('{pname}')",
                   "weights": "pyiqa's, from $TORCH_HOME/hub (never downloaded by bench)", "crop_border": "run setting"}
    return type(name.upper().replace("-", "_"), (PyIQAMetric,), {
        "name": name, "pyiqa_name": pname, "kind": kind, "higher_is_better": higher, "version": "1",
        "conventions": conventions, "description": desc, "__module__": __name__,
    })


LPIPS = _pyiqa_metric("lpips", "lpips", "fr", False, "LPIPS v0.1, AlexNet (Zhang et al. 2018): learned perceptual distance; lower is closer.")
LPIPS_VGG = _pyiqa_metric("lpips-vgg", "lpips-vgg", "fr", False, "LPIPS v0.1 with VGG16 features.")
DISTS = _pyiqa_metric("dists", "dists", "fr", False, "DISTS (Ding et al. 2020): structure and texture similarity of VGG features; lower is closer.")
MUSIQ = _pyiqa_metric("musiq", "musiq", "nr", True, "MUSIQ (Ke et al. 2021), KonIQ-trained: predicted MOS; higher is better.")
CLIPIQA = _pyiqa_metric("clipiqa", "clipiqa", "nr", True, "CLIP-IQA (Wang et al. 2023): CLIP antonym-prompt quality in [0, 1]; higher is better.")
