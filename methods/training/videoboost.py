"""Training recipe of ``videoboost`` (x5): the discriminator first learns real frames against bicubic
upscales, then is frozen, and the generator learns against it (plus L1 and feature losses); the
adapter is :mod:`benchmark.methods.adapters.videoboost`."""

from __future__ import annotations

from benchmark.methods.networks import VGGDiscriminator, VideoBoostGenerator
from benchmark.methods.training.trainer import Recipe


class VideoBoostRecipe(Recipe):
    name = "videoboost"
    default_data = ["bsd200-x5"]
    defaults = {
        "ch": 32,
        "blocks": 4,
        "scale": 5,
        "d_ch": 32,
        "d_pretrain_steps": 100,
        "adv_weight": 1e-3,
        "feat_weight": 0.2,
    }
    paper_config = {"note": "VideoBoost trains on video frames at 144p -> 720p; a GPU budget of ~100k steps"}

    def architecture(self):
        return {"ch": int(self.p["ch"]), "blocks": int(self.p["blocks"]), "scale": int(self.p["scale"])}

    def build(self):
        import torch

        from benchmark.methods.training.losses import FeatureLoss

        self.models["generator"] = VideoBoostGenerator(**self.architecture())
        self.models["discriminator"] = VGGDiscriminator(int(self.p["d_ch"]))
        for k, m in self.models.items():
            self.optims[k] = torch.optim.Adam(m.parameters(), lr=self.cfg.lr)
        self.features = FeatureLoss(self.device)
        self.p["perceptual_backbone"] = self.features.backbone

    def step(self, x, y):
        import torch
        import torch.nn.functional as F

        g, d = self.models["generator"], self.models["discriminator"]
        if (
            self.step_number <= int(self.p["d_pretrain_steps"])
        ):  # phase 1 (by the run's step number: a resumed run stays in its phase): the judge learns real frames vs bicubic
            bic = F.interpolate(x, scale_factor=int(self.p["scale"]), mode="bicubic", align_corners=False)
            real, fake = d(y), d(bic)
            loss = F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + F.binary_cross_entropy_with_logits(
                fake, torch.zeros_like(fake)
            )
            self.optims["discriminator"].zero_grad()
            loss.backward()
            self.optims["discriminator"].step()
            return {"d_pretrain": loss.item()}
        d.requires_grad_(False).eval()  # phase 2: frozen
        out = g(x)
        adv = F.binary_cross_entropy_with_logits(d(out), torch.ones(out.shape[0], 1, device=out.device))
        l1 = (out - y).abs().mean()
        feat = self.features(out, y)
        loss = l1 + self.p["feat_weight"] * feat + self.p["adv_weight"] * adv
        self.optims["generator"].zero_grad()
        loss.backward()
        self.optims["generator"].step()
        return {"l1": l1.item(), "g_feat": feat.item(), "g_adv": adv.item()}
