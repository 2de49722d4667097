"""``h264``: a restorer for H.264/HEVC-decoded frames, one model over a range of qualities.

* Network (:class:`H264Net`): a residual CNN at quarter resolution. The frame is folded into
  48 channels at a quarter of its size (pixel-unshuffle by 4, lossless), two quality planes
  are appended (below), ``depth`` 3x3 convolutions of ``ch`` channels with LeakyReLU predict a
  correction that is unfolded (pixel-shuffle) and added to the decoded frame. The last layer
  starts at zero, so the untrained network is the identity. Working at quarter resolution
  makes it fast (the shipped size, 64 channels x 10 layers: 9.1 GMAC on a 720x576 frame) and
  gives it a receptive field of 8 * depth + 4 pixels (84 at depth 10: five 16x16 macroblocks),
  wide enough for the blocking, ringing and smeared texture of inter-coded frames.
* Single-frame: each decoded frame is restored alone (no neighbours, so nothing to align and
  no motion errors to hide; temporal smoothing is ``tsmooth:base=h264``).
* Quality input: one model covers libx264 CRF 25-45. Two constant planes carry the CRF
  ((crf - 35) / 10) and whether it is known. ``crf=auto`` (the default) runs blind (both planes
  zero): the network judges the artifacts itself, as on a real video whose CRF nobody gave.
  ``crf=N`` tells it the encoder's CRF. It was trained both ways (the CRF hidden from half of
  the patches), so either works; the hint can only help where it is right.
* Training (:class:`H264Recipe`, ``bench train h264``): ``bsd200-pan-crf{25,30,35,40,45}``
  (BSDS train photos seen by a panning, zooming camera, 10-frame clips coded by libx264 with
  I, P and B frames, as test clips are), 128x128 patches on the 16x16 macroblock grid with
  random flips and transposes, Charbonnier loss on [0, 1]. Validation: PSNR (RGB) of the
  output (blind and with the CRF known) against the decoded input's on held-out clips, whole
  frames, and the gain at each CRF (``val_gain_crfN``).
* Tiled under the memory budget like every built-in network (:mod:`benchmark.methods.tiled`),
  on the 16-pixel grid (macroblocks; the 4x fold).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from benchmark.api import Context
from benchmark.errors import BenchError
from benchmark.weights import WeightsMissing

from .trainable import TrainableMethod, frames_to_tensor, tensor_to_frames
from .training import Recipe, augment, to_tensor, to_uint8

CRF_CENTER, CRF_SCALE = 35.0, 10.0
GRID = 16  # H.264 macroblocks; a multiple of the 4x fold
LEVEL = re.compile(r"(?:^|[-@])(?:h264|hevc|h265)?(?:crf|qp)(\d+)(?=$|[-:])")


class H264Net(nn.Module):
    """Quarter-resolution residual CNN with a CRF input (see the module's docstring)."""

    def __init__(self, ch: int = 64, depth: int = 10, fold: int = 4, radius: int = 0):
        super().__init__()
        if depth < 2:
            raise ValueError(f"depth={depth}: at least 2 convolutions")
        self.fold, self.radius = int(fold), int(radius)
        self.frames = 2 * self.radius + 1
        c = 3 * self.fold ** 2
        layers: list[nn.Module] = [nn.Conv2d(c * self.frames + 2, ch, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(ch, ch, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True)]
        for m in layers:  # He initialisation (PyTorch's default shrinks the signal layer by layer)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=0.1, nonlinearity="leaky_relu")
                nn.init.zeros_(m.bias)
        tail = nn.Conv2d(ch, c, 3, 1, 1)
        nn.init.zeros_(tail.weight)  # the untrained network is the identity
        nn.init.zeros_(tail.bias)
        self.body = nn.Sequential(*layers, tail)

    def forward(self, x, crf: Any = None):
        """``x``: N x 3k x H x W in [-1, 1], the frames t-r..t+r stacked on channels (k = 2r + 1;
        one frame, k = 1, stands for all of them: a still); ``crf``: None (blind), a number, or N
        numbers (NaN: unknown for that frame). Returns the restored frame t, N x 3 x H x W."""
        if x.shape[1] != 3 * self.frames:
            if x.shape[1] != 3:
                raise ValueError(f"H264Net(radius={self.radius}) takes {self.frames} RGB frames stacked on channels, got {x.shape[1]} channels")
            x = x.repeat(1, self.frames, 1, 1)
        h, w, f = *x.shape[-2:], self.fold
        xp = F.pad(x, (0, (-w) % f, 0, (-h) % f), mode="replicate") if h % f or w % f else x
        y = F.pixel_unshuffle(xp, f)
        xp = xp[:, 3 * self.radius:3 * self.radius + 3]  # the centre frame, which the correction is added to
        n, _, hh, ww = y.shape
        if crf is None:
            q = torch.zeros(n, 2, 1, 1, dtype=y.dtype, device=y.device)
        else:
            c = torch.as_tensor(crf, dtype=y.dtype, device=y.device).reshape(-1).expand(n)
            known = torch.isfinite(c)
            q = torch.stack([torch.where(known, (c - CRF_CENTER) / CRF_SCALE, torch.zeros_like(c)), known.to(y.dtype)], 1)[..., None, None]
        y = self.body(torch.cat([y, q.expand(n, 2, hh, ww)], 1))
        return (xp + F.pixel_shuffle(y, f))[..., :h, :w]


def level_of(name: str) -> float:
    """The CRF (or QP) of a data-set name's codec (``bsd200-pan-crf35``, ``./clips@qp46``); NaN
    when it has none."""
    found = LEVEL.findall(name)
    return float(found[-1]) if found else float("nan")


def key_levels(source) -> dict[str, float]:
    """The CRF of every training and validation key (``<data-set name>/<item>``) of ``source``."""
    names = sorted(source.names, key=len, reverse=True)  # the longest name that prefixes a key is its set
    return {key: next((level_of(n) for n in names if key.startswith(n + "/")), float("nan"))
            for _, _, key in [*source.train, *source.val]}


def share_references(pairs: list[tuple[np.ndarray, np.ndarray, str]]) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """The pairs with one reference array per (item, frame) shared by every level: the same clip
    at five CRFs is held once, not five times."""
    seen: dict[tuple[str, int], np.ndarray] = {}
    count: dict[str, int] = {}
    out = []
    for deg, ref, key in pairs:
        k = count[key] = count.get(key, -1) + 1
        ident = (key.split("/", 1)[-1], k)
        if ident in seen and seen[ident].shape == ref.shape and np.array_equal(seen[ident], ref):
            ref = seen[ident]
        else:
            seen.setdefault(ident, ref)
        out.append((deg, ref, key))
    return out


def clip_spans(pairs: list[tuple[np.ndarray, np.ndarray, str]]) -> list[tuple[int, int]]:
    """For each pair, the [start, end) of the run of consecutive pairs with its key (its clip's
    frames, in order)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(pairs) + 1):
        if i == len(pairs) or pairs[i][2] != pairs[start][2]:
            spans += [(start, i)] * (i - start)
            start = i
    return spans


class H264Recipe(Recipe):
    """``h264``: :class:`H264Net` with a Charbonnier loss, the CRF hidden from a fraction
    ``blind`` of the patches."""

    name = "h264"
    default_data = [f"bsd200-pan-crf{c}" for c in (25, 30, 35, 40, 45)]
    defaults = {"ch": 64, "depth": 10, "fold": 4, "radius": 0, "blind": 0.5, "eps": 1e-3}
    paper_config = {"note": "no paper model: a small CPU restorer; on a GPU train longer (200k steps, batch 32, patch 192) and wider (ch 96)"}

    def architecture(self):
        return {"ch": int(self.p["ch"]), "depth": int(self.p["depth"]), "fold": int(self.p["fold"]), "radius": int(self.p["radius"])}

    def build(self):
        self.models["generator"] = H264Net(**self.architecture())
        self.optims["generator"] = torch.optim.Adam(self.models["generator"].parameters(), lr=self.cfg.lr)

    def _prepare(self, source) -> None:
        if getattr(source, "_h264_shared", False):
            return
        source.train, source.val = share_references(source.train), share_references(source.val)
        source._h264_shared = True
        source._h264_levels = key_levels(source)
        source._h264_spans = clip_spans(source.train)

    def stacked(self, pairs, i: int, span: tuple[int, int], window: tuple[slice, slice] = (slice(None), slice(None))) -> np.ndarray:
        """The degraded frames i-r..i+r of one clip (``pairs[span[0]:span[1]]``), cropped to
        ``window`` and stacked on channels; the clip's first and last frames stand in for
        frames beyond its ends (as at test time)."""
        r, (lo, hi) = int(self.p["radius"]), span
        return np.concatenate([pairs[min(max(i + k, lo), hi - 1)][0][window] for k in range(-r, r + 1)], axis=2)

    def sample(self, source, rng, batch, patch):
        """Patches on the macroblock grid with their CRF as a last channel (NaN: hidden)."""
        self._prepare(source)
        if patch % GRID:
            raise BenchError(f"h264: --patch {patch} should be a multiple of {GRID} (macroblocks)")
        xs, ys, qs = [], [], []
        for _ in range(batch):
            index = int(rng.integers(len(source.train)))
            deg, ref, key = source.train[index]
            h, w = deg.shape[:2]
            if h < patch or w < patch:
                raise BenchError(f"{key}: a training frame ({w}x{h}) is smaller than the patch {patch}")
            i = int(rng.integers(0, (h - patch) // GRID + 1)) * GRID
            j = int(rng.integers(0, (w - patch) // GRID + 1)) * GRID
            window = (slice(i, i + patch), slice(j, j + patch))
            x, y = augment(rng, self.stacked(source.train, index, source._h264_spans[index], window), ref[window])
            xs.append(np.ascontiguousarray(x))
            ys.append(np.ascontiguousarray(y))
            qs.append(float("nan") if rng.random() < float(self.p["blind"]) else source._h264_levels[key])
        x = to_tensor(np.stack(xs))
        q = torch.tensor(qs, dtype=x.dtype)[:, None, None, None].expand(-1, 1, patch, patch)
        return torch.cat([x, q], 1), to_tensor(np.stack(ys))

    def step(self, x, y):
        g = self.models["generator"]
        out = g(x[:, :-1], x[:, -1, 0, 0])
        d = (out - y) / 2  # on [0, 1]
        loss = torch.sqrt(d * d + float(self.p["eps"]) ** 2).mean()
        opt = self.optims["generator"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"charbonnier": loss.item(), "l1": d.abs().mean().item()}

    def validate(self, source) -> dict[str, float]:
        """PSNR (RGB, whole frames) on the held-out clips: the output blind and with the CRF
        known, the decoded input, and the blind gain at each CRF."""
        from benchmark.metrics.fidelity import _psnr

        self._prepare(source)
        g = self.models["generator"]
        g.eval()
        groups: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        spans = clip_spans(source.val)
        for index, (deg, ref, key) in enumerate(source.val):  # each frame with its neighbours stacked on channels
            groups.setdefault(key, []).append((self.stacked(source.val, index, spans[index]), ref))
        blind, known, base, gains = [], [], [], {}
        r0 = int(self.p["radius"])
        with torch.inference_mode():
            for key, pairs in groups.items():
                for shape in {d.shape for d, _ in pairs}:
                    same = [(d, r) for d, r in pairs if d.shape == shape]
                    x = to_tensor(np.stack([d for d, _ in same])).to(self.device)
                    crf = source._h264_levels[key]
                    for outs, hint in ((blind, None), (known, crf)):
                        out = to_uint8(g(x, hint))
                        outs += [_psnr(o, r) for o, (_, r) in zip(out, same)]
                    b = [_psnr(d[..., 3 * r0:3 * r0 + 3], r) for d, r in same]
                    base += b
                    if np.isfinite(crf):
                        gains.setdefault(int(crf), []).extend(np.subtract(blind[-len(same):], b))
        g.train()
        out = {"val_psnr": float(np.mean(blind)), "val_psnr_input": float(np.mean(base)), "val_psnr_crf_known": float(np.mean(known))}
        return {**out, **{f"val_gain_crf{c}": float(np.mean(v)) for c, v in sorted(gains.items())}}


def parse_crf(crf: Any) -> float | None:
    """``auto`` -> None (blind); a number 0..51 -> that CRF."""
    if crf in (None, "auto"):
        return None
    try:
        value = float(crf)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0 <= value <= 51:
        raise BenchError(f"h264: crf={crf!r} is not an H.264 CRF: give crf=auto (blind: the network judges the artifacts) "
                         "or the encoder's CRF, 0..51 (trained on 25..45)")
    return value


class H264Method(TrainableMethod):
    name = "h264"
    version = "1"
    description = ("Residual CNN at quarter resolution for H.264/HEVC-decoded frames, single-frame, one model for CRF 25-45; "
                   "crf=auto (blind, default) or crf=N (the encoder's CRF as an input).")
    weights_name = "h264"
    build = staticmethod(H264Net)
    tile_multiple = GRID
    tile_overlap = 64  # the receptive field reaches 42 pixels each way

    def __init__(self, crf: Any = "auto", weights: str | None = None, **params: Any):
        self.crf = parse_crf(crf)
        given = {"crf": int(self.crf) if self.crf.is_integer() else self.crf} if self.crf is not None else {}
        try:
            super().__init__(weights=weights, **given, **params)
        except WeightsMissing as exc:
            if weights:
                raise
            raise WeightsMissing(f"{exc} The h264 training in progress is checkpoints/h264 (continue it with `scripts/train_shipped.sh h264` "
                                 "and BENCH_TRAIN_DIR=checkpoints, or `bench train h264 ... --resume` as docs/recipes.md says); "
                                 "give its exported weights with h264:weights=PATH.") from None

        self.radius = int(self.card.get("architecture", {}).get("radius", 0))
        self.window = (self.radius, self.radius)  # neighbours on each side, from the weights' own architecture

    def process(self, frames: list[np.ndarray], ctx: Context) -> list[np.ndarray]:
        """Single-frame weights: as every trainable method. Multi-frame weights (``radius`` r):
        frame t with t-r..t+r stacked on channels (the call's past and future context, the
        clip's first or last frame standing in beyond its ends, as in training)."""
        if not self.radius:
            return super().process(frames, ctx)
        if self.model is None:
            self.setup(ctx.device)
        rgb = [np.repeat(f, 3, 2) if f.shape[2] == 1 else f for f in frames]
        past, future = ctx.context
        n, outs = len(rgb), []
        with torch.inference_mode():
            for t in range(past, n - future):
                near = [rgb[min(max(t + k, 0), n - 1)] for k in range(-self.radius, self.radius + 1)]
                near = [f if f.shape == rgb[t].shape else rgb[t] for f in near]  # a frame of another size is no neighbour
                out = self.restore_stacked(np.concatenate(near, axis=2), rgb[t])
                outs.append(np.round(out.mean(axis=2, keepdims=True)).astype(np.uint8) if frames[t].shape[2] == 1 else out)
        return outs

    def restore_stacked(self, stack: np.ndarray, centre: np.ndarray) -> np.ndarray:
        """One frame from its neighbours stacked on channels (H x W x 3k uint8), tiled when it
        does not fit the memory budget."""
        def fn(x):
            return self.model(x, self.crf)

        def whole(fs):
            x = torch.from_numpy(np.stack(fs)).to(self.device).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
            return tensor_to_frames(fn(x), [centre])

        return self.tiling.restore(self.model, fn, [stack], self.device, 1, whole)[0]

    def restore(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        """Frame by frame (each frame's output does not depend on its batch): on a CPU a batch
        of 720x576 frames ran slower per frame than one at a time (7.5 against 2-6 fps on
        2 threads: its 50 MB activations are allocated afresh each call); tiled when one
        frame does not fit the memory budget."""
        def fn(x):
            return self.model(x, self.crf)

        def whole(fs):
            return tensor_to_frames(fn(frames_to_tensor(fs, self.device)), fs)

        return [o for f in frames for o in self.tiling.restore(self.model, fn, [f], self.device, 1, whole)]
