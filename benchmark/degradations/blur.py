"""Blur kernels as degradation steps, with MATLAB's semantics where the protocols use MATLAB.

* ``fspecial_gaussian(size, sigma)`` is MATLAB ``fspecial('gaussian', size, sigma)``: a sampled
  isotropic Gaussian on a grid centred on the kernel, values below ``eps * max`` set to zero,
  normalised to sum 1 (float64).
* ``imfilter(image, kernel)`` is MATLAB ``imfilter(image, kernel, 'replicate')``: correlation
  (not convolution), replicated borders, the kernel's centre at ``floor((size + 1) / 2)``
  (1-based, which matters for even sizes), computed in float64; a uint8 image comes back uint8,
  rounded half away from zero and saturated as MATLAB does; a float image stays float.
* ``anisotropic_gaussian`` is the bivariate Gaussian of SRMD/BSRGAN/Real-ESRGAN: covariance
  ``R diag(sx^2, sy^2) R^T`` rotated by ``theta``, sampled on an odd grid, normalised.
* ``fspecial_motion(length, angle)`` is MATLAB ``fspecial('motion', length, angle)``: a line of
  ``length`` pixels at ``angle`` degrees (counter-clockwise), anti-aliased at its ends.

Tokens: ``blurS`` (isotropic, sigma S, size ``2*ceil(3S)+1`` unless ``kN``), ``ablurAxB[rT][kN]``
(anisotropic, sigmas A and B, rotated T degrees) and ``motionL[rT]`` (motion, length L, T degrees)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..api import Degradation
from .noise import matlab_uint8, parse_number

_EPS = np.finfo(np.float64).eps


def fspecial_gaussian(size: int, sigma: float) -> np.ndarray:
    """MATLAB ``fspecial('gaussian', size, sigma)`` (float64, sums to 1)."""
    half = (size - 1) / 2.0
    y, x = np.mgrid[-half : half + 1, -half : half + 1]
    h = np.exp(-(x * x + y * y) / (2.0 * sigma * sigma))
    h[h < _EPS * h.max()] = 0
    return h / h.sum()


def anisotropic_gaussian(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """Bivariate Gaussian kernel (``theta`` in degrees), sampled on a ``size`` x ``size`` grid, sum 1."""
    t = math.radians(theta)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    cov = rot @ np.diag([sigma_x**2, sigma_y**2]) @ rot.T
    inv = np.linalg.inv(cov)
    half = (size - 1) / 2.0
    y, x = np.mgrid[-half : half + 1, -half : half + 1]
    h = np.exp(-0.5 * (inv[0, 0] * x * x + 2 * inv[0, 1] * x * y + inv[1, 1] * y * y))
    return h / h.sum()


def fspecial_motion(length: float, angle: float) -> np.ndarray:
    """MATLAB ``fspecial('motion', length, angle)`` (the algorithm of its fspecial.m)."""
    length = max(1.0, float(length))
    half = (length - 1) / 2.0
    phi = math.radians(angle % 180)
    cosphi, sinphi = math.cos(phi), math.sin(phi)
    xsign = 1.0 if cosphi >= 0 else -1.0
    width = 1.0
    sx = math.trunc(half * cosphi + width * xsign - length * _EPS)
    sy = math.trunc(half * sinphi + width - length * _EPS)
    xs = np.arange(0, sx + xsign, xsign) if sx * xsign >= 0 else np.array([0.0])
    x, y = np.meshgrid(xs, np.arange(0, sy + 1))
    dist = y * cosphi - x * sinphi
    rad = np.sqrt(x * x + y * y)
    last = (rad >= half) & (np.abs(dist) <= width)
    with np.errstate(divide="ignore", invalid="ignore"):
        to_end = half - np.abs((x[last] + dist[last] * sinphi) / cosphi)
    dist[last] = np.sqrt(dist[last] ** 2 + to_end**2)
    dist = width + _EPS - np.abs(dist)
    dist[dist < 0] = 0
    r, c = dist.shape
    h = np.zeros((2 * r - 1, 2 * c - 1))
    h[:r, :c] = np.rot90(dist, 2)
    h[r - 1 :, c - 1 :] = dist
    h = h / (h.sum() + _EPS * length * length)
    return np.flipud(h) if cosphi > 0 else h


def imfilter(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """MATLAB ``imfilter(image, kernel, 'replicate')`` per channel (see the module docstring)."""
    from scipy.ndimage import correlate

    kh, kw = kernel.shape
    origin = (0 if kh % 2 else -1, 0 if kw % 2 else -1)  # MATLAB's centre floor((n+1)/2) for even sizes
    x = image.astype(np.float64)
    out = np.empty_like(x)
    for c in range(x.shape[2]):
        out[:, :, c] = correlate(x[:, :, c], kernel, mode="nearest", origin=origin)
    return matlab_uint8(out) if image.dtype == np.uint8 else out.astype(np.float32)


def check_fits(token: str, kernel: np.ndarray, frame: np.ndarray) -> None:
    """ValueError naming ``token`` when its kernel is larger than the frame."""
    kh, kw = kernel.shape
    h, w = frame.shape[:2]
    if kh > h or kw > w:
        raise ValueError(
            f"the {kw}x{kh} kernel of {token!r} is larger than the {w}x{h} image; "
            "use a smaller sigma/length or kernel size (kN) on this data"
        )


def default_size(sigma: float) -> int:
    """MATLAB-code convention for a Gaussian kernel's side: ``2 * ceil(3 * sigma) + 1``."""
    return 2 * math.ceil(3 * sigma) + 1


