"""Natural-scene statistics shared by NIQE and BRISQUE (:mod:`.niqe`, :mod:`.brisque`): the
luma each scores, MATLAB's bicubic half size, MSCN coefficients, and the GGD/AGGD
moment-matching fits on the shape grid 0.2:0.001:10.

All in float64, as the MATLAB reference computes them (``imresize``/``fspecial``; the half size
as ordinary weighted sums), with one convention kept from pyiqa and piq: the 7x7 Gaussian
window is rounded to float32. In flat areas the MSCN map is rounding noise and the AGGD fits
count its signs, so the window's last bits decide values there (the exact float64 window
moves NIQE of a JPEG'd sky by up to 6%).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

# -- luma ------------------------------------------------------------------------------
# The luma of MATLAB's rgb2ycbcr (BT.601, 16-235; NIQE) and of YIQ / BT.601 full range (BRISQUE).
_YCBCR_Y = np.array([65.481, 128.553, 24.966])
_YIQ_Y = np.array([0.299, 0.587, 0.114])


def luma(img: np.ndarray, space: str) -> np.ndarray:
    """The luma NIQE (``space="ycbcr"``) or BRISQUE (``"yiq"``) scores, float64 on the 0-255
    scale, 2-D, rounded half to even (as MATLAB's uint8 would be, NIQE; BRISQUE's as well).
    RGB: ``16 + (img / 255) . [65.481, 128.553, 24.966]`` (MATLAB ``rgb2ycbcr`` Y) or
    ``255 (img / 255) . [0.299, 0.587, 0.114]``, in float64. Gray: used as is."""
    if img.shape[2] == 1:
        return img[:, :, 0].astype(np.float64)
    f = img / 255.0
    w = _YCBCR_Y if space == "ycbcr" else _YIQ_Y
    y = f[..., 0] * w[0] + f[..., 1] * w[1] + f[..., 2] * w[2]
    return np.round(y + 16.0) if space == "ycbcr" else np.round(y * 255.0)


# -- MATLAB imresize --------------------------------------------------------------------


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel, a = -0.5 (MATLAB imresize's 'bicubic')."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return np.where(ax <= 1, 1.5 * ax3 - 2.5 * ax2 + 1, np.where(ax <= 2, -0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2, 0.0))


@lru_cache(maxsize=64)
def _contributions(in_len: int, out_len: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB imresize's weights and (0-based) input indices for one dimension, bicubic with
    antialiasing when shrinking: the kernel stretched by 1/scale (width 4/scale), weights
    normalised per output sample, out-of-range indices mirrored (symmetric, edge repeated)."""
    kscale = min(scale, 1.0)
    width = 4.0 / kscale
    u = np.arange(1, out_len + 1, dtype=np.float64) / scale + 0.5 * (1 - 1 / scale)  # 1-based input coordinate
    left = np.floor(u - width / 2)
    idx = left[:, None] + np.arange(math.ceil(width) + 2)[None]
    weights = kscale * _cubic(kscale * (u[:, None] - idx))
    weights /= weights.sum(1, keepdims=True)
    keep = np.any(weights != 0, axis=0)
    weights, idx = weights[:, keep], idx[:, keep].astype(np.int64) - 1
    period = 2 * in_len
    idx = np.mod(idx, period)
    idx = np.where(idx >= in_len, period - 1 - idx, idx)
    return weights, idx


def _half_pass(x: np.ndarray, axis: int) -> np.ndarray:
    """One bicubic half-size pass of a float64 map along ``axis`` (0: rows, 1: columns): each
    output the weighted sum of its taps (:func:`_contributions`), in float64."""
    n = x.shape[axis]
    weights, idx = _contributions(n, math.ceil(n * 0.5), 0.5)
    if axis == 0:
        out = weights[:, 0, None] * x[idx[:, 0]]
        for k in range(1, idx.shape[1]):
            out += weights[:, k, None] * x[idx[:, k]]
    else:
        out = weights[None, :, 0] * x[:, idx[:, 0]]
        for k in range(1, idx.shape[1]):
            out += weights[None, :, k] * x[:, idx[:, k]]
    return out


def imresize(x: np.ndarray) -> np.ndarray:
    """MATLAB ``imresize(x, 0.5, 'bicubic')`` (antialiasing on) of a 2-D map, rows then
    columns, in float64 (as MATLAB computes it); output ``ceil(size / 2)``."""
    return _half_pass(_half_pass(np.asarray(x, dtype=np.float64), 0), 1)


def _check_size(name: str, frame: np.ndarray, minimum: int) -> None:
    h, w = frame.shape[:2]
    if min(h, w) < minimum:
        raise ValueError(f"{name} needs at least {minimum}x{minimum} pixels, got {w}x{h}")


@lru_cache(maxsize=4)
def _gauss_kernel(size: int, sigma: float) -> np.ndarray:
    """MATLAB's ``fspecial('gaussian', size, sigma)`` (values below eps * max set to 0, then
    normalised to sum 1), rounded to float32 as pyiqa and piq hold it, then float64.

    The rounding is a convention, not precision: in flat regions the MSCN map is rounding
    noise whose signs decide the AGGD fits, and the float32 kernel's tiny bias is what
    pyiqa's (and this project's earlier) values rest on; the exact float64 kernel moves
    NIQE by up to 6% on such frames (docs/performance.md)."""
    r = (size - 1) / 2.0
    y, x = np.ogrid[-r : r + 1, -r : r + 1]
    h = np.exp(-(x * x + y * y) / (2.0 * sigma * sigma))
    h[h < np.finfo(h.dtype).eps * h.max()] = 0
    h /= h.sum()
    return h.astype(np.float32).astype(np.float64)


