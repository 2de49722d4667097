"""Noise, blur, the BD/DN protocols and the Real-ESRGAN chain; float frames end to end (issue 28)."""

import numpy as np
import pytest

from benchmark.api import Context, Item, Method, digest
from benchmark.core.names import Specs, parse_token, resolve
from benchmark.degradations.blur import GaussianBlur, fspecial_gaussian, fspecial_motion, imfilter
from benchmark.degradations.noise import GaussianNoise, PoissonNoise, matlab_uint8
from benchmark.degradations.protocols import BlurDownscale, DownscaleNoise, bd_kernel_size, decimate
from benchmark.degradations.realworld import RealESRGAN
from benchmark.errors import BenchError
from benchmark.run.cache import Cache
from benchmark.run.keys import degraded_key, float_input, passes_through
from benchmark.run.resolve import make_method
from benchmark.run.stages import degrade, reference, restore
from benchmark.run.stages.degrade import item_seed

from conftest import smooth_image


def _imfilter_loop(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    """MATLAB imfilter(img, k, 'replicate') written out: correlation, centre floor((n+1)/2) 1-based."""
    kh, kw = k.shape
    cy, cx = (kh + 1) // 2 - 1, (kw + 1) // 2 - 1
    h, w = img.shape[:2]
    x = img[:, :, 0].astype(np.float64)
    out = np.zeros((h, w))
    for i in range(kh):
        for j in range(kw):
            rows = np.clip(np.arange(h) + i - cy, 0, h - 1)
            cols = np.clip(np.arange(w) + j - cx, 0, w - 1)
            out += k[i, j] * x[rows][:, cols]
    return out


def test_fspecial_gaussian_is_matlabs():
    # MATLAB: fspecial('gaussian', 3, 0.5)
    expected = np.array([[0.0113, 0.0838, 0.0113], [0.0838, 0.6193, 0.0838], [0.0113, 0.0838, 0.0113]])
    assert np.allclose(fspecial_gaussian(3, 0.5), expected, atol=5e-5)
    k = fspecial_gaussian(7, 1.6)
    assert k.shape == (7, 7) and k.sum() == pytest.approx(1.0) and np.allclose(k, k.T) and np.allclose(k, k[::-1])


@pytest.mark.parametrize("shape", [(5, 5), (4, 4), (3, 6)])
def test_imfilter_is_matlab_replicate_correlation_with_uint8_rounding(shape):
    img = smooth_image(13, 17, c=1, seed=2)
    k = np.random.default_rng(1).uniform(0, 1, shape)
    k /= k.sum()  # asymmetric: correlation and convolution differ, and so would a wrong centre
    exact = _imfilter_loop(img, k)
    assert np.array_equal(imfilter(img, k)[:, :, 0], matlab_uint8(exact))
    assert np.allclose(imfilter(img.astype(np.float32), k)[:, :, 0], exact, atol=1e-3)  # float stays float
    assert np.array_equal(
        matlab_uint8(np.array([0.5, 1.5, 2.5, -3.0, 300.0])), [1, 2, 3, 0, 255]
    )  # half away from zero


def test_motion_kernel_is_a_line_of_its_length():
    assert np.allclose(fspecial_motion(9, 0), np.full((1, 9), 1 / 9))
    assert np.allclose(fspecial_motion(9, 90), np.full((9, 1), 1 / 9))
    # MATLAB: fspecial('motion', 7, 45)
    a, b, c = 0.1283, 0.0376, 0.0145
    expected = np.array(
        [
            [0, 0, 0, 0, 0, c, 0],
            [0, 0, 0, 0, b, a, c],
            [0, 0, 0, b, a, b, 0],
            [0, 0, b, a, b, 0, 0],
            [0, b, a, b, 0, 0, 0],
            [c, a, b, 0, 0, 0, 0],
            [0, c, 0, 0, 0, 0, 0],
        ]
    )
    assert np.allclose(fspecial_motion(7, 45), expected, atol=5e-5)


def test_gaussian_noise_is_float_unclipped_and_seeded_per_item():
    dark = np.full((64, 64, 1), 3, np.uint8)
    step = GaussianNoise(25)
    a = step.with_seed(item_seed("01", 0, 0)).apply(dark)
    assert a.dtype == np.float32 and a.min() < 0 and not np.allclose(a, np.round(a))  # no clipping, no rounding
    assert abs(float((a - 3).std()) - 25) < 1.0
    assert np.array_equal(a, step.with_seed(item_seed("01", 0, 0)).apply(dark))  # a rerun is identical
    assert not np.array_equal(a, step.with_seed(item_seed("02", 0, 0)).apply(dark))  # another item
    assert not np.array_equal(a, step.with_seed(item_seed("01", 1, 0)).apply(dark))  # another --seed
    assert item_seed("01", 0, 0) == int(digest("degradation-seed", "01", 0, 0)[:16], 16)  # SHA-256, not hash()
    u8 = GaussianNoise(30, u8=True).apply(dark)
    assert u8.dtype == np.uint8 and u8.min() == 0
    p = PoissonNoise(30).apply(np.full((64, 64, 3), 128, np.uint8))
    assert p.dtype == np.float32 and abs(float(p.mean()) - 128) < 3


def test_tokens_labels_and_clear_errors():
    specs = Specs()
    for token in (
        "noise25",
        "noise7.5",
        "noise30u8",
        "poisson4",
        "blur1.6",
        "blur2k9",
        "ablur4x1.5r30",
        "motion15r45",
        "bd3",
        "dn3",
        "realx4",
    ):
        (d,) = parse_token(token, specs)
        assert d.label() == token
    assert parse_token("bd3", specs)[0].scale == 3 and parse_token("realx4", specs)[0].scale == 4
    for token, words in (
        ("noise", ["'noise'", ">= 0", "negative"]),
        ("noisex", ["'noisex'", "noise25"]),
        ("blurk3", ["'blurk3'"]),
        ("motion0", ["'motion0'", ">= 1"]),
        ("poisson0", ["'poisson0'", "> 0"]),
        ("bd9", ["bd9", "x2, x3 and x4"]),
    ):
        with pytest.raises(BenchError) as e:
            parse_token(token, specs)
        assert all(w in str(e.value) for w in words) and "\n" not in str(e.value), str(e.value)
    with pytest.raises(ValueError, match="unknown kernel 'box'.*known kernels: gaussian"):
        GaussianBlur(2, kernel="box")


def test_a_kernel_larger_than_the_image_is_refused_before_any_work(tmp_path):
    from benchmark.core.imaging import write_png

    write_png(tmp_path / "a.png", smooth_image(16, 24))
    spec = resolve(f"{tmp_path}@blur5", None)
    with pytest.raises(BenchError, match=r"31x31 kernel of 'blur5' is larger than item 'a' \(24x16.*at most 16 px"):
        spec.check_size("a", 24, 16)
    resolve(f"{tmp_path}@blur1", None).check_size("a", 24, 16)


def test_bd_and_dn_follow_rdns_matlab_code():
    assert (bd_kernel_size(3), bd_kernel_size(2), bd_kernel_size(4)) == (7, 12, 12)
    grid = np.arange(36, dtype=np.uint8).reshape(6, 6, 1)
    assert np.array_equal(
        decimate(grid, 3)[:, :, 0], grid[1::3, 1::3, 0]
    )  # imresize 'nearest' at 1/3: pixels 2, 5 (1-based)
    img = smooth_image(48, 60)
    bd = BlurDownscale(3).apply(img)
    assert bd.shape == (16, 20, 3) and bd.dtype == np.uint8
    assert np.array_equal(bd, decimate(imfilter(img, fspecial_gaussian(7, 1.6)), 3))
    flat = np.full((24, 24, 3), 77, np.uint8)
    assert np.all(BlurDownscale(3).apply(flat) == 77)
    dn = DownscaleNoise(3)
    a, b = dn.with_seed(5).apply(img), dn.with_seed(5).apply(img)
    assert a.shape == (16, 20, 3) and a.dtype == np.uint8 and np.array_equal(a, b) and dn.seeded


def test_realx4_is_seeded_and_quarter_size():
    img = smooth_image(64, 96)
    step = RealESRGAN()
    a, b, c = (step.with_seed(s).apply(img) for s in (1, 1, 2))
    assert a.shape == (16, 24, 3) and a.dtype == np.uint8 and np.array_equal(a, b) and not np.array_equal(a, c)
    assert step.with_seed(3).apply(img[:, :, :1]).shape == (16, 24, 1)  # gray stays gray


def test_float_frames_are_cached_exactly_and_uint8_entries_keep_their_meta(tmp_path):
    cache = Cache(tmp_path)
    f = (np.random.default_rng(0).normal(100, 30, (8, 9, 1))).astype(np.float32)
    with cache.writer("k" * 64) as w:
        w.add(f)
    assert np.array_equal(next(cache.read_frames("k" * 64)), f)
    assert cache.frames_meta("k" * 64)["dtype"] == "float32" and cache.check_frames("k" * 64, files=True) is None
    with cache.writer("u" * 64) as w:
        w.add(np.zeros((4, 4, 3), np.uint8))
    assert "dtype" not in cache.frames_meta("u" * 64)


def test_seeded_chains_key_the_seed_and_item_and_others_do_not():
    noisy, jpeg = resolve("photos-noise25", None), resolve("photos-qf20", None)
    assert degraded_key(noisy, "r", 0, "a") != degraded_key(noisy, "r", 1, "a") != degraded_key(noisy, "r", 1, "b")
    assert (
        degraded_key(jpeg, "r", 0, "a")
        == degraded_key(jpeg, "r", 1, "b")
        == digest("degraded", "r", [d.describe() for d in jpeg.chain])
    )
    assert (
        float_input(noisy)
        and not float_input(resolve("photos-noise25-qf20", None))
        and not float_input(resolve("photos-noise25u8", None))
    )
    assert not passes_through(make_method("identity"), noisy) and passes_through(make_method("identity"), jpeg)


class _Eight(Method):
    name = "eight"

    def process(self, frames, ctx):
        assert all(f.dtype == np.uint8 for f in frames)
        return frames


def test_float_input_reaches_float_methods_and_is_rounded_for_the_others(tmp_path):
    cache = Cache(tmp_path)
    spec = resolve("photos-gray-noise25", None)
    item = Item("x", "image", lambda: iter([smooth_image(16, 16)]), lambda: "fp-x")
    ref_key, ref_frames = reference(cache, spec, item)
    deg_key, _ = degrade(cache, spec, item, ref_key, ref_frames, seed=7)
    noisy = next(cache.read_frames(deg_key))
    assert noisy.dtype == np.float32 and noisy.shape == (16, 16, 1)
    assert (
        deg_key
        == degrade(cache, spec, item, ref_key, ref_frames, seed=7)[0]
        != degrade(cache, spec, item, ref_key, ref_frames, seed=8)[0]
    )
    ctx = Context(degradation=spec.degradation, item_id="x", seed=7)
    for method, note in ((make_method("identity"), None), (_Eight(), "uint8-input")):
        out_key, meta, _ = restore(
            cache, method, spec, ctx, deg_key, cache.read_frames(deg_key), 4, lambda: None, lambda m: None
        )
        out = next(cache.read_frames(out_key))
        assert out.dtype == np.uint8 and np.array_equal(out, np.clip(np.round(noisy), 0, 255).astype(np.uint8))
        assert meta.get("input") == note


def test_bd3_bicubic_baseline_of_rdn_on_set5(data_root):
    """RDN (CVPR 2018) Table 2: BD x3, Bicubic, Set5: 28.78 dB (PSNR on Y, 3 pixels cropped)."""
    from benchmark.core.imaging import read_image
    from benchmark.degradations.resize import matlab_resize
    from benchmark.metrics.fidelity import PSNRY

    values = []
    for p in sorted((data_root / "images" / "Set5").glob("*.png")):
        hr = read_image(p)
        hr = hr[: hr.shape[0] // 3 * 3, : hr.shape[1] // 3 * 3]
        values.append(PSNRY().score(matlab_resize(BlurDownscale(3).apply(hr), 3.0), hr, 3))
    assert np.mean(values) == pytest.approx(28.78, abs=0.05)


def test_dncnn_on_set12_noise25_in_float_and_8_bit(data_root, tmp_path):
    """Set12 image 01 at sigma 25 through the published DnCNN-S with float input: the per-image
    figure of the full `bench run` (30.0942 dB; its 12-image mean is 30.45 dB, paper 30.44, and
    30.36 dB with ``input=uint8``, 29.7211 on this image; docs/metrics.md). One forward pass: it
    takes ~1.8 s on 256x256 on 2 CPU cores (``tile=0``: whole frames, as the default chooses here, without
    the memory probe)."""
    from pathlib import Path

    weights = Path(data_root).parent / "weights" / "published" / "dncnn_25.pth"
    if not weights.is_file():
        pytest.skip("the published DnCNN weights are not here")
    from benchmark.metrics.fidelity import PSNR

    eight = make_method(f"{weights}:input=uint8")
    assert (
        eight.name == "dncnn_25:input=uint8"
        and not eight.takes_float
        and eight.identity() != make_method(str(weights)).identity()
    )
    cache = Cache(tmp_path)
    spec = resolve("set12-noise25", data_root)
    item = next(i for i in spec.dataset.items() if i.item_id == "01")
    ref_key, ref_frames = reference(cache, spec, item)
    deg_key, _ = degrade(cache, spec, item, ref_key, ref_frames, seed=0)
    ctx = Context(degradation=spec.degradation, item_id="01")
    out_key, meta, _ = restore(
        cache,
        make_method(f"{weights}:tile=0"),
        spec,
        ctx,
        deg_key,
        cache.read_frames(deg_key),
        1,
        lambda: None,
        lambda m: m.setup("cpu"),
    )
    got = PSNR().score(next(cache.read_frames(out_key)), next(ref_frames()), 0)
    assert got == pytest.approx(30.0942, abs=0.002) and "input" not in meta


def test_grayfull_is_opencvs_gray_and_gray_stays_matlab_y(tmp_path):
    """``grayfull`` (the DnCNN/KAIR denoising gray) is OpenCV's COLOR_RGB2GRAY of the file, pixel for
    pixel; ``gray`` (the JPEG protocol) stays MATLAB rgb2ycbcr Y, 16-235, with its cache identity."""
    import cv2

    from benchmark.core.imaging import read_image, write_png
    from benchmark.degradations.jpeg import Gray, GrayFull

    rgb = smooth_image(37, 53, seed=4)
    rgb[0, :3] = [[0, 0, 0], [255, 255, 255], [255, 0, 0]]
    write_png(tmp_path / "c.png", rgb)
    cv_gray = cv2.cvtColor(cv2.imread(str(tmp_path / "c.png"), cv2.IMREAD_COLOR), cv2.COLOR_BGR2GRAY)
    (step,) = parse_token("grayfull", Specs())
    full = step.prepare_reference(read_image(tmp_path / "c.png"))
    assert (
        isinstance(step, GrayFull)
        and step.label() == "grayfull"
        and full.shape == (37, 53, 1)
        and full.dtype == np.uint8
    )
    assert np.array_equal(full[:, :, 0], cv_gray) and list(full[0, :3, 0]) == [
        0,
        255,
        76,
    ]  # full range: black 0, white 255
    assert np.array_equal(step.apply(full), full)  # gray input is left as it is
    y = Gray().prepare_reference(rgb)[:, :, 0]
    x = rgb.astype(np.float64)
    assert np.array_equal(y, np.round(16 + (65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]) / 255))
    assert list(y[0, :3]) == [16, 235, 81]
    assert Gray().describe() == {
        "name": "gray",
        "version": "1",
        "space": "Y BT.601 MATLAB rgb2ycbcr",
        "range": "16-235",
        "rounding": "round-half-even to uint8",
    }
    spec = resolve("photos-grayfull-noise25", None)
    assert [d.name for d in spec.chain] == ["grayfull", "noise"] and float_input(spec)


def test_a_bad_weights_file_setting_lists_every_setting(tmp_path):
    with pytest.raises(BenchError) as e:
        make_method(f"{tmp_path / 'model.pth'}:strength=3")
    assert "name=, tile=, overlap=, precision=, input=" in str(e.value)
