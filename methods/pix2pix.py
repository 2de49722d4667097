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

from .galteri import SSIMRecipe
from .nets import PatchDiscriminator, UNetGenerator
from .trainable import TrainableMethod
from .training import Recipe


class Pix2PixRecipe(Recipe):
    name = "pix2pix"
    default_data = ["bsd200-pan-qp46"]
    defaults = {"ch": 16, "depth": 4, "lambda": 100.0, "d_ch": 32, "adv_from": 0, "ssim_weight": 0.0, "d_lr_scale": 1.0}
    paper_config = {"ch": 64, "depth": 8, "lambda": 100, "patch": 256, "batch": 1, "steps": 200000, "optimiser": "Adam 2e-4, betas 0.5/0.999"}

    def architecture(self):
        return {"ch": int(self.p["ch"]), "depth": int(self.p["depth"])}

    def build(self):
        import torch

        self.models["generator"] = UNetGenerator(**self.architecture())
        self.models["discriminator"] = PatchDiscriminator(int(self.p["d_ch"]))
        for k, m in self.models.items():
            self.optims[k] = torch.optim.Adam(m.parameters(), lr=self.cfg.lr, betas=(0.5, 0.999))
        # the trainer sets every group's lr to schedule(step) x lr_scale: d_lr_scale > 1 lets the
        # discriminator learn faster than a generator that is only being fine-tuned
        self.optims["discriminator"].param_groups[0]["lr_scale"] = float(self.p["d_lr_scale"])

    def step(self, x, y):
        import torch
        import torch.nn.functional as F

        g, d = self.models["generator"], self.models["discriminator"]
        out = g(x)
        l1 = (out - y).abs().mean()  # on the [-1, 1] scale of the tensors, as pix2pix's lambda assumes
        w = float(self.p["ssim_weight"])
        # the pixel term lambda multiplies: L1 alone in pix2pix; with ssim_weight > 0, L1 + w * (1 - SSIM)
        # (Zhao et al.'s mixed loss), which keeps the contrast of texture that L1 alone averages away
        ssim = SSIMRecipe.ssim_loss(out, y) if w > 0 else None
        pixel = l1 + w * ssim if ssim is not None else l1
        parts = {"l1": l1.item(), **({"ssim_loss": ssim.item()} if ssim is not None else {})}
        if self.step_number <= int(self.p["adv_from"]):  # L1-only warm-up: the generator learns to restore first
            self.optims["generator"].zero_grad()
            pixel.backward()
            self.optims["generator"].step()
            return {"g_adv": float("nan"), **parts, "d_loss": float("nan")}
        real, fake = d(y, x), d(out.detach(), x)
        d_loss = 0.5 * (F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
        self.optims["discriminator"].zero_grad()
        d_loss.backward()
        self.optims["discriminator"].step()
        adv = F.binary_cross_entropy_with_logits(d(out, x), torch.ones_like(fake))
        loss = adv + float(self.p["lambda"]) * pixel
        self.optims["generator"].zero_grad()
        loss.backward()
        self.optims["generator"].step()
        return {"g_adv": adv.item(), **parts, "d_loss": d_loss.item()}


class Pix2Pix(TrainableMethod):
    name = "pix2pix"
    version = "1"
    description = "pix2pix U-Net + PatchGAN (GAN + lambda*L1), trained on H.264 (QP 46) frames; lam=100 or 1000."
    build = staticmethod(UNetGenerator)
    tile_multiple = 16  # H.264 macroblocks and the shipped U-Net's 2^4 strides
    tile_overlap = 64  # its receptive field is wide

    def __init__(self, lam: int = 1000, weights: str | None = None, **params: Any):
        if int(lam) not in (100, 1000) and weights is None:
            raise ValueError(f"pix2pix: weights ship for lam=100 and lam=1000, not {lam}; train others with `bench train pix2pix --param lambda=...`")
        self.weights_name = f"pix2pix-l{int(lam)}"
        super().__init__(weights=weights, lam=int(lam), **params)
