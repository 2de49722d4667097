"""Bicubic downscale with MATLAB ``imresize`` semantics (the SR papers' protocol)."""

from __future__ import annotations

import numpy as np

from ..api import Degradation


def matlab_resize(frame: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB-compatible bicubic ``imresize`` (antialiased when shrinking, mirrored
    borders) through the ``resize-right`` package; rounds back to uint8."""
    from resize_right import interp_methods, resize

    out = resize(
        frame.astype(np.float64),
        scale_factors=[scale, scale, 1],
        interp_method=interp_methods.cubic,
        antialiasing=True,
        pad_mode="symmetric",
    )
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


class Downscale(Degradation):
    name = "downscale"
    version = "1"
    examples = ("x2", "x3", "x4")
    token = r"x(?P<factor>[2-8])"
    description = (
        "Bicubic downscale by an integer factor (token xN), MATLAB imresize-compatible "
        "(resize-right, antialiased, symmetric borders, rounded to uint8). The reference is "
        "first cropped to a multiple of the total scale (SR convention)."
    )

    def __init__(self, factor: int | str = 4, kernel: str = "bicubic"):
        if kernel != "bicubic":
            raise ValueError(f"only the MATLAB bicubic kernel is built in, got {kernel!r}")
        super().__init__(factor=int(factor), kernel=kernel, implementation="resize-right matlab-cubic antialias symmetric")

    @property
    def scale(self) -> int:
        return int(self.params["factor"])

    def label(self) -> str:
        return f"x{self.params['factor']}"

    def apply(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        s = self.scale
        if h % s or w % s:
            raise ValueError(f"frame {w}x{h} is not a multiple of the scale {s}")
        return matlab_resize(frame, 1.0 / s)
