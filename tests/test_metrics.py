import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from benchmark import registry
from benchmark.core.imaging import rgb_to_y
from benchmark.degradations.jpeg import JPEG

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
    sk = structural_similarity(
        ref, out, channel_axis=2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
    )
    assert m("ssim").score(out, ref) == pytest.approx(sk, abs=1e-12)


def _skimage_ssim(out, ref, crop_border=0, luma=False):
    """scikit-image's Gaussian SSIM in float64 on the whole (cropped) frame: the reference
    the OpenCV separable path must equal."""
    if crop_border:
        out, ref = (
            out[crop_border:-crop_border, crop_border:-crop_border],
            ref[crop_border:-crop_border, crop_border:-crop_border],
        )
    f = (lambda a: rgb_to_y(a)[..., None]) if luma else (lambda a: a.astype(np.float64))
    return structural_similarity(
        f(out),
        f(ref),
        channel_axis=2,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255.0,
        K1=0.01,
        K2=0.03,
    )


def _noisy_pair(h, w, c, seed, amp=40):
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
    out = np.clip(ref.astype(np.int16) + rng.integers(-amp, amp + 1, ref.shape), 0, 255).astype(np.uint8)
    return out, ref


@pytest.mark.parametrize(
    "h,w,c",
    [(11, 11, 3), (11, 40, 1), (12, 11, 3), (13, 17, 1), (33, 97, 3), (75, 64, 3), (130, 131, 1), (321, 481, 3)],
)
def test_ssim_equals_skimage_on_random_images(h, w, c):
    """Random noise (the hardest case: low local variance matters), gray and odd sizes, down
    to the 11x11 window itself."""
    out, ref = _noisy_pair(h, w, c, seed=h * w + c)
    assert m("ssim").score(out, ref) == pytest.approx(_skimage_ssim(out, ref), abs=1e-9)
    if c == 3:
        assert m("ssim-y").score(out, ref) == pytest.approx(_skimage_ssim(out, ref, luma=True), abs=1e-9)
    flat = np.full((h, w, c), 77, np.uint8)  # zero variance everywhere: C1, C2 decide
    assert m("ssim").score(flat, ref) == pytest.approx(_skimage_ssim(flat, ref), abs=1e-9)


@pytest.mark.parametrize("q", [5, 20, 50])
def test_ssim_equals_skimage_on_jpeg_photos_with_crop(q):
    """Photo-like content (smooth image plus texture) through real JPEG, RGB and Y, crop border."""
    from skimage import data as skdata

    ref = skdata.astronaut()[:301, :389]  # odd sizes, ~CBSD68's aspect
    out = JPEG(q).apply(ref)
    for border in (0, 4):
        assert m("ssim").score(out, ref, crop_border=border) == pytest.approx(_skimage_ssim(out, ref, border), abs=1e-9)
        assert m("ssim-y").score(out, ref, crop_border=border) == pytest.approx(
            _skimage_ssim(out, ref, border, luma=True), abs=1e-9
        )


@pytest.mark.shared
def test_ssim_equals_skimage_on_live1_and_cbsd68(data_root):
    """The standard sets' frames through JPEG QF20: within 1e-9 of scikit-image (the bound
    promised is 1e-6)."""
    from benchmark.core.imaging import read_image

    files = (
        sorted((data_root / "images" / "LIVE1").glob("*.png"))[:3]
        + sorted((data_root / "images" / "CBSD68").glob("*.png"))[:3]
    )
    assert files
    for f in files:
        ref = read_image(f)
        out = JPEG(20).apply(ref)
        assert m("ssim").score(out, ref) == pytest.approx(_skimage_ssim(out, ref), abs=1e-9), f.name
        assert m("ssim-y").score(out, ref) == pytest.approx(_skimage_ssim(out, ref, luma=True), abs=1e-9), f.name


def test_ssim_strips_and_chunks_give_the_whole_frame_value(monkeypatch):
    """Strips of rows (large frames) and the chunks inside a plane change only the summation
    order: force many tiny strips and chunks of odd size on a small frame."""
    from benchmark.metrics import fidelity

    out, ref = _noisy_pair(157, 123, 3, seed=5)
    expected = _skimage_ssim(out, ref)
    monkeypatch.setattr(fidelity, "STRIP_PIXELS", 5000)
    monkeypatch.setattr(fidelity, "STRIP_BUDGET", 2000)
    monkeypatch.setattr(fidelity, "SSIM_CHUNK_ROWS", 7)
    assert len(fidelity.strips(157 - 10, 123, 5)) > 3
    assert m("ssim").score(out, ref) == pytest.approx(expected, abs=1e-12)


def test_ssim_refuses_frames_smaller_than_its_window():
    out, ref = _noisy_pair(10, 40, 3, seed=1)
    with pytest.raises(ValueError, match="11x11"):
        m("ssim").score(out, ref)
    with pytest.raises(ValueError):
        _skimage_ssim(out, ref)  # so does scikit-image


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
