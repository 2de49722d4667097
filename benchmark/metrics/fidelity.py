"""Full-reference fidelity metrics: PSNR, SSIM (RGB and Y), PSNR-B.

Conventions (all stated in ``conventions`` and in ``bench list metrics``):

* data range 255 (uint8 frames); RGB metrics average over the three channels
  (PSNR: one MSE over all channels; SSIM: mean of per-channel SSIM).
* ``-y`` variants use MATLAB ``rgb2ycbcr`` luma (BT.601, 16-235), unrounded float.
  On grayscale frames the single channel is used as is.
* crop border: the run's crop border (default: the degradation's scale factor for
  SR, 0 otherwise) is removed from every side before scoring.
* SSIM: Wang et al.'s 11x11 Gaussian window, sigma 1.5, K1=0.01, K2=0.03, 'valid'
  filtering, no downsampling (the SR/JPEG literature's convention, as BasicSR),
  computed with scikit-image in float64.
* Memory: a frame above :data:`STRIP_PIXELS` is scored in strips of rows (SSIM with the
  window's 5 rows of overlap, so every window sees the same pixels; PSNR-B with one row), converted to float64
  one strip at a time; the values equal the whole-frame computation up to the order of
  floating-point summation (~1e-15 relative; tests/test_metric_memory.py).
* PSNR-B (Yim & Bovik 2011): on luma, 8x8 blocks aligned at the top-left, blocking
  effect factor of the restored image, as in the paper (not sewar's, which miscounts).
"""

from __future__ import annotations

import math

import numpy as np

from ..api import Metric, crop
from ..imaging import rgb_to_y

_PSNR_CAP = 100.0  # identical images: report 100 dB instead of inf (stated in conventions)


def _db(mse: float) -> float:
    """10*log10(255^2 / mse), capped at 100 dB (identical images)."""
    if mse == 0:
        return _PSNR_CAP
    return min(_PSNR_CAP, 10.0 * math.log10(255.0**2 / mse))


#: frames with more pixels than this are scored strip by strip (bounded memory)
STRIP_PIXELS = 1_000_000
#: rows per strip: about this many pixels per strip
STRIP_BUDGET = 500_000


def strips(h: int, w: int, context: int = 0) -> list[tuple[int, int]]:
    """Row ranges [r0, r1) covering ``h`` rows: one range for a frame of at most
    :data:`STRIP_PIXELS`, else strips of about :data:`STRIP_BUDGET` pixels (at least
    ``4 * context + 1`` rows, so the overlap stays small)."""
    if h * w <= STRIP_PIXELS:
        return [(0, h)]
    rows = max(STRIP_BUDGET // max(w, 1), 4 * context + 1, 1)
    return [(r, min(h, r + rows)) for r in range(0, h, rows)]


def _mse(a: np.ndarray, b: np.ndarray, convert=None) -> float:
    """Mean squared difference of two uint8 frames, in float64, strip by strip
    (``convert``: a frame -> float64 transform applied per strip, e.g. luma)."""
    convert = convert or (lambda x: x.astype(np.float64))
    parts = strips(a.shape[0], a.shape[1])
    if len(parts) == 1:
        return float(np.mean((convert(a) - convert(b)) ** 2))
    total, count = 0.0, 0
    for r0, r1 in parts:
        d = convert(a[r0:r1]) - convert(b[r0:r1])
        total += float(np.square(d, out=d).sum())
        count += d.size
    return total / count


def _psnr(a: np.ndarray, b: np.ndarray, convert=None) -> float:
    return _db(_mse(a, b, convert))


def _check(output: np.ndarray, reference: np.ndarray | None) -> np.ndarray:
    if reference is None:
        raise ValueError("full-reference metric called without a reference")
    if output.shape != reference.shape:
        raise ValueError(f"output {output.shape} and reference {reference.shape} differ in shape")
    return reference


class PSNR(Metric):
    name = "psnr"
    version = "1"
    kind = "fr"
    higher_is_better = True
    unit = "dB"
    family = "fidelity"
    conventions = {"space": "RGB (or the single gray channel)", "data_range": 255, "crop_border": "run setting", "identical": "100 dB"}
    description = "Peak signal-to-noise ratio over all channels; equals skimage.metrics.peak_signal_noise_ratio(data_range=255)."

    def score(self, output, reference, crop_border=0):
        reference = _check(output, reference)
        return _psnr(crop(output, crop_border), crop(reference, crop_border))


class PSNRY(Metric):
    name = "psnr-y"
    version = "1"
    kind = "fr"
    higher_is_better = True
    unit = "dB"
    family = "fidelity"
    conventions = {"space": "Y, MATLAB rgb2ycbcr (BT.601, 16-235), float", "data_range": 255, "crop_border": "run setting", "identical": "100 dB"}
    description = "PSNR on BT.601 luma as in SR and JPEG papers (MATLAB rgb2ycbcr)."

    def score(self, output, reference, crop_border=0):
        reference = _check(output, reference)
        return _psnr(crop(output, crop_border), crop(reference, crop_border), rgb_to_y)


_SSIM_ARGS = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255.0, K1=0.01, K2=0.03)
_SSIM_PAD = 5  # (11 - 1) // 2: scikit-image's window radius for sigma 1.5, truncate 3.5