def _size(token: str, value: Any, sigma: float) -> int:
    if value in (None, ""):
        return default_size(sigma)
    k = parse_number(token, "the kernel size", value, "kN with N >= 1, e.g. blur1.6k7")
    if k < 1 or k != int(k):
        raise ValueError(f"the kernel size in {token!r} must be a whole number >= 1 (e.g. blur1.6k7); got {value!r}")
    return int(k)


def _sigma(token: str, value: Any) -> float:
    s = parse_number(token, "the blur sigma", value, "e.g. blur1.6")
    if s == 0:
        raise ValueError(f"the blur sigma in {token!r} must be > 0 (e.g. blur1.6)")
    return s


def _num(v: float) -> str:
    return f"{v:g}"


class _Blur(Degradation):
    """A fixed kernel applied with MATLAB imfilter 'replicate' semantics."""

    takes_float = True  # float frames stay float (unrounded); uint8 frames come back uint8, as in MATLAB

    def kernel(self) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def kernel_side(self) -> int:
        """The kernel's larger side (a data set refuses images smaller than it before any work)."""
        return max(self.kernel().shape)

    def apply(self, frame: np.ndarray) -> np.ndarray:
        k = self.kernel()
        check_fits(self.label(), k, frame)
        return imfilter(frame, k)


class GaussianBlur(_Blur):
    name = "blur"
    version = "1"
    examples = ("blur1.6", "blur2k15")
    token = r"blur(?P<sigma>[0-9.]*)(?:k(?P<size>[0-9]*))?"
    description = (
        "Isotropic Gaussian blur (token blurS[kN]): MATLAB fspecial('gaussian', N, S), N = 2*ceil(3S)+1 by "
        "default, applied as imfilter(..., 'replicate') (correlation, replicated borders; uint8 rounded as MATLAB)."
    )

    def __init__(self, sigma: float | str = 1.6, size: int | str | None = None, kernel: str = "gaussian"):
        token = f"blur{sigma}" + (f"k{size}" if size not in (None, "") else "")
        if kernel != "gaussian":
            raise ValueError(
                f"unknown kernel {kernel!r} for {token!r}; known kernels: gaussian (blurS[kN]), "
                "anisotropic gaussian (ablurAxB[rT][kN]), motion (motionL[rT])"
            )
        s = _sigma(token, sigma)
        super().__init__(kernel="gaussian", sigma=s, size=_size(token, size, s), filter="MATLAB imfilter replicate")

    def label(self) -> str:
        p = self.params
        return f"blur{_num(p['sigma'])}" + ("" if p["size"] == default_size(p["sigma"]) else f"k{p['size']}")

    def kernel(self) -> np.ndarray:
        return fspecial_gaussian(self.params["size"], self.params["sigma"])


