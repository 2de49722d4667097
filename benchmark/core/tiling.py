"""Tiled inference for frames too large for memory: overlapping tiles, blended.

A frame is cut into ``tile`` x ``tile`` tiles (the last row and column are shifted back to
end at the border, so every tile has the full size a model's size constraints were chosen
for) that overlap their neighbours by at least ``overlap`` input pixels. Each tile's output
is weighted per axis by a ramp that is 0 over the outer quarter of the overlap on a side
that has a neighbour (the pixels a convolution saw padding for), rises linearly over the
middle half and is 1 elsewhere; the weights of neighbouring tiles sum to 1. The weights are
separable, so the frame is assembled one row of tiles at a time: besides the input and the
uint8 result, only about two rows of tiles of float output are held, whatever the frame size.

:func:`auto_tile` picks the tile from a memory budget and a model's bytes per input pixel.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from benchmark.core.imaging import tensor_to_uint8


def starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile origins along one axis: every ``tile - overlap`` pixels, the last one flush with the end."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    return list(range(0, length - tile, stride)) + [length - tile]


def ramp(size: int, lead: bool, trail: bool, overlap: int) -> np.ndarray:
    """Blending weight along one axis of a tile of ``size`` output pixels; ``lead``/``trail``:
    whether a neighbour overlaps it before/after; ``overlap`` in output pixels."""
    w = np.ones(size, np.float64)
    if overlap <= 0:
        return w
    margin = overlap // 4
    rise = (np.arange(size) - margin + 0.5) / max(overlap - 2 * margin, 1)
    rise = np.clip(rise, 0.0, 1.0)
    if lead:
        w = np.minimum(w, rise)
    if trail:
        w = np.minimum(w, rise[::-1])
    return w


def axis_weights(length: int, tile: int, overlap: int, scale: int) -> tuple[list[int], list[np.ndarray]]:
    """Tile origins (input pixels) and their normalised output weights along one axis."""
    origins = starts(length, tile, overlap)
    size = min(tile, length) * scale
    raw = [ramp(size, i > 0, i < len(origins) - 1, overlap * scale) for i in range(len(origins))]
    total = np.zeros(length * scale)
    for o, w in zip(origins, raw):
        total[o * scale : o * scale + size] += w
    if (total <= 0).any():  # pragma: no cover - overlap is clamped so this cannot happen
        raise ValueError(f"tiles of {tile} with overlap {overlap} leave uncovered pixels")
    return origins, [w / total[o * scale : o * scale + size] for o, w in zip(origins, raw)]


def to_uint8(t) -> np.ndarray:
    """(N, C, H, W) float tensor on the 0-1 scale -> uint8 (N, H, W, C)."""
    return tensor_to_uint8(t, 0.0)


def run_tiled(fn: Callable, x, scale: int, tile: int | None, overlap: int) -> np.ndarray:
    """``fn`` (a tensor (N, C, h, w) on the 0-1 scale -> (N, C', h*scale, w*scale)) over ``x``
    (N, C, H, W), whole when ``tile`` is None or the frame fits in one tile, else tile by tile.
    Returns uint8 (N, H*scale, W*scale, C')."""
    import torch

    n, _, h, w = x.shape
    if tile is None or (h <= tile and w <= tile):
        return to_uint8(fn(x))
    overlap = max(0, min(overlap, tile // 2))
    ys, wys = axis_weights(h, tile, overlap, scale)
    xs, wxs = axis_weights(w, tile, overlap, scale)
    th, tw = min(tile, h), min(tile, w)
    result: np.ndarray | None = None
    acc = None  # float rows [done, done + acc.shape[2]) of the output not yet final
    done = 0
    for r, (y0, wy) in enumerate(zip(ys, wys)):
        strip = None
        for x0, wx in zip(xs, wxs):
            out = fn(x[:, :, y0 : y0 + th, x0 : x0 + tw]).float()
            if strip is None:
                strip = torch.zeros(n, out.shape[1], th * scale, w * scale)
                if result is None:
                    result = np.empty((n, h * scale, w * scale, out.shape[1]), np.uint8)
            strip[..., x0 * scale : (x0 + tw) * scale] += out.cpu() * torch.from_numpy(wx).float()
        strip *= torch.from_numpy(wy).float()[:, None]
        top, bottom = y0 * scale, (y0 + th) * scale
        if acc is None:
            acc = torch.zeros(n, strip.shape[1], 0, w * scale)
        if done + acc.shape[2] < bottom:
            acc = torch.cat([acc, torch.zeros(n, strip.shape[1], bottom - done - acc.shape[2], w * scale)], 2)
        acc[:, :, top - done : bottom - done] += strip
        final = ys[r + 1] * scale if r + 1 < len(ys) else h * scale  # rows no later tile touches
        result[:, done:final] = to_uint8(acc[:, :, : final - done])
        acc = acc[:, :, final - done :].clone()
        done = final
    return result


def auto_tile(
    pixels_fit: float, h: int, w: int, multiple_of: int = 1, minimum: int = 0, overlap: int = 0
) -> int | None:
    """The tile side for a frame of ``h`` x ``w`` when ``pixels_fit`` input pixels fit in memory at
    once: None (no tiling) when the frame fits, else the largest square that fits, a multiple
    of ``multiple_of``, at least ``minimum`` and large enough to keep tiles wider than twice the
    overlap (a smaller budget than that is not honoured: the model cannot run on less)."""
    if h * w <= pixels_fit:
        return None
    side = int(math.sqrt(max(pixels_fit, 1)))
    floor = max(minimum, 2 * overlap + 16, 32)
    side = max(side, floor)
    side = max(multiple_of, side // multiple_of * multiple_of)
    if side < floor:
        side += multiple_of
    return side