def _ssim(a: np.ndarray, b: np.ndarray, convert=None) -> float:
    """a, b: uint8 (or float) HxWxC on the 0-255 scale; mean over channels of Wang's SSIM,
    with ``convert`` (default: float64) applied to each strip.

    scikit-image's Gaussian SSIM (sigma 1.5, truncated to 11x11, population
    covariance, mean over the valid region) is Wang's MATLAB ssim_index without
    downsampling, in float64 (piq in float64 is exact too but ~20x slower on a CPU,
    and piq in float32 drifts by ~1e-5). A large frame is scored in strips of rows that
    overlap by the window's radius: each strip's SSIM map is kept only where its windows
    lie inside the strip, so every kept value is the whole-frame one."""
    from skimage.metrics import structural_similarity

    convert = convert or (lambda x: x.astype(np.float64))
    h, w = a.shape[:2]
    pad = _SSIM_PAD
    parts = strips(h - 2 * pad, w, pad) if h > 2 * pad else [(0, h)]
    if len(parts) == 1:
        return float(structural_similarity(convert(a), convert(b), channel_axis=2, **_SSIM_ARGS))
    totals = None
    for v0, v1 in parts:  # rows [v0, v1) of the valid region = frame rows [v0 + pad, v1 + pad)
        r0, r1 = v0, v1 + 2 * pad
        x, y = convert(a[r0:r1]), convert(b[r0:r1])
        sums = []
        for c in range(x.shape[2]):
            _, smap = structural_similarity(x[..., c], y[..., c], full=True, **_SSIM_ARGS)
            sums.append(float(smap[pad:-pad, pad:-pad].sum(dtype=np.float64)))
        totals = np.add(totals, sums) if totals is not None else np.array(sums)
    count = (h - 2 * pad) * (w - 2 * pad)
    return float(np.mean(totals / count))


class SSIM(Metric):
    name = "ssim"
    version = "1"
    kind = "fr"
    higher_is_better = True
    unit = ""
    family = "fidelity"
    conventions = {
        "space": "RGB, mean of per-channel SSIM (or the gray channel)",
        "window": "11x11 Gaussian, sigma 1.5, valid, no downsampling",
        "K1,K2": "0.01,0.03",
        "data_range": 255,
        "crop_border": "run setting",
        "implementation": "skimage.metrics.structural_similarity (float64)",
    }
    description = "Structural similarity (Wang et al. 2004) on RGB."

    def score(self, output, reference, crop_border=0):
        reference = _check(output, reference)
        return _ssim(crop(output, crop_border), crop(reference, crop_border))


