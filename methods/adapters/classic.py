"""Baselines: the degraded input itself, and classical upscalers for SR degradations."""

from __future__ import annotations

import numpy as np

from benchmark.api import Context, Method
from benchmark.degradations.resize import matlab_resize


class Identity(Method):
    name = "identity"
    version = "1"
    scale = None  # any: the data set's
    description = (
        "The degraded input itself: the JPEG/H.264 baseline row. Under a downscale it is "
        "shown at the reference size by pixel replication (nearest neighbour), no interpolation."
    )
    #: at scale 1 the output is the input, frame for frame: the runner scores the cached
    #: degraded frames directly instead of storing a copy of them
    passthrough = True
    #: float input (unrounded noise) is returned as is and scored rounded to uint8, like every output
    takes_float = True

    def process(self, frames: list[np.ndarray], ctx: Context) -> list[np.ndarray]:
        if ctx.scale == 1:
            return frames
        s = ctx.scale
        return [np.repeat(np.repeat(f, s, axis=0), s, axis=1) for f in frames]


class Bicubic(Method):
    name = "bicubic"
    version = "1"
    scale = None
    description = (
        "MATLAB-compatible bicubic imresize upscale by the degradation's scale (resize-right); identity at scale 1."
    )
    takes_float = True  # imresize works in float64 and rounds its result to uint8

    def process(self, frames: list[np.ndarray], ctx: Context) -> list[np.ndarray]:
        if ctx.scale == 1:
            return frames
        return [matlab_resize(f, float(ctx.scale)) for f in frames]


class Lanczos(Method):
    name = "lanczos"
    version = "1"
    scale = None
    description = "Lanczos-3 upscale (Pillow's LANCZOS filter) by the degradation's scale; identity at scale 1."

    def process(self, frames: list[np.ndarray], ctx: Context) -> list[np.ndarray]:
        if ctx.scale == 1:
            return frames
        from PIL import Image

        out = []
        for f in frames:
            h, w = f.shape[:2]
            im = Image.fromarray(f[:, :, 0] if f.shape[2] == 1 else f)
            r = np.asarray(im.resize((w * ctx.scale, h * ctx.scale), Image.Resampling.LANCZOS))
            out.append(r[:, :, None] if r.ndim == 2 else r)
        return out
