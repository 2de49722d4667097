"""Training recipe of ``pix2pix`` (Isola et al. 2017): U-Net generator + conditional PatchGAN, loss
GAN + lambda * (L1 [+ w * (1 - SSIM)]); the adapter is :mod:`benchmark.methods.adapters.pix2pix`."""

from __future__ import annotations

from benchmark.methods.networks import PatchDiscriminator, UNetGenerator
from benchmark.methods.training.losses import ssim_loss
from benchmark.methods.training.trainer import Recipe


class Pix2PixRecipe(Recipe):
    name = "pix2pix"
    default_data = ["bsd200-pan-qp46"]
    defaults = {"ch": 16, "depth": 4, "lambda": 100.0, "d_ch": 32, "adv_from": 0, "ssim_weight": 0.0, "d_lr_scale": 1.0}
    paper_config = {
        "ch": 64,
        "depth": 8,
        "lambda": 100,
        "patch": 256,
        "batch": 1,
        "steps": 200000,
        "optimiser": "Adam 2e-4, betas 0.5/0.999",
    }

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
        ssim = ssim_loss(out, y) if w > 0 else None
        pixel = l1 + w * ssim if ssim is not None else l1
        parts = {"l1": l1.item(), **({"ssim_loss": ssim.item()} if ssim is not None else {})}
        if self.step_number <= int(self.p["adv_from"]):  # L1-only warm-up: the generator learns to restore first
            self.optims["generator"].zero_grad()
            pixel.backward()
            self.optims["generator"].step()
            return {"g_adv": float("nan"), **parts, "d_loss": float("nan")}
        real, fake = d(y, x), d(out.detach(), x)
        d_loss = 0.5 * (
            F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
            + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
        )
        self.optims["discriminator"].zero_grad()
        d_loss.backward()
        self.optims["discriminator"].step()
        adv = F.binary_cross_entropy_with_logits(d(out, x), torch.ones_like(fake))
        loss = adv + float(self.p["lambda"]) * pixel
        self.optims["generator"].zero_grad()
        loss.backward()
        self.optims["generator"].step()
        return {"g_adv": adv.item(), **parts, "d_loss": d_loss.item()}
