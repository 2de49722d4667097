"""No-reference naturalness: NIQE and BRISQUE, offline, with the published models.

Implementation: pyiqa's functions (``pyiqa.archs.niqe_arch.calculate_niqe`` and
``pyiqa.archs.brisque_arch.brisque``, the ``[iqa]`` extra, PolyForm Noncommercial),
fed with model parameters this project ships in ``benchmark/assets`` and checks by
SHA-256 (see :mod:`benchmark.weights`), so nothing is downloaded.

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
  (a port of piq's). Luma as above, not rounded. The scores follow the LIVE
  C++/libsvm release, not MATLAB's ``brisque`` (Image Processing Toolbox, its own model),
  whose values differ.
  A frame above ``fidelity.STRIP_PIXELS`` is processed in strips of rows: the statistics
  are global (GGD/AGGD fits over the whole MSCN map and its pairwise products), and the
  fits need only sums (of squares left and right of zero, of absolute values, counts), so
  each strip adds to running sums in float64; the wrap-around of pyiqa's ``torch.roll``
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


def _require_pyiqa(metric: str):
    try:
        import pyiqa  # noqa: F401  (imports its archs registry)
    except ImportError:
        raise BenchError(
            f"metric '{metric}' uses pyiqa, which is not installed: pip install 'bench-enhance[iqa]' "
            "(pyiqa is PolyForm Noncommercial 1.0.0)"
        ) from None


@contextmanager
def _one_torch_thread():
    """torch's intra-op threads set to 1 for the duration (then restored). NIQE/BRISQUE run
    many small memory-bound torch ops (luma, MATLAB imresize) on maps of at most
    ``fidelity.STRIP_PIXELS``; measured on the 2-core machine with other work on the second
    core, two threads made them 2-6x slower than one (docs/performance.md)."""
    import torch

    n = torch.get_num_threads()
    if n == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _tensor(frame: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].to(torch.float64) / 255.0


@lru_cache(maxsize=1)
def niqe_params():
    import torch

    p = np.load(asset_path(NIQE_PARAMS))
    return torch.from_numpy(p["mu_pris_param"].ravel()), torch.from_numpy(p["cov_pris_param"])


@lru_cache(maxsize=1)
def brisque_model():
    """(sv_coef [774], sv [774, 36], gamma, rho) parsed from the libsvm text model."""
    import torch

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
    return torch.tensor(coefs, dtype=torch.float64), torch.tensor(np.array(svs)), float(header["gamma"]), float(header["rho"])


def svr_score(scaled_features):
    """The SVR decision value for features already scaled to [-1, 1] (N x 36)."""
    from pyiqa.archs.brisque_arch import rbf_kernel

    sv_coef, sv, gamma, rho = brisque_model()
    return rbf_kernel(scaled_features.to(sv), sv.t(), gamma) @ sv_coef - rho


def _check_size(name: str, frame: np.ndarray, minimum: int) -> None:
    h, w = frame.shape[:2]
    if min(h, w) < minimum:
        raise ValueError(f"{name} needs at least {minimum}x{minimum} pixels, got {w}x{h}")


@lru_cache(maxsize=4)
def _gauss_kernel(size: int, sigma: float) -> np.ndarray:
    """pyiqa's ``fspecial(size, sigma)`` (MATLAB's, made float32 by pyiqa), as float64."""
    from pyiqa.matlab_utils import fspecial

    return fspecial(size, sigma, 1)[0, 0].double().numpy()


_BORDERS = {"replicate": "BORDER_REPLICATE", "same": "BORDER_CONSTANT"}  # pyiqa's ExactPadding2d: 'same' pads zeros


def normalize_img_with_gauss(img, kernel_size: int = 7, sigma: float = 7.0 / 6, C: int = 1, padding: str = "same"):
    """pyiqa's ``func_util.normalize_img_with_gauss`` (MSCN: local mean and deviation under a
    Gaussian window) for float64 ``img`` (N x C x H x W), the two filterings done by OpenCV's
    ``filter2D`` in float64 with the same kernel and border instead of torch's float64
    ``conv2d`` (im2col; ~5x slower on a CPU, and slower still when its threads contend).
    Same formula; values equal to ~1e-15 (summation order)."""
    import cv2
    import torch

    k = _gauss_kernel(kernel_size, sigma)
    border = getattr(cv2, _BORDERS[padding])
    x = img.detach().numpy()
    mu, ex2 = np.empty_like(x), np.empty_like(x)
    for i in np.ndindex(*x.shape[:2]):
        plane = np.ascontiguousarray(x[i])
        mu[i] = cv2.filter2D(plane, cv2.CV_64F, k, borderType=border)
        ex2[i] = cv2.filter2D(plane * plane, cv2.CV_64F, k, borderType=border)
    eps = np.finfo(x.dtype).eps
    ex2 -= mu * mu
    np.abs(ex2, out=ex2)
    ex2 += eps
    np.sqrt(ex2, out=ex2)  # pyiqa's safe_sqrt
    ex2 += C
    return torch.from_numpy((x - mu) / ex2)


@lru_cache(maxsize=1)
def _gamma_tables():
    """pyiqa's shape grids and their ratio tables (float32 ``arange`` made float64, torch's
    lgamma), as numpy: (gamma, GGD table of estimate_ggd_param, AGGD table of
    estimate_aggd_param)."""
    import torch

    gam = torch.arange(0.2, 10 + 0.001, 0.001).to(torch.float64)
    lg1, lg2, lg3 = torch.lgamma(1.0 / gam), torch.lgamma(2.0 / gam), torch.lgamma(3.0 / gam)
    r_ggd = (lg1 + lg3 - 2 * lg2).exp()
    r_aggd = (2 * lg2 - (lg1 + lg3)).exp()
    return gam.numpy(), r_ggd.numpy(), r_aggd.numpy()


def _lgamma(x: np.ndarray) -> np.ndarray:
    from scipy.special import gammaln

    return gammaln(x)


def _ggd(x: np.ndarray):
    """pyiqa's ``estimate_ggd_param`` on one map, in numpy: (shape, sigma)."""
    gam, r_ggd, _ = _gamma_tables()
    sigma_sq = np.mean(x * x)
    rho = sigma_sq / np.mean(np.abs(x)) ** 2
    return gam[np.argmin(np.abs(rho - r_ggd))], np.sqrt(sigma_sq)


