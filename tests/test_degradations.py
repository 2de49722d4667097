import numpy as np
import pytest

from benchmark.core.imaging import rgb_to_y
from benchmark.degradations.codec import H264, HEVC
from benchmark.degradations.jpeg import JPEG, Gray
from benchmark.degradations.resize import Downscale, matlab_resize

from conftest import smooth_image


def _psnr(a, b):
    return 10 * np.log10(255**2 / np.mean((a.astype(float) - b.astype(float)) ** 2))


def test_jpeg_quality_orders_rate_and_fidelity():
    img = smooth_image(96, 128)
    res = {}
    for q in (10, 50, 90):
        info = {}
        out = list(JPEG(q).apply_frames([img], None, info))[0]
        assert out.shape == img.shape and out.dtype == np.uint8
        res[q] = (info["bpp"], _psnr(out, img))
    assert res[10][0] < res[50][0] < res[90][0]
    assert res[10][1] < res[50][1] < res[90][1]


def test_jpeg_subsampling_and_encoder_change_results_and_gray_stays_gray():
    img = smooth_image(64, 64)
    a = JPEG(30, "420").apply(img)
    b = JPEG(30, "444").apply(img)
    assert not np.array_equal(a, b)
    assert _psnr(b, img) > _psnr(a, img)  # no chroma loss
    g = img[:, :, :1]
    assert JPEG(30).apply(g).shape == (64, 64, 1)
    assert JPEG(30, encoder="pillow").label() == "qf30pil"
    with pytest.raises(ValueError):
        JPEG(0)


def test_gray_is_matlab_rgb2ycbcr_rounded():
    img = smooth_image(16, 16)
    y = Gray().prepare_reference(img)
    assert y.shape == (16, 16, 1)
    expected = np.round(16 + (65.481 * img[..., 0] + 128.553 * img[..., 1] + 24.966 * img[..., 2]) / 255)
    assert np.array_equal(y[..., 0], expected.astype(np.uint8))
    assert 16 <= y.min() and y.max() <= 235


def test_downscale_is_antialiased_matlab_bicubic():
    img = smooth_image(64, 96)
    small = Downscale(4).apply(img)
    assert small.shape == (16, 24, 3)
    # a constant image stays constant (weights sum to one, mirrored borders)
    flat = np.full((32, 32, 3), 77, np.uint8)
    assert np.all(Downscale(2).apply(flat) == 77)
    # MATLAB imresize(x, 0.5) on a 1-D ramp: the antialiased cubic is symmetric, so a linear
    # ramp maps to the averages of pixel pairs away from the borders
    ramp = np.tile(np.arange(0, 256, 4, dtype=np.uint8)[None, :, None], (8, 1, 1))
    half = matlab_resize(ramp, 0.5)[0, 4:-4, 0].astype(float)
    expected = (ramp[0, 8:-8:2, 0].astype(float) + ramp[0, 9:-8:2, 0]) / 2
    assert np.allclose(half, expected, atol=0.51)
    with pytest.raises(ValueError, match="multiple of the scale"):
        Downscale(4).apply(img[:63])


@pytest.mark.parametrize(
    "cls,kw", [(H264, {"crf": 23}), (H264, {"qp": 20}), (H264, {"kbps": 400}), (HEVC, {"crf": 23})]
)
def test_video_codecs_round_trip_and_record_rate(cls, kw):
    base = smooth_image(64, 80)
    frames = [np.roll(base, i, axis=1) for i in range(5)]
    info = {}
    out = list(cls(**kw).apply_frames(iter(frames), 25.0, info))
    assert len(out) == 5 and all(o.shape == base.shape for o in out)
    assert _psnr(out[2], frames[2]) > 25
    assert info["bitrate_kbps"] > 0 and info["bpp"] > 0


def test_codec_rate_control_orders_quality_and_odd_and_gray_frames():
    base = smooth_image(63, 81)  # odd sizes are padded and cropped back
    frames = [np.roll(base, i, axis=1) for i in range(4)]
    hi = list(H264(crf=18).apply_frames(iter(frames), 25.0, {}))
    lo = list(H264(crf=45).apply_frames(iter(frames), 25.0, {}))
    assert hi[0].shape == base.shape
    assert _psnr(hi[1], frames[1]) > _psnr(lo[1], frames[1]) + 3
    g = [f[:, :, :1] for f in frames]
    out = list(H264(crf=18).apply_frames(iter(g), 25.0, {}))
    assert out[0].shape == (63, 81, 1) and _psnr(out[0], g[0]) > 30
    with pytest.raises(ValueError, match="exactly one"):
        H264(crf=20, qp=20)


def test_codec_streams_frames_lazily():
    """The encoder pulls frames one at a time from the iterator (no list() of the clip)."""
    pulled = []

    def gen():
        for i in range(3):
            pulled.append(i)
            yield smooth_image(32, 32, seed=i)

    it = H264(crf=30).apply_frames(gen(), 25.0, {})
    assert pulled == []  # nothing read before iteration starts
    assert len(list(it)) == 3


def test_y_conversion_range():
    white = np.full((2, 2, 3), 255, np.uint8)
    black = np.zeros((2, 2, 3), np.uint8)
    assert np.allclose(rgb_to_y(white), 235.0) and np.allclose(rgb_to_y(black), 16.0)


def test_matlab_resize_per_channel_and_in_bands_is_the_whole_frames_result(monkeypatch):
    """The bicubic resize runs one channel at a time and a large upscale in bands of rows
    (bounded memory): the same bytes as resize-right over the whole frame at once."""
    from resize_right import interp_methods, resize

    import benchmark.degradations.resize as R

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (61, 47, 3), dtype=np.uint8)
    monkeypatch.setattr(R, "BAND_PIXELS", 2000)  # bands of a few rows
    for scale in (2, 3, 4, 0.5, 1 / 3):
        whole = resize(
            frame.astype(np.float64),
            scale_factors=[scale, scale, 1],
            interp_method=interp_methods.cubic,
            antialiasing=True,
            pad_mode="symmetric",
        )
        assert np.array_equal(R.matlab_resize(frame, scale), np.clip(np.round(whole), 0, 255).astype(np.uint8)), scale
