"""Additive white Gaussian noise and Poisson (shot) noise, seeded per item.

Gaussian noise follows the DnCNN/KAIR denoising protocol: sigma on the 0..255 scale, drawn in
float and added to the image in float, with no rounding and no clipping, so the model sees the
noisy image as the paper's code gives it (KAIR ``main_test_dncnn.py``: ``img_L = uint2single(img)``
then ``img_L += np.random.normal(0, sigma/255., img_L.shape)``). The frames it yields are float
(0-255 scale, cached as float32); a method that takes only uint8 gets them rounded and clipped.
``noiseNu8`` rounds and clips the noisy image to uint8 itself, as MATLAB's ``uint8()`` does
(half away from zero, saturating): the DN protocol's noisy LR image as RDN saves it.

Every draw comes from ``numpy.random.default_rng(seed)`` with the seed the degrade stage gives
the step per item (a SHA-256 of the item id, the run's seed and the step's place in the chain),
so a rerun is identical and two items never share a noise field."""

from __future__ import annotations

import copy
import re
from typing import Any

import numpy as np

from ..api import Degradation

SEEDING = "numpy default_rng per item: sha256(item id, run seed, step index)"


def matlab_uint8(x: np.ndarray) -> np.ndarray:
    """MATLAB ``uint8(x)`` of a float array: round half away from zero, saturate to 0..255."""
    return np.floor(np.clip(x, 0, 255) + 0.5).astype(np.uint8)


def parse_number(token: str, what: str, value: str | float | int | None, allowed: str) -> float:
    """A non-negative number from a token's text, or ValueError naming the token and what is allowed."""
    try:
        v = float(value) if value not in (None, "") else float("nan")
    except (TypeError, ValueError):
        v = float("nan")
    if not np.isfinite(v) or v < 0:
        got = "no value" if value in (None, "") else repr(value)
        why = (
            " ('-' separates the steps of a name, so a negative value cannot be written)" if value in (None, "") else ""
        )
        raise ValueError(f"{what} in {token!r} must be a number >= 0 ({allowed}); got {got}{why}")
    return v


def _number(v: float) -> str:
    return f"{v:g}"


class _Seeded(Degradation):
    """A random step: the degrade stage binds it to an item's seed with :meth:`with_seed`."""

    seeded = True
    takes_float = True

    def with_seed(self, seed: int) -> "_Seeded":
        bound = copy.copy(self)
        bound.rng = np.random.default_rng(seed)
        return bound

    def generator(self) -> np.random.Generator:
        rng = getattr(self, "rng", None)
        if rng is None:  # outside a run (tests, the Python API): a fixed seed
            self.rng = rng = np.random.default_rng(0)
        return rng


class GaussianNoise(_Seeded):
    name = "noise"
    version = "1"
    examples = ("noise25", "noise50", "noise30u8")
    token = r"noise(?P<sigma>[^u]*)(?P<u8>u8)?"
    description = (
        "Additive white Gaussian noise, sigma on the 0..255 scale (token noiseS, e.g. noise15/25/50), drawn in "
        "float and added in float with no rounding or clipping (DnCNN/KAIR protocol: Zhang et al., TIP 2017; "
        "KAIR main_test_dncnn.py); one independent field per channel; seeded per item from the item id and "
        "--seed. noiseSu8 rounds and clips the result to uint8 (MATLAB uint8(), as RDN's DN protocol saves it)."
    )

    def __init__(self, sigma: float | str = 25, u8: bool | str = False):
        s = parse_number(f"noise{sigma}", "the noise sigma", sigma, "e.g. noise25: sigma 25 on the 0..255 scale")
        super().__init__(
            sigma=s,
            scale="0-255",
            distribution="gaussian",
            output="uint8 (MATLAB uint8)" if u8 else "float, unclipped",
            seeding=SEEDING,
        )

    @classmethod
    def from_token(cls, match: re.Match) -> "GaussianNoise":
        return cls(sigma=match.group("sigma"), u8=bool(match.group("u8")))

    @property
    def makes_float(self) -> bool:
        return self.params["output"].startswith("float")

    def label(self) -> str:
        return f"noise{_number(self.params['sigma'])}{'' if self.makes_float else 'u8'}"

    def add(self, frame: np.ndarray) -> np.ndarray:
        """The frame (uint8 or float, 0-255) plus noise, float32 (or uint8 for ``u8``)."""
        x = frame.astype(np.float32)
        x += self.generator().normal(0.0, self.params["sigma"], frame.shape).astype(np.float32)
        return x if self.makes_float else matlab_uint8(x)

    def apply(self, frame: np.ndarray) -> np.ndarray:
        return self.add(frame)


class PoissonNoise(_Seeded):
    name = "poisson"
    version = "1"
    examples = ("poisson4", "poisson30")
    token = r"poisson(?P<peak>.*)"
    description = (
        "Poisson (shot) noise at peak P (token poissonP): each pixel x in [0, 1] becomes Poisson(P*x)/P, in float, "
        "unclipped above, no rounding (the usual Poisson-denoising protocol; lower P is noisier); seeded per item."
    )

    def __init__(self, peak: float | str = 30):
        p = parse_number(f"poisson{peak}", "the Poisson peak", peak, "e.g. poisson4: peak value 4")
        if p == 0:
            raise ValueError(f"the Poisson peak in 'poisson{peak}' must be > 0 (e.g. poisson4)")
        super().__init__(
            peak=p, scale="image in [0, 1] times the peak", distribution="poisson", output="float", seeding=SEEDING
        )

    makes_float = True

    def label(self) -> str:
        return f"poisson{_number(self.params['peak'])}"

    def apply(self, frame: np.ndarray) -> np.ndarray:
        peak = self.params["peak"]
        lam = np.clip(frame.astype(np.float64), 0, 255) * (peak / 255.0)
        return (self.generator().poisson(lam) * (255.0 / peak)).astype(np.float32)


__all__: list[Any] = ["GaussianNoise", "PoissonNoise", "matlab_uint8", "parse_number"]