def _aggd(x: np.ndarray):
    """pyiqa's ``estimate_aggd_param(..., return_sigma=True)`` for a batch of maps
    (N x ...), in numpy, all at once: (alpha, left std, right std), each of length N."""
    _, _, r_aggd = _gamma_tables()
    gam = _gamma_tables()[0]
    flat = x.reshape(x.shape[0], -1)
    sq = flat * flat
    neg, pos = flat < 0, flat > 0
    left_std = np.sqrt(np.where(neg, sq, 0.0).sum(1) / neg.sum(1))
    right_std = np.sqrt(np.where(pos, sq, 0.0).sum(1) / pos.sum(1))
    g = left_std / right_std
    rhat = np.abs(flat).mean(1) ** 2 / sq.mean(1)
    rhatnorm = (rhat * (g**3 + 1) * (g + 1)) / (g**2 + 1) ** 2
    alpha = gam[np.argmin(np.abs(r_aggd[None] - rhatnorm[:, None]), axis=1)]
    return alpha, left_std, right_std


def niqe_block_features(mscn: np.ndarray, block: int) -> np.ndarray:
    """pyiqa's ``blockproc(mscn, block, fun=compute_feature)`` for one 2-D MSCN map, in numpy,
    all blocks at once: (blocks x 18), blocks in pyiqa's order (column by column)."""
    nbh, nbw = mscn.shape[0] // block, mscn.shape[1] // block
    blocks = mscn[: nbh * block, : nbw * block].reshape(nbh, block, nbw, block).transpose(2, 0, 1, 3).reshape(-1, block, block)
    alpha, l_std, r_std = _aggd(blocks)

    def betas(a, l, r):  # estimate_aggd_param's beta_l, beta_r
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


