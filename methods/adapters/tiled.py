"""Bounded memory for the built-in networks: their frames through :mod:`benchmark.core.tiling`.

Every built-in network (``ssim``, ``gan``, ``srresnet``, ``srgan``, ``fast-srgan``,
``videoboost``, ``pix2pix``; ``tsmooth`` through its base) restores a batch of frames of one
shape through :meth:`Tiling.restore`:

* the whole batch at once, by the method's own code as before, when it fits the memory budget
  (or ``tile=0``): the output is bit-identical to an untiled run, so cached outputs stay valid;
* else in overlapping, blended tiles (:func:`benchmark.core.tiling.run_tiled`: ramps across the
  middle half of each overlap, at most two rows of tiles held in float).

The budget, the probe and the tile choice are the core's (:mod:`benchmark.core.memory`: 50% of
the available memory on the CPU, at most 1 GiB; 70% of the free GPU memory; ``BENCH_MEMORY_BUDGET``
overrides), the same as for published models. A batch that does not fit runs in runs of as many whole frames as
fit, and only a frame that does not fit alone is tiled; a network's cost
per input pixel is estimated once from its largest activation on a probe tile (x4 for the
tensors alive beside it). ``tile=N`` forces tiles of N input pixels (rounded down to the
network's grid), ``tile=0`` turns tiling off, ``overlap=N`` sets the overlap (32 input pixels,
64 for pix2pix's deep U-Net; rounded up to the grid). Given settings enter the method's
identity (cache key, row label); the automatic choice does not.

The grid: each network declares the multiple its tiles keep (``tile_multiple``): 8 for the
JPEG artifact removers (the 8x8 coding grid: every tile starts on a multiple of 8), 16 for
pix2pix (H.264 macroblocks and the U-Net's 2^4 strides), 2 for videoboost's stride-2 encoder,
1 for the SRGAN family. To keep the last tile on the grid too, a frame whose sides are not
multiples of the grid is padded first (edge pixels repeated, as the networks pad internally)
and the output cropped. Tiles, overlap and stride are then multiples of the grid.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from benchmark.core import memory
from benchmark.core.imaging import channel_mean_uint8
from benchmark.core.memory import choose_tile, largest_activation, parse_tile

DEFAULT_OVERLAP = 32
PROBE = 64  # input side of the probe that measures a network's bytes per pixel
LIVE_TENSORS = 4  # tensors as large as the largest activation alive at once (skips, input, output)


def tiling_settings(tile: Any, overlap: Any) -> dict[str, Any]:
    """The tiling settings a user gave, for the method's params (and so its identity):
    ``tile=auto`` and unset ones are left out, so the default identity is unchanged."""
    given = {"tile": tile if tile not in (None, "auto") else None, "overlap": overlap}
    return {k: v for k, v in given.items() if v is not None}


class Tiling:
    """One method's tiling: its settings, its grid, and each network's estimated cost."""

    def __init__(
        self, tile: Any = None, overlap: Any = None, multiple: int = 1, default_overlap: int = DEFAULT_OVERLAP
    ):
        self.tile = parse_tile(tile)
        self.multiple = int(multiple)
        ov = default_overlap if overlap is None else int(overlap)
        if ov < 0:
            raise ValueError(f"overlap must be >= 0, got {overlap}")
        self.overlap = -(-ov // self.multiple) * self.multiple
        self._cost: dict[int, float] = {}

    # -- memory --------------------------------------------------------------------
    def bytes_per_pixel(self, net, fn: Callable, device: str) -> float:
        """Bytes one input pixel costs in ``fn`` (which runs ``net``): the largest output of any
        of ``net``'s modules on a probe tile, x :data:`LIVE_TENSORS`, per probe pixel."""
        import torch

        if id(net) in self._cost:
            return self._cost[id(net)]
        side = -(-PROBE // self.multiple) * self.multiple
        largest, _ = largest_activation(net.modules(), lambda: fn(torch.zeros(1, 3, side, side, device=device)))
        self._cost[id(net)] = max(LIVE_TENSORS * largest / (side * side), 1.0)
        return self._cost[id(net)]

    def choose(self, n: int, h: int, w: int, cost: Callable[[], float], device: str) -> int | None:
        """The tile side for ``n`` frames of ``h`` x ``w`` (None: whole frames, as untiled)."""
        return choose_tile(
            self.tile, n, h, w, lambda: memory.memory_budget(device) / cost(), self.multiple, 0, self.overlap
        )

    # -- inference -----------------------------------------------------------------
    def restore(
        self,
        net,
        fn: Callable,
        frames: list[np.ndarray],
        device: str,
        scale: int,
        whole: Callable[[list[np.ndarray]], list[np.ndarray]],
    ) -> list[np.ndarray]:
        """Frames of one shape through ``fn`` (an NCHW tensor in [-1, 1] -> its output, ``scale``
        times larger, in [-1, 1]; it runs ``net``): ``whole(frames)`` (the method's untiled path)
        when they fit; else, when one frame fits, in runs of as many whole frames as fit (the
        same outputs: each frame's result does not depend on its batch), a frame that does not
        fit alone tile by tile."""
        n, h, w = len(frames), *frames[0].shape[:2]

        def cost() -> float:
            return self.bytes_per_pixel(net, fn, device)

        if n > 1 and self.tile is None:
            budget = memory.memory_budget(device)
            if n * h * w * cost() > budget:
                k = max(1, int(budget // (h * w * cost())))
                return [
                    o for i in range(0, n, k) for o in self.restore(net, fn, frames[i : i + k], device, scale, whole)
                ]
        tile = self.choose(n, h, w, cost, device)
        if tile is None:
            return whole(frames)
        return self.run(fn, frames, device, scale, tile)

    def run(self, fn: Callable, frames: list[np.ndarray], device: str, scale: int, tile: int) -> list[np.ndarray]:
        """``fn`` over frames of one shape in tiles of ``tile`` (a multiple of the grid) input pixels."""
        import torch

        from benchmark.core.tiling import run_tiled

        m, (h, w) = self.multiple, frames[0].shape[:2]
        arr = np.stack(
            [np.repeat(f, 3, 2) if f.shape[2] == 1 else f for f in frames]
        )  # grey to RGB; RGB (or frames stacked on channels) as they are
        if h % m or w % m:  # onto the grid, so that the last tile starts on it too
            arr = np.pad(arr, ((0, 0), (0, -h % m), (0, -w % m), (0, 0)), mode="edge")
        x = torch.from_numpy(arr).permute(0, 3, 1, 2)  # uint8: each tile is converted alone

        def call(t):
            return fn(t.to(device).float().div(127.5).sub(1.0)).clamp(-1, 1).add(1).mul(0.5)

        overlap = min(self.overlap, tile // 2 // m * m)  # the stride stays on the grid
        out = run_tiled(call, x, scale, tile, overlap)[:, : h * scale, : w * scale]
        return [channel_mean_uint8(o) if f.shape[2] == 1 else np.ascontiguousarray(o) for o, f in zip(out, frames)]


def crop_batches(n: int, per_crop: float, device: str) -> int:
    """How many of ``n`` QF-predictor crops to run at once within the memory budget (all of
    them, as before, when they fit)."""
    return max(1, min(n, int(memory.memory_budget(device) // max(per_crop, 1.0))))
