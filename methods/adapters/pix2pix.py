"""``pix2pix``: U-Net generator with skips + conditional PatchGAN, loss GAN + lambda * L1
(Isola et al. 2017), as used to restore decoded low-bitrate H.264 frames. ``lambda`` is a
training setting; weights for lambda 100 and 1000 ship (``pix2pix-l100``, ``pix2pix-l1000``);
the method takes ``lam=100|1000`` (default 1000, which kept PSNR above the input's in the
original H.264 use). ``ssim_weight`` (training) adds ``w * (1 - SSIM)`` to the L1 term that lambda
weighs; the shipped weights use 0.5, trained on inter-coded clips (``bsd200-pan-qp46``): L1 alone
blurs the texture it cannot restore, which lowered SSIM below the decoded frames' on the recipe's
clip (see methods/configs/pix2pix-ssim.toml)."""

from __future__ import annotations

from typing import Any

from benchmark.methods.adapters.trainable import TrainableMethod
from benchmark.methods.networks import UNetGenerator


class Pix2Pix(TrainableMethod):
    name = "pix2pix"
    version = "1"
    description = "pix2pix U-Net + PatchGAN (GAN + lambda*L1), trained on H.264 (QP 46) frames; lam=100 or 1000."
    build = staticmethod(UNetGenerator)
    tile_multiple = 16  # H.264 macroblocks and the shipped U-Net's 2^4 strides
    tile_overlap = 64  # its receptive field is wide

    def __init__(self, lam: int = 1000, weights: str | None = None, **params: Any):
        if int(lam) not in (100, 1000) and weights is None:
            raise ValueError(
                f"pix2pix: weights ship for lam=100 and lam=1000, not {lam}; train others with `bench train pix2pix --param lambda=...`"
            )
        self.weights_name = f"pix2pix-l{int(lam)}"
        super().__init__(weights=weights, lam=int(lam), **params)