class AnisotropicBlur(_Blur):
    name = "ablur"
    version = "1"
    examples = ("ablur4x1.5r30",)
    token = r"ablur(?P<sigma_x>[0-9.]*)x(?P<sigma_y>[0-9.]*)(?:r(?P<theta>[0-9.]*))?(?:k(?P<size>[0-9]*))?"
    description = (
        "Anisotropic Gaussian blur (token ablurAxB[rT][kN]): bivariate Gaussian with sigmas A, B rotated T "
        "degrees (SRMD/BSRGAN/Real-ESRGAN kernels), N = 2*ceil(3*max(A,B))+1 by default; imfilter 'replicate'."
    )

    def __init__(
        self,
        sigma_x: float | str = 2.0,
        sigma_y: float | str = 1.0,
        theta: float | str | None = 0,
        size: int | str | None = None,
    ):
        token = (
            f"ablur{sigma_x}x{sigma_y}"
            + (f"r{theta}" if theta not in (None, "", 0) else "")
            + (f"k{size}" if size else "")
        )
        sx, sy = _sigma(token, sigma_x), _sigma(token, sigma_y)
        t = 0.0 if theta in (None, "") else parse_number(token, "the rotation", theta, "degrees, e.g. r30")
        super().__init__(
            kernel="anisotropic gaussian",
            sigma_x=sx,
            sigma_y=sy,
            theta=t,
            size=_size(token, size, max(sx, sy)),
            filter="MATLAB imfilter replicate",
        )

    def label(self) -> str:
        p = self.params
        out = f"ablur{_num(p['sigma_x'])}x{_num(p['sigma_y'])}" + (f"r{_num(p['theta'])}" if p["theta"] else "")
        return out + ("" if p["size"] == default_size(max(p["sigma_x"], p["sigma_y"])) else f"k{p['size']}")

    def kernel(self) -> np.ndarray:
        p = self.params
        return anisotropic_gaussian(p["size"], p["sigma_x"], p["sigma_y"], p["theta"])


class MotionBlur(_Blur):
    name = "motion"
    version = "1"
    examples = ("motion15", "motion15r45")
    token = r"motion(?P<length>[0-9.]*)(?:r(?P<angle>[0-9.]*))?"
    description = (
        "Linear motion blur (token motionL[rT]): MATLAB fspecial('motion', L, T), a line of L pixels at T degrees "
        "counter-clockwise, applied with imfilter 'replicate'."
    )

    def __init__(self, length: float | str = 9, angle: float | str | None = 0):
        token = f"motion{length}" + (f"r{angle}" if angle not in (None, "", 0) else "")
        n = parse_number(token, "the motion length", length, "pixels >= 1, e.g. motion15")
        if n < 1:
            raise ValueError(f"the motion length in {token!r} must be >= 1 pixel (e.g. motion15)")
        a = 0.0 if angle in (None, "") else parse_number(token, "the angle", angle, "degrees, e.g. motion15r45")
        super().__init__(kernel="motion", length=n, angle=a, filter="MATLAB imfilter replicate")

    def label(self) -> str:
        p = self.params
        return f"motion{_num(p['length'])}" + (f"r{_num(p['angle'])}" if p["angle"] else "")

    def kernel(self) -> np.ndarray:
        return fspecial_motion(self.params["length"], self.params["angle"])
