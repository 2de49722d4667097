"""Full-reference fidelity metrics: PSNR, SSIM (RGB and Y), PSNR-B.

Conventions (all stated in ``conventions`` and in ``bench list metrics``):

* data range 255 (uint8 frames); RGB metrics average over the three channels
  (PSNR: one MSE over all channels; SSIM: mean of per-channel SSIM).
* ``-y`` variants use MATLAB ``rgb2ycbcr`` luma (BT.601, 16-235), unrounded float.
  On grayscale frames the single channel is used as is.
* crop border: the run's crop border (default: the degradation's scale factor for
  SR, 0 otherwise) is removed from every side before scoring.
* SSIM: Wang et al.'s 11x11 Gaussian window, sigma 1.5, K1=0.01, K2=0.03, 'valid'
  filtering, no downsampling (the SR/JPEG literature's convention, as BasicSR); the
  values of scikit-image's ``structural_similarity`` in float64, computed with a separable
  filter (OpenCV) on the valid region only.
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

from benchmark.core.imaging import rgb_to_y

from ..api import Metric, crop

_PSNR_CAP = 100.0  # identical images: report 100 dB instead of inf (stated in conventions)


def _db(mse: float) -> float:
    """10*log10(255^2 / mse), capped at 100 dB (identical images); NaN for a NaN mse (e.g.
    over zero pixels), which the score stage turns into an error, never into 100 dB."""
    if math.isnan(mse):
        return math.nan
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
    conventions = {
        "space": "RGB (or the single gray channel)",
        "data_range": 255,
        "crop_border": "run setting",
        "identical": "100 dB",
    }
    description = (
        "Peak signal-to-noise ratio over all channels; equals skimage.metrics.peak_signal_noise_ratio(data_range=255)."
    )

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
    conventions = {
        "space": "Y, MATLAB rgb2ycbcr (BT.601, 16-235), float",
        "data_range": 255,
        "crop_border": "run setting",
        "identical": "100 dB",
    }
    description = "PSNR on BT.601 luma as in SR and JPEG papers (MATLAB rgb2ycbcr)."

    def score(self, output, reference, crop_border=0):
        reference = _check(output, reference)
        return _psnr(crop(output, crop_border), crop(reference, crop_border), rgb_to_y)


_SSIM_ARGS = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255.0, K1=0.01, K2=0.03)
_SSIM_PAD = 5  # (11 - 1) // 2: scikit-image's window radius for sigma 1.5, truncate 3.5
_SSIM_C1 = (0.01 * 255.0) ** 2
_SSIM_C2 = (0.03 * 255.0) ** 2


def _ssim_kernel() -> np.ndarray:
    """scipy.ndimage's 1-D Gaussian for sigma 1.5, truncate 3.5 (radius 5, 11 taps), as
    skimage's gaussian SSIM uses it: exp(-x^2 / (2 sigma^2)) normalised to sum 1."""
    x = np.arange(-_SSIM_PAD, _SSIM_PAD + 1, dtype=np.float64)
    k = np.exp(-0.5 / 1.5**2 * x**2)
    return k / k.sum()


_SSIM_KERNEL = _ssim_kernel()


#: valid rows per chunk of the SSIM map: the five filtered maps of a chunk stay in cache
SSIM_CHUNK_ROWS = 64


