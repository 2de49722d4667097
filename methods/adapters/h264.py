"""``h264``: a restorer for H.264/HEVC-decoded frames, one model over a range of qualities.

* Network (:class:`~benchmark.methods.networks.H264Net`): a residual CNN at quarter resolution. The frame is folded into
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
* Training (:class:`~benchmark.methods.training.h264.H264Recipe`, ``bench train h264``): ``bsd200-pan-crf{25,30,35,40,45}``
  (BSDS train photos seen by a panning, zooming camera, 10-frame clips coded by libx264 with
  I, P and B frames, as test clips are), 128x128 patches on the 16x16 macroblock grid with
  random flips and transposes, Charbonnier loss on [0, 1]. Validation: PSNR (RGB) of the
  output (blind and with the CRF known) against the decoded input's on held-out clips, whole
  frames, and the gain at each CRF (``val_gain_crfN``).
* Tiled under the memory budget like every built-in network (:mod:`benchmark.methods.adapters.tiled`),
  on the 16-pixel grid (macroblocks; the 4x fold).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from benchmark.api import Context
from benchmark.core.imaging import channel_mean_uint8
from benchmark.errors import BenchError
from benchmark.files.weights import WeightsMissing
from benchmark.methods.adapters.trainable import TrainableMethod, tensor_to_frames
from benchmark.methods.networks import H264_GRID as GRID
from benchmark.methods.networks import H264Net


def parse_crf(crf: Any) -> float | None:
    """``auto`` -> None (blind); a number 0..51 -> that CRF."""
    if crf in (None, "auto"):
        return None
    try:
        value = float(crf)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0 <= value <= 51:
        raise BenchError(
            f"h264: crf={crf!r} is not an H.264 CRF: give crf=auto (blind: the network judges the artifacts) "
            "or the encoder's CRF, 0..51 (trained on 25..45)"
        )
    return value


class H264Method(TrainableMethod):
    name = "h264"
    version = "1"
    description = (
        "Residual CNN at quarter resolution for H.264/HEVC-decoded frames, single-frame, one model for CRF 25-45; "
        "crf=auto (blind, default) or crf=N (the encoder's CRF as an input)."
    )
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
            raise WeightsMissing(
                f"{exc} The h264 training in progress is checkpoints/h264 (continue it with `scripts/train_shipped.sh h264` "
                "and BENCH_TRAIN_DIR=checkpoints, or `bench train h264 ... --resume` as docs/recipes.md says); "
                "give its exported weights with h264:weights=PATH."
            ) from None

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
                near = [
                    f if f.shape == rgb[t].shape else rgb[t] for f in near
                ]  # a frame of another size is no neighbour
                out = self.restore_stacked(np.concatenate(near, axis=2), rgb[t])
                outs.append(channel_mean_uint8(out) if frames[t].shape[2] == 1 else out)
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

        return [o for f in frames for o in self.run(self.model, fn, [f])]
