"""``ssim`` and ``gan``: JPEG artifact removal after Galteri et al. (ICCV 2017; TMM 2019).

* Generator: :class:`~benchmark.methods.networks.ArtifactGenerator` (strided-convolution
  encoder, residual blocks, nearest-neighbour upsampling + two convolutions), trained on
  aligned 128x128 patches.
* ``ssim``: trained with an SSIM loss (1 - SSIM on RGB in [0, 1]).
* ``gan``: starts from the ``ssim`` generator and trains adversarially with the sub-patch
  discriminator (16x16 sub-patches, each concatenated with its input sub-patch, BCE over
  all sub-patches) plus a feature loss (VGG19 when present, else MobileNetV2) and a small
  SSIM term that keeps colours anchored.
* An ensemble of generators, one per JPEG quality factor (5, 10, 20, 30, 40, 60). A QF
  predictor (a CNN regressor of the quality factor on 64x64 luma crops, median over the
  image's crops) picks, per image, the generator whose QF is closest. ``qf=N`` forces one.
* Geometric self-ensemble (``self_ensemble=1|2|4|8``; Lim et al., EDSR+): the generator also
  runs on the image turned by 180 degrees (2), flipped (4) or every flip/transpose (8), each
  view undone and the outputs averaged. The image is first padded (edge pixels repeated) to a
  multiple of 8, so every view keeps the JPEG 8x8 grid where the generator learnt it. ``ssim``
  uses 2 by default (LIVE1 QF10 +0.06 dB at twice the time, still under 1 s per 768x512 image),
  ``gan`` 1 (averaging views would soften the texture it synthesises).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from benchmark.api import Context, digest
from benchmark.errors import BenchError
from benchmark.methods.adapters.tiled import LIVE_TENSORS, crop_batches
from benchmark.methods.adapters.trainable import TrainableMethod, load_generator
from benchmark.methods.networks import CROP, ENSEMBLE_QFS, QFPredictor, generator_class, nearest_qf, predict_qf


class QFEnsemble(TrainableMethod):
    """An ensemble of per-QF generators chosen per image by the QF predictor, on the shared
    trainable base (weights and cards checked, identity, tiling on the JPEG 8x8 grid)."""

    family_name: ClassVar[str] = ""
    version = "1"
    default_self_ensemble: ClassVar[int] = 1
    tile_multiple = 8  # tiles on the JPEG 8x8 grid

    def __init__(
        self,
        qf: int | str = "auto",
        self_ensemble: int | None = None,
        tile: Any = None,
        overlap: Any = None,
        **params: Any,
    ):
        if "weights" in params:  # silently ignored before: the rows named a file that was never read
            raise ValueError(
                f"{self.name} is an ensemble of per-QF weights and takes no weights=; put your "
                f"'{self.family_name}-qf*.safetensors' files in $BENCH_WEIGHTS_DIR instead"
            )
        if qf != "auto":
            try:
                ok = 1 <= float(qf) <= 100
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise BenchError(
                    f"{self.name}: qf={qf} is not a JPEG quality: give qf=auto (the QF predictor picks the "
                    f"generator per frame) or a number 1..100 (the nearest of {', '.join(map(str, ENSEMBLE_QFS))} is used)"
                )
        n = self.default_self_ensemble if self_ensemble is None else int(self_ensemble)
        if n not in VIEWS:
            raise BenchError(
                f"{self.name}: self_ensemble={self_ensemble} is not one of {', '.join(map(str, VIEWS))} "
                "(1: the image alone; 2: + turned 180 degrees; 4: + flips; 8: every flip and transpose)"
            )
        given = {"self_ensemble": n} if self_ensemble is not None and n != self.default_self_ensemble else {}
        super().__init__(None, tile, overlap, **({"qf": qf} if qf != "auto" else {}), **given, **params)
        self.qf = qf
        self.self_ensemble = n
        self.models: dict[int, Any] = {}
        self.predictor = None

    def weights_names(self) -> list[str]:
        """One generator per ensemble QF, and the QF predictor."""
        return [*self.member_names(), "qf-predictor"]

    def member_names(self) -> list[str]:
        return [f"{self.family_name}-qf{q}" for q in ENSEMBLE_QFS]

    def identify_weights(self) -> str:
        return digest([self.cards[n]["sha256"] for n in self.member_names()], self.cards["qf-predictor"]["sha256"])

    def versioned_cards(self) -> list[dict[str, Any]]:
        return [self.cards[n] for n in self.member_names()]

    def setup(self, device: str) -> None:
        self.device = device
        for q, name in zip(ENSEMBLE_QFS, self.member_names()):
            cls = generator_class(self.cards[name].get("architecture", {}))
            self.models[q], _ = load_generator(name, cls, None, device, self.weights_dir)
        self.predictor, _ = load_generator("qf-predictor", QFPredictor, None, device, self.weights_dir)

    def network(self):
        """Every network the ensemble holds: the per-QF generators and the QF predictor (for the run's cost rows)."""
        return [*self.models.values(), self.predictor] if self.predictor is not None else None

    def choose(self, frame: np.ndarray) -> int:
        if self.qf != "auto":
            return nearest_qf(float(self.qf))
        crops = (frame.shape[0] // CROP) * (frame.shape[1] // CROP)  # the decision is on the whole frame, in chunks
        per_crop = LIVE_TENSORS * 4 * self.predictor.net[0].out_channels * (CROP // 8) ** 2
        return nearest_qf(predict_qf(self.predictor, frame, self.device, crop_batches(crops, per_crop, self.device)))

    def process(self, frames: list[np.ndarray], ctx: Context) -> list[np.ndarray]:
        import torch

        if self.predictor is None:
            self.setup(ctx.device)
        out = []
        with torch.inference_mode():
            for f in frames:
                g = self.models[self.choose(f)]  # one generator for every tile of the frame

                def fn(x, g=g):
                    return self_ensemble(g, x, self.self_ensemble)

                out += self.run(g, fn, [f])
        return out


# (transpose, flip rows, flip columns) of each view, in the order the views are added
VIEWS = {
    1: [(False, False, False)],
    2: [(False, False, False), (False, True, True)],
    4: [(False, False, False), (False, True, True), (False, False, True), (False, True, False)],
}
VIEWS[8] = VIEWS[4] + [(True, r, c) for r, c in ((False, False), (True, True), (False, True), (True, False))]


def self_ensemble(g, x, n: int = 1):
    """The mean of ``g`` over ``n`` views of ``x`` (N x C x H x W), each view undone. For n > 1
    the image is padded to a multiple of 8 first (edge pixels repeated at the right and bottom),
    so that every view keeps the 8x8 coding grid where it was; the pad is cropped off again."""
    import torch
    import torch.nn.functional as F

    if n == 1:
        return g(x)
    h, w = x.shape[-2:]
    xp = F.pad(x, (0, -w % 8, 0, -h % 8), mode="replicate")
    acc = None
    for transpose, rows, cols in VIEWS[n]:
        dims = [d for d, on in ((2, rows), (3, cols)) if on]
        v = xp.transpose(2, 3) if transpose else xp
        v = torch.flip(v, dims) if dims else v
        o = g(v)
        o = torch.flip(o, dims) if dims else o
        o = o.transpose(2, 3) if transpose else o
        acc = o if acc is None else acc + o
    return (acc / n)[..., :h, :w]


class SSIMMethod(QFEnsemble):
    name = "ssim"
    family_name = "ssim"
    version = "2"  # 2: geometric self-ensemble of 2 views by default
    default_self_ensemble = 2
    description = "Galteri et al.'s residual generator trained with an SSIM loss; per-image QF-predicted ensemble (QF 5-60); 2-view geometric self-ensemble (self_ensemble=1|2|4|8)."


class GANMethod(QFEnsemble):
    name = "gan"
    family_name = "gan"
    description = (
        "Galteri et al.'s GAN: sub-patch discriminator + feature loss; per-image QF-predicted ensemble (QF 5-60)."
    )
