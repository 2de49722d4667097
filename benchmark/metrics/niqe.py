"""NIQE (Mittal et al. 2013), offline, with the official release's pristine model.

Conventions (they move the numbers by large factors between implementations): the official
NIQE release's pristine model; luma = MATLAB ``rgb2ycbcr`` Y (BT.601, 16-235), rounded to
integers as MATLAB's uint8 would be; 96x96 blocks, no overlap, two scales (MATLAB
``imresize`` bicubic with antialiasing). This is BasicSR's convention; on Set14 ``baboon`` it
gives 5.7300 against the MATLAB R2021a value BasicSR publishes, 5.7296
(tests/test_nr_metrics.py). MATLAB's ``niqe`` applied to an RGB file uses ``rgb2gray``
instead and gives 5.7385 on that image.

A frame above ``fidelity.STRIP_PIXELS`` is processed in strips of whole 96-pixel block rows
with 16 rows of real context on each inner side (more than the 7x7 normalisation, the
half-size bicubic kernel and the second scale's normalisation reach), the block features of
every strip are pooled, and the MVG distance is taken once: the same value as the whole
frame up to floating-point summation order, in memory that grows with the width only.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from benchmark.files.weights import NIQE_PARAMS, asset_path

from ..api import Metric, crop
from .nss import _aggd, _check_size, _lgamma, imresize, luma, normalize_img_with_gauss


@lru_cache(maxsize=1)
def niqe_params() -> tuple[np.ndarray, np.ndarray]:
    """(mu [36], cov [36, 36]) of the NIQE pristine model, float64."""
    p = np.load(asset_path(NIQE_PARAMS))
    return p["mu_pris_param"].ravel().astype(np.float64), p["cov_pris_param"].astype(np.float64)


def niqe_block_features(mscn: np.ndarray, block: int) -> np.ndarray:
    """The 18 NIQE features of every block of one 2-D MSCN map, all blocks at once:
    (blocks x 18), blocks column by column (MATLAB's blockproc order)."""
    nbh, nbw = mscn.shape[0] // block, mscn.shape[1] // block
    blocks = (
        mscn[: nbh * block, : nbw * block]
        .reshape(nbh, block, nbw, block)
        .transpose(2, 0, 1, 3)
        .reshape(-1, block, block)
    )
    alpha, l_std, r_std = _aggd(blocks)

    def betas(a, left, right):
        f = np.sqrt(np.exp(_lgamma(1 / a) - _lgamma(3 / a)))
        return left * f, right * f

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