_BORDERS = {"replicate": "BORDER_REPLICATE", "same": "BORDER_CONSTANT"}  # 'same': zero padding


def normalize_img_with_gauss(
    x: np.ndarray, kernel_size: int = 7, sigma: float = 7.0 / 6, C: int = 1, padding: str = "same"
):
    """MSCN coefficients of a 2-D float64 map: (x - mu) / (sqrt(|E[x^2] - mu^2| + eps) + C)
    with mu, E[x^2] the local means under a Gaussian window (:func:`_gauss_kernel`), filtered
    by OpenCV's ``filter2D`` in float64 (border: ``padding``)."""
    import cv2

    k = _gauss_kernel(kernel_size, sigma)
    border = getattr(cv2, _BORDERS[padding])
    x = np.ascontiguousarray(x, dtype=np.float64)
    mu = cv2.filter2D(x, cv2.CV_64F, k, borderType=border)
    ex2 = cv2.filter2D(x * x, cv2.CV_64F, k, borderType=border)
    ex2 -= mu * mu
    np.abs(ex2, out=ex2)
    ex2 += np.finfo(np.float64).eps
    np.sqrt(ex2, out=ex2)
    ex2 += C
    return (x - mu) / ex2


GAMMA_STEPS = 9801  # shapes 0.2, 0.201, ..., 10.0


def _shape_grid() -> np.ndarray:
    """0.2:0.001:10 in float64 (as MATLAB's and BasicSR's fits use it): 0.2 + 0.001 i."""
    return np.arange(0.2, 10 + 0.001 / 2, 0.001)


@lru_cache(maxsize=1)
def _gamma_tables():
    """The shape grid (:func:`_shape_grid`) and its ratio tables, with ``scipy.special.gammaln``: (gamma, GGD table
    Γ(1/g)Γ(3/g)/Γ(2/g)², decreasing; AGGD table Γ(2/g)²/(Γ(1/g)Γ(3/g)), increasing)."""
    from scipy.special import gammaln

    gam = _shape_grid()
    lg1, lg2, lg3 = gammaln(1.0 / gam), gammaln(2.0 / gam), gammaln(3.0 / gam)
    r_ggd = np.exp(lg1 + lg3 - 2 * lg2)
    r_aggd = np.exp(2 * lg2 - (lg1 + lg3))
    return gam, r_ggd, r_aggd


def nearest(table: np.ndarray, x) -> np.ndarray:
    """``argmin |table - x|`` for each x (first index on a tie; 0 for a non-finite x, as
    argmin over all-NaN distances gives) on a strictly increasing ``table``, by binary
    search: the nearest entry is one of the two around x, and |t - x| computed in floating
    point is monotonic on each side of x."""
    x = np.asarray(x, dtype=np.float64)
    i = np.clip(np.searchsorted(table, x), 1, len(table) - 1)
    lo, hi = table[i - 1], table[i]
    pick = np.where(np.abs(lo - x) <= np.abs(hi - x), i - 1, i)
    return np.where(np.isfinite(x), pick, 0)


def _lgamma(x: np.ndarray) -> np.ndarray:
    from scipy.special import gammaln

    return gammaln(x)


def _ggd_shape(rho) -> np.ndarray:
    gam, r_ggd, _ = _gamma_tables()
    return gam[_nearest_decreasing(r_ggd, rho)]


def _nearest_decreasing(table: np.ndarray, x) -> np.ndarray:
    """:func:`nearest` on a strictly decreasing table, first index on a tie."""
    n = len(table)
    x = np.asarray(x, dtype=np.float64)
    rev = table[::-1]
    i = np.clip(np.searchsorted(rev, x), 1, n - 1)  # rev[i-1] < x <= rev[i]
    lo, hi = rev[i - 1], rev[i]  # table indices n-i (lo) and n-1-i (hi): hi comes first in table order
    pick = np.where(np.abs(hi - x) <= np.abs(lo - x), n - 1 - i, n - i)
    return np.where(np.isfinite(x), pick, 0)


def _aggd_shape(rhatnorm) -> np.ndarray:
    gam, _, r_aggd = _gamma_tables()
    return gam[nearest(r_aggd, rhatnorm)]


def _ggd(x: np.ndarray):
    """Generalised Gaussian fit of one map (moment matching on the shape grid): (shape, sigma)."""
    sigma_sq = np.mean(x * x)
    rho = sigma_sq / np.mean(np.abs(x)) ** 2
    return _ggd_shape(rho), np.sqrt(sigma_sq)


def _aggd(x: np.ndarray):
    """Asymmetric generalised Gaussian fit (moment matching on the shape grid) of each map of a
    batch (N x ...), all at once: (alpha, left std, right std), each of length N."""
    flat = x.reshape(x.shape[0], -1)
    sq = flat * flat
    neg, pos = flat < 0, flat > 0
    with np.errstate(invalid="ignore", divide="ignore"):  # a flat block: NaN features, dropped by nanmean/nancov
        left_std = np.sqrt(np.where(neg, sq, 0.0).sum(1) / neg.sum(1))
        right_std = np.sqrt(np.where(pos, sq, 0.0).sum(1) / pos.sum(1))
        g = left_std / right_std
        rhat = np.abs(flat).mean(1) ** 2 / sq.mean(1)
        rhatnorm = (rhat * (g**3 + 1) * (g + 1)) / (g**2 + 1) ** 2
    return _aggd_shape(rhatnorm), left_std, right_std
