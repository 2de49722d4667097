"""``ssim`` and ``gan``: JPEG artifact removal after Galteri et al. (ICCV 2017; TMM 2019).

* Generator: :class:`~benchmark.methods.nets.ArtifactGenerator` (strided-convolution
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

from benchmark.api import Context, Method
from benchmark.errors import BenchError

from .nets import ArtifactGenerator, HalfResGenerator, QFPredictor, SubPatchDiscriminator
from .tiled import LIVE_TENSORS, Tiling, crop_batches, tiling_settings
from .trainable import frames_to_tensor, load_generator, tensor_to_frames, versioned, weights_file
from .training import Recipe

ENSEMBLE_QFS = (5, 10, 20, 30, 40, 60)
CROP = 64


# ----------------------------------------------------------------------------- training recipes
GENERATORS = {"HalfResGenerator": HalfResGenerator, "ArtifactGenerator": ArtifactGenerator}


def generator_class(arch: dict[str, Any]):
    """The network a card's ``architecture`` names (``class``; cards without one are Galteri's
    ArtifactGenerator)."""
    return GENERATORS[arch.get("class", "ArtifactGenerator")]


def build_generator(arch: dict[str, Any]):
    """A generator from a card's ``architecture``."""
    return generator_class(arch)(**{k: v for k, v in arch.items() if k != "class"})


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
    paper_config = {"arch": "ArtifactGenerator", "ch": 64, "blocks": 15, "patch": 128, "batch": 16, "steps": 100000, "note": "Galteri et al. train on ImageNet/MSCOCO patches"}

    def architecture(self):
        if self.p["arch"] == "ArtifactGenerator":
            return {"class": "ArtifactGenerator", "ch": int(self.p["ch"]), "blocks": int(self.p.get("blocks", 6))}
        if self.p["arch"] == "HalfResGenerator":
            fold = int(self.p.get("fold", 2))  # fold and blocks are recorded only when not 2 / 0, so older cards read the same
            blocks = int(self.p.get("blocks", 0))
            return {"class": "HalfResGenerator", "ch": int(self.p["ch"]), "depth": int(self.p["depth"]),
                    **({"fold": fold} if fold != 2 else {}), **({"blocks": blocks} if blocks else {})}
        raise BenchError(f"arch={self.p['arch']!r}: use one of {', '.join(GENERATORS)}")

    def build(self):
        import torch

        self.models["generator"] = build_generator(self.architecture())
        self.optims["generator"] = torch.optim.Adam(self.models["generator"].parameters(), lr=self.cfg.lr)

    def sample(self, source, rng, batch, patch):
        if self.p.get("qf") in (None, ""):
            return source.sample(rng, batch, patch)
        from .training import augment, to_tensor
        from benchmark.imaging import rgb_to_y_uint8

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
            y = np.ascontiguousarray(augment(rng, ref[i: i + patch, j: j + patch])[0])
            if y.shape[2] == 3 and rng.random() < float(self.p["gray"]):
                y = rgb_to_y_uint8(y)
            x = jpeg(y, int(rng.integers(lo, hi + 1)))
            if y.shape[2] == 1:
                x, y = np.repeat(x, 3, 2), np.repeat(y, 3, 2)
            xs.append(x)
            ys.append(y)
        return to_tensor(np.stack(xs)), to_tensor(np.stack(ys))

    @staticmethod
    def ssim_loss(out, y):
        import piq

        return 1 - piq.ssim(((out + 1) / 2).clamp(0, 1), (y + 1) / 2, data_range=1.0)

    def restoration_loss(self, out, y) -> tuple[Any, dict[str, float]]:
        ssim = self.ssim_loss(out, y)
        pixel = (out - y).abs().mean() / 2  # L1 on [0, 1]
        return self.p["ssim_weight"] * ssim + self.p["pixel_weight"] * pixel, {"ssim_loss": ssim.item(), "l1": pixel.item()}

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

        from .perceptual import FeatureLoss

        super().build()
        self.models["discriminator"] = SubPatchDiscriminator(sub=int(self.p["sub"]))
        self.optims["discriminator"] = torch.optim.Adam(self.models["discriminator"].parameters(), lr=self.cfg.lr, betas=(0.5, 0.999))
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
        d_loss = F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
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


