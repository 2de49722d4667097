"""Training recipe of ``h264`` (``bench train h264``): :class:`~benchmark.methods.networks.H264Net` on
``bsd200-pan-crf{25,30,35,40,45}`` (BSDS train photos seen by a panning, zooming camera, 10-frame
clips coded by libx264 with I, P and B frames, as test clips are), 128x128 patches on the 16x16
macroblock grid with random flips and transposes, Charbonnier loss on [0, 1], the CRF hidden from
a fraction ``blind`` of the patches. Validation: PSNR (RGB) of the output (blind and with the CRF
known) against the decoded input's on held-out clips, whole frames, and the gain at each CRF
(``val_gain_crfN``). The adapter and the network's design: :mod:`benchmark.methods.adapters.h264`."""

from __future__ import annotations

import re

import numpy as np
import torch

from benchmark.errors import BenchError
from benchmark.methods.networks import H264_GRID as GRID
from benchmark.methods.networks import H264Net
from benchmark.methods.training.pairs import augment, to_tensor, to_uint8
from benchmark.methods.training.trainer import Recipe

LEVEL = re.compile(r"(?:^|[-@])(?:h264|hevc|h265)?(?:crf|qp)(\d+)(?=$|[-:])")


def level_of(name: str) -> float:
    """The CRF (or QP) of a data-set name's codec (``bsd200-pan-crf35``, ``./clips@qp46``); NaN
    when it has none."""
    found = LEVEL.findall(name)
    return float(found[-1]) if found else float("nan")


def key_levels(source) -> dict[str, float]:
    """The CRF of every training and validation key (``<data-set name>/<item>``) of ``source``."""
    names = sorted(source.names, key=len, reverse=True)  # the longest name that prefixes a key is its set
    return {
        key: next((level_of(n) for n in names if key.startswith(n + "/")), float("nan"))
        for _, _, key in [*source.train, *source.val]
    }


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
    paper_config = {
        "note": "no paper model: a small CPU restorer; on a GPU train longer (200k steps, batch 32, patch 192) and wider (ch 96)"
    }

    def architecture(self):
        return {
            "ch": int(self.p["ch"]),
            "depth": int(self.p["depth"]),
            "fold": int(self.p["fold"]),
            "radius": int(self.p["radius"]),
        }

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

    def stacked(
        self, pairs, i: int, span: tuple[int, int], window: tuple[slice, slice] = (slice(None), slice(None))
    ) -> np.ndarray:
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
                    b = [_psnr(d[..., 3 * r0 : 3 * r0 + 3], r) for d, r in same]
                    base += b
                    if np.isfinite(crf):
                        gains.setdefault(int(crf), []).extend(np.subtract(blind[-len(same) :], b))
        g.train()
        out = {
            "val_psnr": float(np.mean(blind)),
            "val_psnr_input": float(np.mean(base)),
            "val_psnr_crf_known": float(np.mean(known)),
        }
        return {**out, **{f"val_gain_crf{c}": float(np.mean(v)) for c, v in sorted(gains.items())}}