def niqe_strips(img: np.ndarray, mu, cov) -> float:
    """NIQE of a frame, a large one strip by strip (see the module notes; a small one is
    one strip). Follows :func:`pyiqa.archs.niqe_arch.calculate_niqe` / ``niqe`` step by
    step (luma, rounding, crop to whole blocks, per-scale MSCN with replicate padding,
    MATLAB bicubic half size, block features of all blocks at once, MVG fit), with the
    MSCN filtering done by OpenCV (:func:`normalize_img_with_gauss`)."""
    import torch
    from pyiqa.archs.func_util import diff_round
    from pyiqa.matlab_utils import imresize, nancov, nanmean
    from pyiqa.utils.color_util import to_y_channel

    from .fidelity import strips

    b = NIQE_BLOCK
    nbh, nbw = img.shape[0] // b, img.shape[1] // b
    bands = strips(nbh, nbw * b * b)  # in block rows; one band: small enough as a whole
    H, m = nbh * b, NIQE_CONTEXT
    feats = []
    for r0, r1 in bands:
        top, bottom = max(0, r0 * b - m), min(H, r1 * b + m)
        x = _tensor(img[top:bottom, : nbw * b])
        x = to_y_channel(x, 255, "ycbcr") if x.shape[1] == 3 else x * 255
        x = diff_round(x).to(torch.float64)
        lead = r0 * b - top
        per_scale = []
        for scale in (1, 2):
            mscn = normalize_img_with_gauss(x, padding="replicate")
            rows = slice(lead // scale, (lead + (r1 - r0) * b) // scale)
            per_scale.append(torch.from_numpy(niqe_block_features(mscn[0, 0, rows].numpy(), b // scale))[None])
            if scale == 1:
                x = imresize(x / 255.0, scale=0.5, antialiasing=True) * 255.0
        feats.append(torch.cat(per_scale, -1))
    distparam = torch.cat(feats, 1)
    mu_p, cov_p = mu.to(distparam)[None], cov.to(distparam)[None]
    mu_d, cov_d = nanmean(distparam, dim=1), nancov(distparam)
    invcov = torch.linalg.pinv((cov_p + cov_d) / 2)
    diff = (mu_p - mu_d).unsqueeze(1)
    return float(torch.sqrt(torch.bmm(torch.bmm(diff, invcov), diff.transpose(1, 2)).squeeze()))


def _nss_sums(rows, height: int, bands: list[tuple[int, int]]):
    """Sums behind BRISQUE's natural-scene statistics of one scale, strip by strip.

    ``rows(a, b)`` gives the luma rows [a, b) of that scale (1 x 1 x n x W, float64).
    Returns the MSCN sums for the GGD fit and, per pairwise shift, the sums for the AGGD fit
    of the products with the shifted map (``torch.roll``: the first row pairs with the last)."""
    import torch

    shifts = [(0, 1), (1, 0), (1, 1), (-1, 1)]
    ggd = torch.zeros(3, dtype=torch.float64)  # sum x^2, sum |x|, n
    aggd = torch.zeros(len(shifts), 7, dtype=torch.float64)  # n_left, n_right, sum x^2 left, right, sum |x|, sum x^2, n
    first = last = None

    def add(k, prod):
        left, right = prod < 0, prod > 0
        aggd[k] += torch.stack([left.sum().double(), right.sum().double(), (prod * left).pow(2).sum(), (prod * right).pow(2).sum(),
                                prod.abs().sum(), prod.pow(2).sum(), torch.tensor(float(prod.numel()), dtype=torch.float64)])

    for a, b in bands:
        top, bottom = max(0, a - 4), min(height, b + 4)  # 3 rows for the 7x7 window, 1 for the row pairs
        m = normalize_img_with_gauss(rows(top, bottom), 7, 7.0 / 6, padding="same")
        own = m[..., a - top:b - top, :]
        ggd += torch.stack([own.pow(2).sum(), own.abs().sum(), torch.tensor(float(own.numel()), dtype=torch.float64)])
        if a == 0:
            first = m[..., :1, :]
        if b == height:
            last = m[..., -1:, :]
        for k, (dy, dx) in enumerate(shifts):
            lo, hi = max(a, 1) if dy == 1 else a, min(b, height - 1) if dy == -1 else b  # rows whose partner is inside
            if hi > lo:
                cur = m[..., lo - top:hi - top, :]
                other = m[..., lo - top - dy:hi - top - dy, :]
                add(k, cur * torch.roll(other, shifts=dx, dims=-1))
    for k, (dy, dx) in enumerate(shifts):  # the rows that wrap around
        if dy == 1:
            add(k, first * torch.roll(last, shifts=dx, dims=-1))
        elif dy == -1:
            add(k, last * torch.roll(first, shifts=dx, dims=-1))
    return ggd, aggd


def _nss_features(ggd, aggd):
    """BRISQUE's 18 features of one scale from :func:`_nss_sums` (pyiqa's estimate_ggd_param
    and estimate_aggd_param, written over sums)."""
    import torch

    gam = torch.arange(0.2, 10 + 0.001, 0.001).to(torch.float64)  # a float32 grid, as pyiqa's
    r_table = (torch.lgamma(1.0 / gam) + torch.lgamma(3.0 / gam) - 2 * torch.lgamma(2.0 / gam)).exp()
    sigma_sq = ggd[0] / ggd[2]
    rho = sigma_sq / (ggd[1] / ggd[2]) ** 2
    feats = [gam[(rho - r_table).abs().argmin()], sigma_sq]
    r_gam = (2 * torch.lgamma(2.0 / gam) - (torch.lgamma(1.0 / gam) + torch.lgamma(3.0 / gam))).exp()
    for n_l, n_r, s_l, s_r, s1, s2, n in aggd:
        left_std, right_std = torch.sqrt(s_l / n_l.float().double()), torch.sqrt(s_r / n_r.float().double())
        g = left_std / right_std
        rhat = (s1 / n) ** 2 / (s2 / n)
        rhatnorm = (rhat * (g**3 + 1) * (g + 1)) / (g**2 + 1) ** 2
        alpha = gam[(r_gam - rhatnorm).abs().argmin()]
        eta = (right_std - left_std) * torch.exp(torch.lgamma(2.0 / alpha) - (torch.lgamma(1.0 / alpha) + torch.lgamma(3.0 / alpha)) / 2)
        feats += [alpha, eta, left_std**2, right_std**2]
    return torch.stack(feats)


def brisque_whole(img: np.ndarray) -> float:
    """:func:`pyiqa.archs.brisque_arch.brisque` (``version="original"``, the shipped SVR)
    step by step, with the MSCN filtering done by OpenCV (:func:`normalize_img_with_gauss`)."""
    import torch
    from pyiqa.archs.brisque_arch import rbf_kernel, scale_features
    from pyiqa.matlab_utils import imresize
    from pyiqa.utils.color_util import to_y_channel

    x = _tensor(img)
    x = to_y_channel(x, 255.0) if x.shape[1] == 3 else x * 255
    features = []
    for _ in range(2):  # pyiqa's natural_scene_statistics, in numpy
        luma = normalize_img_with_gauss(x, 7, 7.0 / 6, padding="same")[0, 0].numpy()
        alpha, sigma = _ggd(luma)
        feats = [alpha, sigma**2]
        for shift in [(0, 1), (1, 0), (1, 1), (-1, 1)]:
            a, s_l, s_r = _aggd((luma * np.roll(luma, shift, axis=(0, 1)))[None])
            eta = (s_r - s_l) * np.exp(_lgamma(2.0 / a) - (_lgamma(1.0 / a) + _lgamma(3.0 / a)) / 2)
            feats += [a[0], eta[0], s_l[0] ** 2, s_r[0] ** 2]
        features.append(torch.tensor(np.array(feats, dtype=np.float64))[None])
        if not features[1:]:  # (pyiqa also resizes after the last scale, unused)
            x = imresize(x, scale=0.5, antialiasing=True)
    sv_coef, sv, gamma, rho = brisque_model()
    scaled = scale_features(torch.cat(features, dim=-1))
    return float(rbf_kernel(features=scaled, sv=sv.to(x).t(), gamma=gamma) @ sv_coef.to(x) - rho)


BRISQUE_CONTEXT = 16  # full-size rows around a strip for the half-size image (as NIQE_CONTEXT)


def brisque_strips(img: np.ndarray) -> float | None:
    """BRISQUE of a large frame in strips of rows (the module notes), or None when the frame
    is small enough for :func:`pyiqa.archs.brisque_arch.brisque` at once. Its statistics are
    global, so each strip adds to running sums (in float64) from which the features come."""
    import torch
    from pyiqa.archs.brisque_arch import rbf_kernel, scale_features
    from pyiqa.matlab_utils import imresize
    from pyiqa.utils.color_util import to_y_channel

    from .fidelity import strips

    h, w = img.shape[:2]
    bands = strips(h, w, 4)
    if len(bands) == 1:
        return None

    def luma(a, b):
        x = _tensor(img[a:b])
        return to_y_channel(x, 255.0) if x.shape[1] == 3 else x * 255

    def half(a, b):  # rows [a, b) of imresize(luma, 0.5)
        c = 2 * BRISQUE_CONTEXT + 2 * 4
        top, bottom = max(0, 2 * a - c), min(h, 2 * b + c)
        top -= top % 2
        y = imresize(luma(top, bottom), scale=0.5, antialiasing=True)
        return y[..., a - top // 2:b - top // 2, :]

    h2 = math.ceil(h / 2)
    bands2 = strips(h2, 4 * w, 4)  # a half-size row costs a full-size strip of two rows in three channels: thinner strips
    feats = torch.cat([_nss_features(*_nss_sums(luma, h, bands)), _nss_features(*_nss_sums(half, h2, bands2))])
    sv_coef, sv, gamma, rho = brisque_model()
    scaled = scale_features(feats[None])
    return float(rbf_kernel(features=scaled, sv=sv.t(), gamma=gamma) @ sv_coef - rho)


class NIQE(Metric):
    requires = ("pyiqa",)
    requires_extra = "iqa"
    name = "niqe"
    version = "1"
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
        "implementation": "pyiqa calculate_niqe's steps and features, MSCN filtering by OpenCV (equal to pyiqa to ~1e-12)",
    }
    description = "Natural Image Quality Evaluator (Mittal et al. 2013): distance from a natural-image model; lower is more natural."

    def score(self, output, reference=None, crop_border=0):
        _require_pyiqa(self.name)
        img = crop(output, crop_border)
        _check_size(self.name, img, 96)
        mu, cov = niqe_params()
        with _one_torch_thread():
            v = niqe_strips(img, mu, cov)
        if not math.isfinite(v):
            raise ValueError(f"NIQE is not finite ({v}); a flat image has no natural-scene statistics")
        return v


class BRISQUE(Metric):
    requires = ("pyiqa",)
    requires_extra = "iqa"
    name = "brisque"
    version = "1"
    kind = "nr"
    higher_is_better = False
    unit = ""
    family = "no-reference"
    conventions = {
        "model": "official LIVE BRISQUE SVR 'allmodel' (libsvm, sha256 7c8e2392...), gamma 0.05, rho -153.591",
        "space": "Y of MATLAB rgb2ycbcr (BT.601), float; gray used as is",
        "features": "pyiqa 'original' (piq port): 7x7 Gaussian sigma 7/6, 2 scales",
        "convention": "LIVE C++/libsvm release, not MATLAB's brisque()",
        "crop_border": "run setting",
        "implementation": "pyiqa brisque's steps and features, MSCN filtering by OpenCV (equal to pyiqa to ~1e-12)",
    }
    description = "Blind/Referenceless Image Spatial Quality Evaluator (Mittal et al. 2012): SVR on natural-scene statistics; roughly 0 (best) to 100+."

    def score(self, output, reference=None, crop_border=0):
        _require_pyiqa(self.name)
        img = crop(output, crop_border)
        _check_size(self.name, img, 16)
        with _one_torch_thread():
            v = brisque_strips(img)
            if v is None:
                v = brisque_whole(img)
        if not math.isfinite(v):
            raise ValueError(f"BRISQUE is not finite ({v})")
        return v