class SSIMY(Metric):
    name = "ssim-y"
    version = "1"
    kind = "fr"
    higher_is_better = True
    unit = ""
    family = "fidelity"
    conventions = {**SSIM.conventions, "space": "Y, MATLAB rgb2ycbcr (BT.601, 16-235), float"}
    description = "SSIM on BT.601 luma, as in SR and JPEG papers."

    def score(self, output, reference, crop_border=0):
        reference = _check(output, reference)
        return _ssim(crop(output, crop_border), crop(reference, crop_border), lambda x: rgb_to_y(x)[:, :, None])


class PSNRB(Metric):
    name = "psnr-b"
    version = "1"
    kind = "fr"
    higher_is_better = True
    unit = "dB"
    family = "fidelity"
    conventions = {
        "space": "Y, MATLAB rgb2ycbcr (BT.601, 16-235), float",
        "blocks": "8x8 aligned at the top-left of the (cropped) frame",
        "bef_of": "restored image",
        "data_range": 255,
        "crop_border": "run setting",
        "implementation": "bench (Yim & Bovik eqs. 3-6; sewar 0.4 miscounts boundaries)",
    }
    description = "PSNR including the blocking effect factor (Yim & Bovik 2011): penalises visible 8x8 block edges."

    def score(self, output, reference, crop_border=0):
        reference = _check(output, reference)
        out, ref = crop(output, crop_border), crop(reference, crop_border)
        if len(strips(out.shape[0], out.shape[1])) == 1:
            y_out = rgb_to_y(out)
            return _db(float(np.mean((y_out - rgb_to_y(ref)) ** 2)) + blocking_effect_factor(y_out))
        return _db(_mse(out, ref, rgb_to_y) + _bef_strips(out))


def _bef_strips(frame: np.ndarray, block: int = 8) -> float:
    """:func:`blocking_effect_factor` of the luma of ``frame``, computed strip by strip."""
    h, w = frame.shape[:2]
    return _bef(h, w, lambda a, b: rgb_to_y(frame[a:b]), strips(h, w), block)


def blocking_effect_factor(y: np.ndarray, block: int = 8) -> float:
    """BEF of Yim & Bovik (IEEE TIP 2011), eqs. (3)-(6), for a 2-D float image.

    Written here rather than taken from sewar: sewar 0.4.x counts the block-boundary
    pairs as ``H*(W/B) - 1`` instead of the paper's ``H*(W/B - 1)``, which understates
    blocking and reads ~0.05-0.15 dB high on LIVE1 (see tests/test_shared_sets.py)."""
    return _bef(y.shape[0], y.shape[1], lambda a, b: y[a:b], [(0, y.shape[0])], block)


def _bef(h: int, w: int, rows, bands: list[tuple[int, int]], block: int) -> float:
    """BEF over row ``bands`` of a luma image given by ``rows(a, b)`` (each band read with the
    row after it, for the vertical differences)."""
    hb = np.zeros(w - 1, bool)
    hb[block - 1 :: block] = True
    vb = np.zeros(h - 1, bool)
    vb[block - 1 :: block] = True
    n_b = h * hb.sum() + w * vb.sum()
    n_bc = h * (~hb).sum() + w * (~vb).sum()
    if n_b == 0 or n_bc == 0:
        return 0.0
    s_b = s_bc = 0.0
    for r0, r1 in bands:
        y = rows(r0, min(h, r1 + 1))
        dh = np.square(y[: r1 - r0, :-1] - y[: r1 - r0, 1:])  # horizontal neighbour differences
        dv = np.square(y[:-1] - y[1:])  # vertical: pairs (i, i + 1) for i in [r0, r1), where i + 1 < h
        on = vb[r0:r0 + dv.shape[0]]
        s_b += float(dh[:, hb].sum() + dv[on, :].sum())
        s_bc += float(dh[:, ~hb].sum() + dv[~on, :].sum())
    d_b, d_bc = s_b / n_b, s_bc / n_bc
    if d_b <= d_bc:
        return 0.0
    return float(np.log2(block) / np.log2(min(h, w)) * (d_b - d_bc))
