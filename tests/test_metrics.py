import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from benchmark import registry
from benchmark.degradations.jpeg import JPEG
from benchmark.imaging import rgb_to_y

from conftest import smooth_image


@pytest.fixture
def pair():
    ref = smooth_image(72, 96, seed=1)
    return JPEG(15).apply(ref), ref


def m(name):
    return registry.metrics.get(name)()


def test_psnr_matches_skimage(pair):
    out, ref = pair
    assert m("psnr").score(out, ref) == pytest.approx(peak_signal_noise_ratio(ref, out, data_range=255), abs=1e-10)
    assert m("psnr").score(ref, ref) == 100.0


def test_psnr_y_is_matlab_luma_and_crops(pair):
    out, ref = pair
    y_o, y_r = rgb_to_y(out)[4:-4, 4:-4], rgb_to_y(ref)[4:-4, 4:-4]
    expected = 10 * np.log10(255**2 / np.mean((y_o - y_r) ** 2))
    assert m("psnr-y").score(out, ref, crop_border=4) == pytest.approx(expected, abs=1e-10)
    assert m("psnr-y").score(out, ref, crop_border=4) != pytest.approx(m("psnr-y").score(out, ref), abs=1e-6)


def test_ssim_matches_piq_float64_reference(pair):
    """Two independent implementations of Wang's SSIM (piq's conv2d, skimage's filters)."""
    import piq

    out, ref = pair
    t = lambda a: torch.from_numpy(a.astype(np.float64).transpose(2, 0, 1).copy())[None]
    expected = piq.ssim(t(out), t(ref), data_range=255.0, downsample=False).item()
    assert m("ssim").score(out, ref) == pytest.approx(expected, abs=1e-9)
    ty = lambda a: torch.from_numpy(rgb_to_y(a).copy())[None, None]
    expected_y = piq.ssim(ty(out), ty(ref), data_range=255.0, downsample=False).item()
    assert m("ssim-y").score(out, ref) == pytest.approx(expected_y, abs=1e-9)
    assert m("ssim").score(ref, ref) == pytest.approx(1.0)
    sk = structural_similarity(ref, out, channel_axis=2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    assert m("ssim").score(out, ref) == pytest.approx(sk, abs=1e-12)


def _bef(y):
    """Literal loops over the paper's equations (Yim & Bovik 2011, eqs. 3-6), B = 8."""
    h, w = y.shape
    d_b = d_bc = 0.0
    n_b = n_bc = 0
    for j in range(w - 1):  # vertical boundaries between columns j and j+1
        s = float(np.sum((y[:, j] - y[:, j + 1]) ** 2))
        if (j + 1) % 8 == 0:
            d_b, n_b = d_b + s, n_b + h
        else:
            d_bc, n_bc = d_bc + s, n_bc + h
    for i in range(h - 1):
        s = float(np.sum((y[i, :] - y[i + 1, :]) ** 2))
        if (i + 1) % 8 == 0:
            d_b, n_b = d_b + s, n_b + w
        else:
            d_bc, n_bc = d_bc + s, n_bc + w
    assert n_b == h * (w // 8 - (w % 8 == 0)) + w * (h // 8 - (h % 8 == 0))
    d_b, d_bc = d_b / n_b, d_bc / n_bc
    return np.log2(8) / np.log2(min(h, w)) * (d_b - d_bc) if d_b > d_bc else 0.0


def test_psnr_b_matches_independent_bef(pair):
    out, ref = pair
    yo, yr = rgb_to_y(out), rgb_to_y(ref)
    expected = 10 * np.log10(255**2 / (np.mean((yo - yr) ** 2) + _bef(yo)))
    assert m("psnr-b").score(out, ref) == pytest.approx(expected, abs=1e-8)
    # blocking lowers PSNR-B below PSNR-Y on JPEG output
    assert m("psnr-b").score(out, ref) < m("psnr-y").score(out, ref)


def test_metrics_reject_shape_mismatch(pair):
    out, ref = pair
    with pytest.raises(ValueError, match="differ in shape"):
        m("psnr").score(out[:-1], ref)


def test_every_metric_declares_direction_units_and_conventions():
    for e in registry.metrics.entries():
        cls = e.load()
        assert isinstance(cls.higher_is_better, bool)
        assert cls.kind in ("fr", "nr", "task", "speed")
        assert cls.conventions, e.name
