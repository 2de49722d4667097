"""The built-in networks under a memory budget (methods/adapters/tiled.py): tiled close to untiled for
each family, the 8x8 JPEG grid kept, the QF predictor deciding on the whole frame, frames that
fit bit-identical to the untiled path, and ``tile=`` in the method's identity."""

import numpy as np
import pytest

from benchmark.api import Context
from benchmark.core import memory as pub  # the memory budget, probe and tile choice of every network
from benchmark.core import tiling
from benchmark.errors import BenchError
from benchmark.run.runner import make_method

_cache: dict[str, object] = {}


def method(spec):
    """``spec`` made and set up once per session (the QF ensembles load seven networks)."""
    if spec not in _cache:
        m = make_method(spec)
        m.setup("cpu")
        _cache[spec] = m
    return _cache[spec]


def frame(h, w, seed=0, block=4):
    """A smooth random frame with some texture (uint8 RGB)."""
    rng = np.random.default_rng(seed)
    base = np.kron(rng.integers(0, 256, (h // block + 1, w // block + 1, 3)), np.ones((block, block, 1)))[:h, :w]
    return np.clip(base + rng.normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8)


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return 100.0 if mse == 0 else 10 * np.log10(255**2 / mse)


def untiled(m, frames):
    """The methods' output before tiling existed: the whole batch through the network."""
    import torch

    from benchmark.methods.adapters.trainable import frames_to_tensor, tensor_to_frames

    with torch.inference_mode():
        return tensor_to_frames(m.model(frames_to_tensor(frames, "cpu")), frames)


# (method, input side h x w, forced tile, least PSNR of tiled vs untiled in dB)
FAMILIES = [
    ("srgan", (60, 76), 32, 40),
    ("srresnet", (60, 76), 32, 40),
    ("fast-srgan", (60, 76), 32, 40),
    ("videoboost", (41, 53), 32, 40),
    ("pix2pix", (100, 124), 64, 30),
    ("ssim", (100, 124), 64, 35),
    ("gan", (100, 124), 64, 30),
]


@pytest.mark.parametrize("name,size,tile,least", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_tiled_is_close_to_untiled_for_each_network_family(name, size, tile, least):
    f = frame(*size)
    whole, tiled = method(name), method(f"{name}:tile={tile}")
    ctx = Context(scale=whole.scale)
    a, b = whole.process([f], ctx)[0], tiled.process([f], ctx)[0]
    assert a.shape == b.shape == (size[0] * whole.scale, size[1] * whole.scale, 3)
    assert psnr(a, b) > least, psnr(a, b)
    assert np.mean(np.abs(a.astype(np.int16) - b)) < 1.0


def test_frames_that_fit_are_bit_identical_to_the_untiled_path(monkeypatch):
    f = frame(40, 52, seed=1)
    m = method("srgan")
    before = untiled(m, [f, f])
    monkeypatch.setattr(pub, "memory_budget", lambda device: 1e12)
    assert all(np.array_equal(x, y) for x, y in zip(m.process([f, f], Context(scale=4)), before))
    for spec in ("srgan:tile=64", "srgan:tile=0"):  # one tile holds the frame / tiling off: untiled
        assert np.array_equal(method(spec).process([f], Context(scale=4))[0], before[0])
    monkeypatch.setattr(pub, "memory_budget", lambda device: 1.0)  # tile=0 never tiles, whatever the budget
    assert np.array_equal(method("srgan:tile=0").process([f], Context(scale=4))[0], before[0])


def test_the_budget_tiles_automatically_and_stays_close(monkeypatch):
    f = frame(120, 136, seed=2)
    m = method("fast-srgan")
    whole = m.process([f], Context(scale=2))[0]
    bpp = m.tiling.bytes_per_pixel(m.model, m.model, "cpu")
    monkeypatch.setattr(pub, "memory_budget", lambda device: bpp * 48 * 48)  # room for 48x48 input pixels
    calls = []
    real = tiling.run_tiled
    monkeypatch.setattr(tiling, "run_tiled", lambda fn, x, s, tile, ov: calls.append(tile) or real(fn, x, s, tile, ov))
    out = m.process([f], Context(scale=2))[0]
    assert calls == [80]  # 48 pixels fit, but a tile is at least twice the overlap (32) + 16
    assert psnr(out, whole) > 40


def test_a_batch_that_does_not_fit_runs_in_whole_frames_when_one_frame_fits(monkeypatch):
    f = [frame(40, 52, seed=s) for s in range(3)]
    m = method("srgan")
    before = untiled(m, f)
    bpp = m.tiling.bytes_per_pixel(m.model, m.model, "cpu")
    monkeypatch.setattr(pub, "memory_budget", lambda device: bpp * 40 * 52 * 2.5)  # two frames fit, not three
    sizes, tiled = [], []
    real = m.model.forward
    monkeypatch.setattr(m.model, "forward", lambda x: sizes.append(x.shape[0]) or real(x))
    monkeypatch.setattr(tiling, "run_tiled", lambda *a: tiled.append(a) or None)
    assert all(np.array_equal(x, y) for x, y in zip(m.process(f, Context(scale=4)), before))  # the same outputs
    assert sizes == [2, 1] and not tiled


def test_the_default_cpu_budget_is_capped_and_can_be_set(monkeypatch):
    monkeypatch.delenv("BENCH_MEMORY_BUDGET", raising=False)
    monkeypatch.setattr(pub, "available_memory", lambda: 64 * 2.0**30)  # a big machine
    assert pub.memory_budget("cpu") == pub.CPU_MEMORY_CAP == 2.0**30
    monkeypatch.setattr(pub, "available_memory", lambda: 1 * 2.0**30)  # a small one: half its free memory
    assert pub.memory_budget("cpu") == 2.0**29
    monkeypatch.setenv("BENCH_MEMORY_BUDGET", "1.5G")
    assert pub.memory_budget("cpu") == 1.5 * 2**30
    monkeypatch.setenv("BENCH_MEMORY_BUDGET", "800m")
    assert pub.memory_budget("cpu") == 800 * 2**20
    for bad in ("lots", "-1G", "0"):
        monkeypatch.setenv("BENCH_MEMORY_BUDGET", bad)
        with pytest.raises(BenchError, match="BENCH_MEMORY_BUDGET.*not a memory size"):
            pub.memory_budget("cpu")


def test_jpeg_methods_keep_the_8x8_grid(monkeypatch):
    seen = []
    real = tiling.run_tiled

    def spy(fn, x, scale, tile, overlap):
        seen.append((x.shape[-2:], tile, overlap))
        return real(fn, x, scale, tile, overlap)

    monkeypatch.setattr(tiling, "run_tiled", spy)
    f = frame(100, 124, seed=3)  # sides not multiples of 8
    for spec in ("ssim:tile=44", "gan:tile=64:overlap=20"):
        out = method(spec).process([f], Context())[0]
        assert out.shape == f.shape
    assert len(seen) == 2
    for (h, w), tile, overlap in seen:
        assert h % 8 == w % 8 == 0 and tile % 8 == 0 and overlap % 8 == 0
        for length in (h, w):
            assert all(o % 8 == 0 for o in tiling.starts(length, tile, overlap)), (length, tile, overlap)
    assert seen[0][1] == 40 and seen[1][2] == 24  # tile rounded down, overlap up, to the grid


def test_pix2pix_and_videoboost_keep_their_grid(monkeypatch):
    seen = []
    real = tiling.run_tiled
    monkeypatch.setattr(
        tiling,
        "run_tiled",
        lambda fn, x, s, tile, ov: seen.append((x.shape[-2:], tile, ov)) or real(fn, x, s, tile, ov),
    )
    method("pix2pix:tile=72").process([frame(100, 124)], Context())
    method("videoboost:tile=33").process([frame(41, 53)], Context(scale=5))
    (h, w), tile, ov = seen[0]
    assert h % 16 == w % 16 == tile % 16 == ov % 16 == 0
    (h, w), tile, ov = seen[1]
    assert h % 2 == w % 2 == tile % 2 == ov % 2 == 0


def test_the_qf_predictor_decides_on_the_whole_frame(monkeypatch):
    import benchmark.methods.adapters.galteri as galteri
    from benchmark.degradations.jpeg import JPEG

    f = JPEG(10).apply(frame(192, 256, seed=4, block=8))
    m = method("gan:tile=64")
    calls, used = [], set()
    real = galteri.predict_qf
    monkeypatch.setattr(
        galteri,
        "predict_qf",
        lambda model, fr, device="cpu", per_call=None: (
            calls.append((fr.shape, per_call)) or real(model, fr, device, per_call)
        ),
    )
    gens = dict(m.models)

    class Spy:
        def __init__(self, q):
            self.q = q

        def __call__(self, x):
            used.add((self.q, x.shape[-2:]))
            return gens[self.q](x)

        def modules(self):
            return gens[self.q].modules()

    monkeypatch.setattr(m, "models", {q: Spy(q) for q in gens})
    out = m.process([f], Context())[0]
    assert calls == [(f.shape, 12)]  # once, on the whole frame: 3 x 4 crops of 64x64, all in one call
    assert len({q for q, _ in used}) == 1 and all(s[0] <= 64 and s[1] <= 64 for _, s in used) and len(used) >= 1
    assert out.shape == f.shape
    # under a tiny budget the crops run in chunks, and the median (the decision) is unchanged
    whole = real(m.predictor, f)
    monkeypatch.setattr(pub, "memory_budget", lambda device: 1.0)
    assert real(m.predictor, f, "cpu", 5) == whole
    calls.clear()
    m.choose(f)
    assert calls == [(f.shape, 1)]


def test_tile_setting_is_in_the_identity_and_the_label():
    plain = make_method("srgan")
    assert "tile" not in plain.identity()["params"] and "overlap" not in plain.identity()["params"]
    assert make_method("srgan:tile=auto").identity()["params"] == plain.identity()["params"]
    forced = make_method("srgan:tile=64")
    assert forced.identity()["params"] == {"tile": 64} and forced.name == "srgan:tile=64"
    assert make_method("ssim:tile=64:overlap=16").identity()["params"] == {"tile": 64, "overlap": 16}
    assert make_method("ssim:tile=64").identity() != make_method("ssim").identity()
    with pytest.raises(BenchError, match="at least 16"):
        make_method("srgan:tile=8")
    with pytest.raises(BenchError, match="overlap"):
        make_method("pix2pix:overlap=-1")


def test_tsmooth_tiles_each_frame_of_its_window_alike():
    from benchmark.methods.adapters.temporal import TemporalSmooth

    clip = [frame(40, 52, seed=s) for s in (5, 5, 6)]
    tiled = TemporalSmooth(base="fast-srgan:tile=24")
    tiled.setup("cpu")
    whole = TemporalSmooth(base="fast-srgan")
    whole.setup("cpu")
    ctx = Context(scale=2, kind="video", context=(0, 0))
    a, b = whole.process(clip, ctx), tiled.process(clip, ctx)
    base = tiled.base
    alone = [base.process([c], Context(scale=2))[0] for c in clip]  # each frame tiled on its own, the same grid
    assert np.array_equal(alone[0], alone[1])
    for x, y in zip(a, b):
        assert psnr(x, y) > 40