def luma_crops(frame: np.ndarray, rng: np.random.Generator | None = None, n: int | None = None) -> np.ndarray:
    """64x64 luma crops on the 16-pixel grid (JPEG MCU): random ones (training) or a
    regular grid (prediction). Returns N x 1 x 64 x 64 in [-1, 1]."""
    from benchmark.imaging import rgb_to_y

    y = rgb_to_y(frame) if frame.shape[2] == 3 else frame[..., 0].astype(np.float64)
    h, w = y.shape
    if h < CROP or w < CROP:
        raise ValueError(f"the QF predictor needs at least {CROP}x{CROP} pixels, got {w}x{h}")
    if rng is not None:
        pos = [(int(rng.integers(0, (h - CROP) // 16 + 1)) * 16, int(rng.integers(0, (w - CROP) // 16 + 1)) * 16) for _ in range(n or 1)]
    else:
        pos = [(i, j) for i in range(0, h - CROP + 1, CROP) for j in range(0, w - CROP + 1, CROP)]
    return np.stack([y[i: i + CROP, j: j + CROP] for i, j in pos])[:, None] / 127.5 - 1.0


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
            comp = jpeg(np.ascontiguousarray(ref[i: i + 96, j: j + 96]), q)
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


def predict_qf(model, frame: np.ndarray, device: str = "cpu", per_call: int | None = None) -> float:
    """The median predicted QF over every crop of the whole frame, ``per_call`` crops at a time
    (all at once by default, and whenever they fit the memory budget: see methods/tiled.py)."""
    import torch

    crops = luma_crops(frame)
    step = per_call or len(crops)
    model.eval()
    with torch.inference_mode():
        pred = np.concatenate([model(torch.from_numpy(crops[i:i + step]).float().to(device)).cpu().numpy() * 100
                               for i in range(0, len(crops), step)])
    model.train()
    return float(np.median(pred))


def nearest_qf(qf: float, choices=ENSEMBLE_QFS) -> int:
    return min(choices, key=lambda c: abs(c - qf))


# ----------------------------------------------------------------------------- method adapters
class QFEnsemble(Method):
    """An ensemble of per-QF generators chosen per image by the QF predictor."""

    family_name: ClassVar[str] = ""
    version = "1"
    default_self_ensemble: ClassVar[int] = 1

    def __init__(self, qf: int | str = "auto", self_ensemble: int | None = None, tile: Any = None, overlap: Any = None, **params: Any):
        if "weights" in params:  # silently ignored before: the rows named a file that was never read
            raise ValueError(f"{self.name} is an ensemble of per-QF weights and takes no weights=; put your "
                             f"'{self.family_name}-qf*.safetensors' files in $BENCH_WEIGHTS_DIR instead")
        if qf != "auto":
            try:
                ok = 1 <= float(qf) <= 100
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise BenchError(f"{self.name}: qf={qf} is not a JPEG quality: give qf=auto (the QF predictor picks the "
                                 f"generator per frame) or a number 1..100 (the nearest of {', '.join(map(str, ENSEMBLE_QFS))} is used)")
        n = self.default_self_ensemble if self_ensemble is None else int(self_ensemble)
        if n not in VIEWS:
            raise BenchError(f"{self.name}: self_ensemble={self_ensemble} is not one of {', '.join(map(str, VIEWS))} "
                             "(1: the image alone; 2: + turned 180 degrees; 4: + flips; 8: every flip and transpose)")
        given = {"self_ensemble": n} if self_ensemble is not None and n != self.default_self_ensemble else {}
        super().__init__(**({"qf": qf} if qf != "auto" else {}), **given, **params, **tiling_settings(tile, overlap))
        self.tiling = Tiling(tile, overlap, multiple=8)  # tiles on the JPEG 8x8 grid
        self.qf = qf
        self.self_ensemble = n
        self.cards = {q: weights_file(f"{self.family_name}-qf{q}")[1] for q in ENSEMBLE_QFS}
        pred = weights_file("qf-predictor")[1]
        from benchmark.api import digest

        self.weights_hash = digest([self.cards[q]["sha256"] for q in ENSEMBLE_QFS], pred["sha256"])
        self.version = versioned(type(self).version, list(self.cards.values()))
        self.models: dict[int, Any] = {}
        self.predictor = None

    def setup(self, device: str) -> None:
        self.device = device
        for q in ENSEMBLE_QFS:
            cls = generator_class(self.cards[q].get("architecture", {}))
            self.models[q], _ = load_generator(f"{self.family_name}-qf{q}", cls, None, device)
        self.predictor, _ = load_generator("qf-predictor", QFPredictor, None, device)

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

                out += self.tiling.restore(g, fn, [f], self.device, 1, lambda fs: tensor_to_frames(fn(frames_to_tensor(fs, self.device)), fs))
        return out


# (transpose, flip rows, flip columns) of each view, in the order the views are added
VIEWS = {1: [(False, False, False)],
         2: [(False, False, False), (False, True, True)],
         4: [(False, False, False), (False, True, True), (False, False, True), (False, True, False)]}
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
    description = "Galteri et al.'s GAN: sub-patch discriminator + feature loss; per-image QF-predicted ensemble (QF 5-60)."


def confusion_table(model, dataset_names: list[str], data_root: str | None, out=None):
    """Compress every reference of the data sets at each ensemble QF, predict, and count
    (true QF, chosen ensemble QF). Returns a rich table and, with ``out``, the folder where
    tidy rows (``qf-confusion/<true>/<pred>``, ``qf-accuracy/<true>``) were written."""
    import time
    from pathlib import Path

    from rich.table import Table

    from benchmark.datasets.base import data_root as resolve_root
    from benchmark.names import resolve
    from benchmark.results import now_utc, to_frame, write_manifest, write_scores

    root = resolve_root(data_root)
    counts = {t: {p: 0 for p in ENSEMBLE_QFS} for t in ENSEMBLE_QFS}
    n_images = 0
    for name in dataset_names:
        spec = resolve(name, root)
        for item in spec.dataset.items():
            ref = next(item.frames())
            n_images += 1
            for q in ENSEMBLE_QFS:
                counts[q][nearest_qf(predict_qf(model, jpeg(ref, q)))] += 1
    table = Table(title=f"QF predictor on {' + '.join(dataset_names)} ({n_images} images x {len(ENSEMBLE_QFS)} QFs); rows: true QF, columns: chosen QF")
    table.add_column("true QF")
    for p in ENSEMBLE_QFS:
        table.add_column(str(p), justify="right")
    table.add_column("diagonal", justify="right")
    for t in ENSEMBLE_QFS:
        total = sum(counts[t].values())
        table.add_row(str(t), *[str(counts[t][p]) for p in ENSEMBLE_QFS], f"{100 * counts[t][t] / total:.1f}%")
    path = None
    if out is not None:
        label = "+".join(dataset_names)
        base = {"run_id": f"qf-confusion-{time.strftime('%Y%m%d-%H%M%S')}", "dataset": label, "base": label, "degradation": "qf" + ",".join(map(str, ENSEMBLE_QFS)),
                "item_id": "*", "frame": -1, "scope": "dataset", "method": "qf-predictor", "method_version": "1", "metric_version": "1",
                "crop_border": 0, "bpp": float("nan"), "bitrate_kbps": float("nan"), "elapsed_s": float("nan"), "status": "ok", "error": None}
        rows = [{**base, "metric": f"qf-confusion/{t}/{p}", "value": float(counts[t][p]), "higher_is_better": True, "unit": "images"}
                for t in ENSEMBLE_QFS for p in ENSEMBLE_QFS]
        rows += [{**base, "metric": f"qf-accuracy/{t}", "value": counts[t][t] / sum(counts[t].values()), "higher_is_better": True, "unit": "fraction"}
                 for t in ENSEMBLE_QFS]
        path = Path(out)
        write_scores(path, to_frame(rows))
        write_manifest(path, {"run_id": base["run_id"], "started": now_utc(), "command": ["bench", "predict-qf", "--confusion", *dataset_names],
                              "status": "complete", "rows": len(rows)})
    return table, path
