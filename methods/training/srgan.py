"""Training recipes of ``srresnet``, ``srgan`` (Ledig et al. 2017, x4) and ``fast-srgan`` (x2); the adapters
are in :mod:`benchmark.methods.adapters.srgan`."""

from __future__ import annotations

from benchmark.methods.networks import FastSRGenerator, SRResNet, VGGDiscriminator
from benchmark.methods.training.trainer import Recipe


class SRResNetRecipe(Recipe):
    """SRResNet trained for fidelity. Shipped configuration: no batch norm (as EDSR found
    better for SR), a bicubic skip (the network predicts the difference to bicubic, its
    last layer starts at zero) and an L1 loss; ``bn=true residual=false loss=mse`` is the
    paper's form."""

    name = "srresnet"
    default_data = ["bsd200-x4"]
    defaults = {"ch": 32, "blocks": 8, "scale": 4, "bn": False, "residual": True, "loss": "l1"}
    paper_config = {
        "ch": 64,
        "blocks": 16,
        "bn": True,
        "residual": False,
        "loss": "mse",
        "patch": 96,
        "batch": 16,
        "steps": 1000000,
        "data": "ImageNet 350k images",
    }
    generator_class = SRResNet

    def architecture(self):
        return {
            "ch": int(self.p["ch"]),
            "blocks": int(self.p["blocks"]),
            "scale": int(self.p["scale"]),
            "bn": _flag(self.p["bn"]),
            "residual": _flag(self.p["residual"]),
        }

    def build(self):
        import torch

        self.models["generator"] = self.generator_class(**self.architecture())
        self.optims["generator"] = torch.optim.Adam(self.models["generator"].parameters(), lr=self.cfg.lr)

    def pixel_loss(self, out, y):
        if self.p.get("loss", "mse") == "l1":
            return (out - y).abs().mean()
        return ((out - y) ** 2).mean()

    def step(self, x, y):
        loss = self.pixel_loss(self.models["generator"](x), y)
        self.optims["generator"].zero_grad()
        loss.backward()
        self.optims["generator"].step()
        return {str(self.p.get("loss", "mse")): loss.item()}


def _flag(value) -> bool:
    return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")


class SRGANRecipe(SRResNetRecipe):
    name = "srgan"
    defaults = {**SRResNetRecipe.defaults, "d_ch": 32, "adv_weight": 1e-3, "feat_weight": 1.0, "pixel_weight": 0.1}
    paper_config = {
        **SRResNetRecipe.paper_config,
        "init": "SRResNet (MSE)",
        "d_ch": 64,
        "adv_weight": 1e-3,
        "steps": 200000,
    }

    def build(self):
        import torch

        from benchmark.methods.training.losses import FeatureLoss

        super().build()
        self.models["discriminator"] = VGGDiscriminator(int(self.p["d_ch"]))
        self.optims["discriminator"] = torch.optim.Adam(
            self.models["discriminator"].parameters(), lr=self.cfg.lr, betas=(0.9, 0.999)
        )
        self.features = FeatureLoss(self.device)
        self.p["perceptual_backbone"] = self.features.backbone

    def step(self, x, y):
        import torch
        import torch.nn.functional as F

        g, d = self.models["generator"], self.models["discriminator"]
        out = g(x)
        real, fake = d(y), d(out.detach())
        d_loss = F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + F.binary_cross_entropy_with_logits(
            fake, torch.zeros_like(fake)
        )
        self.optims["discriminator"].zero_grad()
        d_loss.backward()
        self.optims["discriminator"].step()
        adv = F.binary_cross_entropy_with_logits(d(out), torch.ones_like(fake))
        feat = self.features(out, y)
        pix = self.pixel_loss(out, y)
        loss = self.p["feat_weight"] * feat + self.p["adv_weight"] * adv + self.p["pixel_weight"] * pix
        self.optims["generator"].zero_grad()
        loss.backward()
        self.optims["generator"].step()
        return {
            "g_feat": feat.item(),
            "g_adv": adv.item(),
            str(self.p.get("loss", "mse")): pix.item(),
            "d_loss": d_loss.item(),
        }


class FastSRGANRecipe(SRGANRecipe):
    name = "fast-srgan"
    default_data = ["bsd200-x2"]
    defaults = {
        "ch": 32,
        "blocks": 4,
        "scale": 2,
        "skip": "bicubic",
        "expand": 4,
        "block": "res",
        "loss": "l1",
        "d_ch": 32,
        "adv_weight": 1e-3,
        "feat_weight": 0.2,
        "pixel_weight": 1.0,
    }
    paper_config = {"note": "Fast-SRGAN (H. Arora) trains on DIV2K with a MobileNetV2-style generator, 4x; here x2"}
    generator_class = FastSRGenerator

    def architecture(self):
        return {
            "ch": int(self.p["ch"]),
            "blocks": int(self.p["blocks"]),
            "scale": int(self.p["scale"]),
            "skip": str(self.p["skip"]),
            "expand": int(self.p["expand"]),
            "block": str(self.p["block"]),
        }

    def step(self, x, y):
        if float(self.p["adv_weight"]) == 0 and float(self.p["feat_weight"]) == 0:  # fidelity pre-training
            return SRResNetRecipe.step(self, x, y)
        return super().step(x, y)
