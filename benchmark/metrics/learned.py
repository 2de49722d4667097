"""MS-SSIM (piq) and the learned no-reference metrics through pyiqa (MUSIQ, CLIP-IQA).

LPIPS and DISTS live in :mod:`.perceptual` (open licenses, no pyiqa); pyiqa's own versions of
them, and any other pyiqa metric, are ``pyiqa:NAME`` (:mod:`.pyiqa_any`).

Learned metrics need their weights on disk: pyiqa keeps them in
``$TORCH_HOME/hub/pyiqa/`` and torchvision backbones in ``$TORCH_HOME/hub/checkpoints/``.
bench never downloads them: when one is missing, the metric fails with an error that
names the file, its URL and the path to put it at (see ``weights.no_downloads``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from benchmark.files.weights import no_downloads

from ..api import Metric, crop
from ..errors import BenchError
from .fidelity import _check


def _require_pyiqa(metric: str):
    try:
        import pyiqa  # noqa: F401  (imports its archs registry)
    except ImportError:
        raise BenchError(
            f"metric '{metric}' uses pyiqa, which is not installed: pip install 'bench-enhance[iqa]' "
            "(pyiqa is PolyForm Noncommercial 1.0.0)"
        ) from None


def _tensor(frame: np.ndarray):
    """HxWxC uint8 -> 1xCxHxW float64 tensor in [0, 1]."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].to(torch.float64) / 255.0


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
            raise ValueError(
                f"ms-ssim needs at least 161x161 pixels (5 scales of an 11x11 window), got {tuple(x.shape[-2:])}"
            )
        return float(piq.multi_scale_ssim(x, y, data_range=1.0, reduction="none"))


# Where pyiqa and torchvision keep (and would download) the files, under torch.hub.get_dir()
# ($TORCH_HOME/hub): "pyiqa/" for pyiqa's own weights, "checkpoints/" for torchvision
# backbones, "clip/" for OpenAI CLIP (pyiqa's clip loader). tests/test_first_hour.py checks
# these names against the installed pyiqa's own URL tables.
_PYIQA_HF = "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/"
_TV = "https://download.pytorch.org/models/"
_CLIP_RN50 = "https://openaipublic.azureedge.net/clip/models/afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt"


class PyIQAMetric(Metric):
    """A pyiqa model by name. Subclasses set ``pyiqa_name``, the metric fields and
    ``weights``: the (folder under torch.hub.get_dir(), URL) of every file pyiqa loads."""

    pyiqa_name: ClassVar[str] = ""
    weights: ClassVar[tuple[tuple[str, str], ...]] = ()
    requires = ("pyiqa",)
    requires_extra = "iqa"
    family = "perceptual"
    _models: ClassVar[dict[str, Any]] = {}

    @classmethod
    def missing_weights(cls) -> list[tuple[str, Path]]:
        """(URL, local path) of each weights file that is not on disk."""
        import torch.hub

        hub = Path(torch.hub.get_dir())
        out = []
        for folder, url in cls.weights:
            path = hub / folder / url.rsplit("/", 1)[-1]
            if not path.is_file():
                out.append((url, path))
        return out

    @classmethod
    def availability(cls) -> str:
        why = super().availability()
        if why:
            return why
        missing = cls.missing_weights()
        if not missing:
            return ""
        return (
            f"weights not on disk (runs never download): run `bench metrics fetch {cls.name}`, or "
            + "; ".join(f"put {path.name} from {url} at {path}" for url, path in missing)
            + " ($TORCH_HOME moves the folder)"
        )

    def _model(self):
        _require_pyiqa(self.name)
        import pyiqa
        import torch

        if self.pyiqa_name not in self._models:
            with no_downloads(f"metric '{self.name}' (pyiqa '{self.pyiqa_name}')"):
                self._models[self.pyiqa_name] = pyiqa.create_metric(
                    self.pyiqa_name, device=torch.device("cpu"), as_loss=False
                )
            if (
                bool(self._models[self.pyiqa_name].lower_better) == self.higher_is_better
            ):  # pragma: no cover - guards our table
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


def _pyiqa_metric(
    pname: str, name: str, kind: str, higher: bool, desc: str, weights: tuple[tuple[str, str], ...]
) -> type[PyIQAMetric]:
    conventions = {
        "space": "RGB in [0, 1] (gray repeated to 3 channels)",
        "implementation": f"pyiqa.create_metric('{pname}')",
        "weights": "pyiqa's, from $TORCH_HOME/hub (never downloaded by bench)",
        "crop_border": "run setting",
    }
    return type(
        name.upper().replace("-", "_"),
        (PyIQAMetric,),
        {
            "name": name,
            "pyiqa_name": pname,
            "kind": kind,
            "higher_is_better": higher,
            "version": "1",
            "conventions": conventions,
            "description": desc,
            "weights": weights,
            "__module__": __name__,
        },
    )


MUSIQ = _pyiqa_metric(
    "musiq",
    "musiq",
    "nr",
    True,
    "MUSIQ (Ke et al. 2021), KonIQ-trained: predicted MOS; higher is better.",
    (("pyiqa", _PYIQA_HF + "musiq_koniq_ckpt-e95806b9.pth"),),
)
CLIPIQA = _pyiqa_metric(
    "clipiqa",
    "clipiqa",
    "nr",
    True,
    "CLIP-IQA (Wang et al. 2023): CLIP antonym-prompt quality in [0, 1]; higher is better.",
    (("clip", _CLIP_RN50),),
)
