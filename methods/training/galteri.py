"""Training recipes of ``ssim``, ``gan`` and the QF predictor (Galteri et al., ICCV 2017; TMM 2019);
the adapters that run the trained ensemble are in :mod:`benchmark.methods.adapters.galteri`.

* ``ssim``: the generator trained with an SSIM loss (1 - SSIM on RGB in [0, 1]) and an L1 term.
* ``gan``: starts from the ``ssim`` generator and trains adversarially with the sub-patch
  discriminator (16x16 sub-patches, each concatenated with its input sub-patch, BCE over
  all sub-patches) plus a feature loss (VGG19 when present, else MobileNetV2) and a small
  SSIM term that keeps colours anchored.
* ``qf-predictor``: a CNN regressor of the JPEG quality factor on 64x64 luma crops.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.errors import BenchError
from benchmark.methods.networks import (
    CROP,
    ENSEMBLE_QFS,
    GENERATORS,
    QFPredictor,
    SubPatchDiscriminator,
    build_generator,
    luma_crops,
    nearest_qf,
    predict_qf,
)
from benchmark.methods.training.losses import ssim_loss
from benchmark.methods.training.trainer import Recipe


def parse_qf_range(value: Any) -> tuple[int, int]:
    """``10`` -> (10, 10); ``"5-60"`` -> (5, 60)."""
    lo, _, hi = str(value).partition("-")
    try:
        lo_i, hi_i = int(lo), int(hi or lo)
    except ValueError:
        raise BenchError(f"qf={value!r}: expected a quality factor (20) or a range (5-60)") from None
    if not 1 <= lo_i <= hi_i <= 100:
        raise BenchError(f"qf={value!r}: quality factors must satisfy 1 <= low <= high <= 100")
    return lo_i, hi_i


class SSIMRecipe(Recipe):
    """``ssim``: the generator trained for SSIM with a pixel (L1) term that carries PSNR.

    Training pairs are made on the fly when ``qf`` is set (``qf=5-60`` for the base model,
    ``qf=10`` for an ensemble member): random crops of the training references (on the
    16-pixel JPEG MCU grid, random flips and transposes), a fraction ``gray`` of them taken
    to BT.601 Y (the grayscale protocol), JPEG-compressed with OpenCV at a random QF of the
    range. Without ``qf`` the pairs come from the data sets' own degraded frames."""

    name = "ssim"
    default_data = [f"bsd200-qf{q}" for q in ENSEMBLE_QFS]
    defaults = {"arch": "HalfResGenerator", "ch": 64, "depth": 10, "ssim_weight": 0.1, "pixel_weight": 1.0, "gray": 0.2}
    paper_config = {
        "arch": "ArtifactGenerator",
        "ch": 64,
        "blocks": 15,
        "patch": 128,
        "batch": 16,
        "steps": 100000,
        "note": "Galteri et al. train on ImageNet/MSCOCO patches",
    }

    def architecture(self):
        if self.p["arch"] == "ArtifactGenerator":
            return {"class": "ArtifactGenerator", "ch": int(self.p["ch"]), "blocks": int(self.p.get("blocks", 6))}
        if self.p["arch"] == "HalfResGenerator":
            fold = int(
                self.p.get("fold", 2)
            )  # fold and blocks are recorded only when not 2 / 0, so older cards read the same
            blocks = int(self.p.get("blocks", 0))
            return {
                "class": "HalfResGenerator",
                "ch": int(self.p["ch"]),
                "depth": int(self.p["depth"]),
                **({"fold": fold} if fold != 2 else {}),
                **({"blocks": blocks} if blocks else {}),
            }
        raise BenchError(f"arch={self.p['arch']!r}: use one of {', '.join(GENERATORS)}")

    def build(self):
        import torch

        self.models["generator"] = build_generator(self.architecture())
        self.optims["generator"] = torch.optim.Adam(self.models["generator"].parameters(), lr=self.cfg.lr)

    def sample(self, source, rng, batch, patch):
        if self.p.get("qf") in (None, ""):
            return source.sample(rng, batch, patch)
        from benchmark.core.imaging import rgb_to_y_uint8
        from benchmark.methods.training.pairs import augment, to_tensor

        lo, hi = parse_qf_range(self.p["qf"])
        if not hasattr(self, "_refs"):
            seen: dict[str, np.ndarray] = {}
            for _, ref, key in source.train:
                seen.setdefault(key.split("/", 1)[-1], ref)
            self._refs = [r for r in seen.values() if min(r.shape[:2]) >= patch]
            if not self._refs:
                raise BenchError(f"no training frame is at least {patch}x{patch} (the patch size)")
        xs, ys = [], []
        for _ in range(batch):
            ref = self._refs[rng.integers(len(self._refs))]
            h, w = ref.shape[:2]
            i, j = int(rng.integers(0, (h - patch) // 16 + 1)) * 16, int(rng.integers(0, (w - patch) // 16 + 1)) * 16
            y = np.ascontiguousarray(augment(rng, ref[i : i + patch, j : j + patch])[0])
            if y.shape[2] == 3 and rng.random() < float(self.p["gray"]):
                y = rgb_to_y_uint8(y)
            x = jpeg(y, int(rng.integers(lo, hi + 1)))
            if y.shape[2] == 1:
                x, y = np.repeat(x, 3, 2), np.repeat(y, 3, 2)
            xs.append(x)
            ys.append(y)
        return to_tensor(np.stack(xs)), to_tensor(np.stack(ys))

    def restoration_loss(self, out, y) -> tuple[Any, dict[str, float]]:
        ssim = ssim_loss(out, y)
        pixel = (out - y).abs().mean() / 2  # L1 on [0, 1]
        return self.p["ssim_weight"] * ssim + self.p["pixel_weight"] * pixel, {
            "ssim_loss": ssim.item(),
            "l1": pixel.item(),
        }

    def step(self, x, y):
        out = self.models["generator"](x)
        loss, parts = self.restoration_loss(out, y)
        opt = self.optims["generator"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        return parts


class GANRecipe(SSIMRecipe):
    """``gan``: the ``ssim`` member of the same QF fine-tuned adversarially with the
    sub-patch discriminator (every 16x16 sub-patch, concatenated with its input, gets a
    real/fake logit), a feature loss (VGG19 when present, else MobileNetV2) and the
    ``ssim`` recipe's restoration loss, which keeps colours and content anchored."""

    name = "gan"
    defaults = {**SSIMRecipe.defaults, "adv_weight": 1e-3, "feat_weight": 1.0, "sub": 16, "d_lr_scale": 1.0}
    paper_config = {**SSIMRecipe.paper_config, "init": "the ssim generator of the same QF", "adv_weight": 1e-3}

    def build(self):
        import torch

        from benchmark.methods.training.losses import FeatureLoss

        super().build()
        self.models["discriminator"] = SubPatchDiscriminator(sub=int(self.p["sub"]))
        self.optims["discriminator"] = torch.optim.Adam(
            self.models["discriminator"].parameters(), lr=self.cfg.lr, betas=(0.5, 0.999)
        )
        # the trainer sets every group's lr to schedule(step) x lr_scale: the discriminator learns faster
        self.optims["discriminator"].param_groups[0]["lr_scale"] = float(self.p["d_lr_scale"])
        self.features = FeatureLoss(self.device)
        self.p["perceptual_backbone"] = self.features.backbone

    def step(self, x, y):
        import torch
        import torch.nn.functional as F

        g, d = self.models["generator"], self.models["discriminator"]
        out = g(x)
        # discriminator: real (reference, input) vs fake (output, input), every sub-patch
        real, fake = d(y, x), d(out.detach(), x)
        d_loss = F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + F.binary_cross_entropy_with_logits(
            fake, torch.zeros_like(fake)
        )
        self.optims["discriminator"].zero_grad()
        d_loss.backward()
        self.optims["discriminator"].step()
        adv = F.binary_cross_entropy_with_logits(d(out, x), torch.ones_like(fake))
        feat = self.features(out, y)
        restoration, parts = self.restoration_loss(out, y)
        g_loss = self.p["adv_weight"] * adv + self.p["feat_weight"] * feat + restoration
        self.optims["generator"].zero_grad()
        g_loss.backward()
        self.optims["generator"].step()
        return {"g_adv": adv.item(), "g_feat": feat.item(), **parts, "d_loss": d_loss.item()}


def jpeg(frame: np.ndarray, qf: int) -> np.ndarray:
    from benchmark.degradations.jpeg import JPEG

    return JPEG(qf).apply(frame)


class QFRecipe(Recipe):
    """The QF predictor: on-the-fly JPEG at a random integer QF in [5, 60] of random
    64x64 crops of the training set's reference images; L1 regression of QF/100."""

    name = "qf-predictor"
    default_data = ["bsd200"]
    defaults = {"ch": 64, "qf_min": 5, "qf_max": 60}
    paper_config = {"note": "Galteri et al. TMM 2019 train a QF classifier/regressor on a large image set"}

    def architecture(self):
        return {"ch": int(self.p["ch"])}

    def build(self):
        import torch

        self.models["generator"] = QFPredictor(**self.architecture())  # "generator": the exported model
        self.optims["generator"] = torch.optim.Adam(self.models["generator"].parameters(), lr=self.cfg.lr)

    def sample(self, source, rng, batch, patch):
        import torch

        if not hasattr(self, "_big"):
            self._big = [r for _, r, _ in source.train if min(r.shape[:2]) >= 96]
            if not self._big:
                raise BenchError("the QF predictor trains on 96x96 crops: no training frame is that large")
        xs, qs = [], []
        for _ in range(batch):
            ref = self._big[rng.integers(len(self._big))]
            h, w = ref.shape[:2]
            i, j = int(rng.integers(0, (h - 96) // 16 + 1)) * 16, int(rng.integers(0, (w - 96) // 16 + 1)) * 16
            q = int(rng.integers(self.p["qf_min"], self.p["qf_max"] + 1))
            comp = jpeg(np.ascontiguousarray(ref[i : i + 96, j : j + 96]), q)
            xs.append(luma_crops(comp, rng, 1)[0])
            qs.append(q / 100.0)
        return torch.from_numpy(np.stack(xs)).float(), torch.tensor(qs, dtype=torch.float32)

    def step(self, x, q):
        pred = self.models["generator"](x)
        loss = (pred - q).abs().mean()
        self.optims["generator"].zero_grad()
        loss.backward()
        self.optims["generator"].step()
        return {"l1_qf": 100 * loss.item()}

    def validate(self, source) -> dict[str, float]:
        """Mean absolute QF error and ensemble-bin accuracy on the held-out references."""
        errs, hits = [], []
        for _, ref, _ in source.val:
            if min(ref.shape[:2]) < CROP:
                continue
            for q in ENSEMBLE_QFS:
                p = predict_qf(self.models["generator"], jpeg(ref, q), self.device)
                errs.append(abs(p - q))
                hits.append(nearest_qf(p) == q)
        return {"val_qf_mae": float(np.mean(errs)), "val_bin_accuracy": float(np.mean(hits))}