def _ssim_map_sum(x: np.ndarray, y: np.ndarray) -> float:
    """Sum of the SSIM map of two 2-D float64 planes over the valid region (windows wholly
    inside), by separable filtering (OpenCV, float64), :data:`SSIM_CHUNK_ROWS` rows at a
    time. The border mode does not matter: only values whose 11x11 window lies inside the
    plane are kept."""
    import cv2

    k, p = _SSIM_KERNEL, _SSIM_PAD
    total = 0.0
    for r0 in range(0, x.shape[0] - 2 * p, SSIM_CHUNK_ROWS):
        xs, ys = x[r0 : r0 + SSIM_CHUNK_ROWS + 2 * p], y[r0 : r0 + SSIM_CHUNK_ROWS + 2 * p]

        def blur(z):
            return cv2.sepFilter2D(z, cv2.CV_64F, k, k, borderType=cv2.BORDER_REFLECT)[p:-p, p:-p]

        ux, uy = blur(xs), blur(ys)
        uxx, uyy, uxy = blur(xs * xs), blur(ys * ys), blur(xs * ys)
        uxuy = ux * uy
        np.square(ux, out=ux)
        np.square(uy, out=uy)
        ux += uy  # ux^2 + uy^2
        uxx += uyy  # uxx + uyy
        uxx -= ux  # vx + vy
        uxx += _SSIM_C2  # B2
        ux += _SSIM_C1  # B1
        uxx *= ux  # D = B1 B2
        uxy -= uxuy  # vxy
        uxy *= 2.0
        uxy += _SSIM_C2  # A2
        uxuy *= 2.0
        uxuy += _SSIM_C1  # A1
        uxuy *= uxy
        uxuy /= uxx  # S
        total += float(uxuy.sum(dtype=np.float64))
    return total


def _ssim(a: np.ndarray, b: np.ndarray, convert=None) -> float:
    """a, b: uint8 (or float) HxWxC on the 0-255 scale; mean over channels of Wang's SSIM,
    with ``convert`` (default: none) applied to each strip; planes are scored in float64.

    The values are scikit-image's Gaussian SSIM (``structural_similarity`` with sigma 1.5,
    truncated to 11x11, population covariance, mean over the valid region: Wang's MATLAB
    ssim_index without downsampling), computed here in float64 with OpenCV's separable
    filter on the valid region only, one channel at a time: ~4x faster than scikit-image,
    equal to it to ~1e-14 (summation order; tests/test_metrics.py). (float32 filtering
    drifts by ~5e-7 on JPEG'd photos, piq in float32 by ~1e-5: not used.) A large frame is
    scored in strips of rows that overlap by the window's radius: each strip's SSIM map is
    kept only where its windows lie inside the strip, so every kept value is the
    whole-frame one."""
    h, w = a.shape[:2]
    pad = _SSIM_PAD
    if h < 2 * pad + 1 or w < 2 * pad + 1:
        raise ValueError(f"SSIM needs at least {2 * pad + 1}x{2 * pad + 1} pixels (its window), got {w}x{h}")
    convert = convert or (lambda x: x)  # each channel plane is made float64 below
    totals = None
    for v0, v1 in strips(h - 2 * pad, w, pad):  # rows [v0, v1) of the valid region = frame rows [v0 + pad, v1 + pad)
        x, y = convert(a[v0 : v1 + 2 * pad]), convert(b[v0 : v1 + 2 * pad])
        sums = [
            _ssim_map_sum(
                np.ascontiguousarray(x[..., c]).astype(np.float64, copy=False),
                np.ascontiguousarray(y[..., c]).astype(np.float64, copy=False),
            )
            for c in range(x.shape[2])
        ]
        totals = np.add(totals, sums) if totals is not None else np.array(sums)
    count = (h - 2 * pad) * (w - 2 * pad)
    return float(np.mean(totals / count))


def _ssim_skimage(a: np.ndarray, b: np.ndarray, convert=None) -> float:
    """The reference: scikit-image's ``structural_similarity`` on the whole frame in float64
    (the implementation before version 1's OpenCV path; kept for tests and benchmarks)."""
    from skimage.metrics import structural_similarity

    convert = convert or (lambda x: x.astype(np.float64))
    return float(structural_similarity(convert(a), convert(b), channel_axis=2, **_SSIM_ARGS))


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
        "implementation": "bench: OpenCV separable Gaussian, float64, valid region (equals skimage.metrics.structural_similarity to ~1e-14)",
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
        on = vb[r0 : r0 + dv.shape[0]]
        s_b += float(dh[:, hb].sum() + dv[on, :].sum())
        s_bc += float(dh[:, ~hb].sum() + dv[~on, :].sum())
    d_b, d_bc = s_b / n_b, s_bc / n_bc
    if d_b <= d_bc:
        return 0.0
    return float(np.log2(block) / np.log2(min(h, w)) * (d_b - d_bc))
