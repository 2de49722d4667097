"""bsd200-pan: training clips rendered from still photos by a moving camera."""

import numpy as np
import pytest

from benchmark.core.imaging import write_png
from benchmark.core.names import resolve
from benchmark.datasets.pan import HEIGHT, MAX_SPEED, WIDTH, BSD200Pan, pan_frames
from benchmark.run.runner import RunConfig, Runner
from benchmark.run.stages import degrade, degraded_frames, reference

from conftest import smooth_image


def shift(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    import cv2

    (dx, dy), _ = cv2.phaseCorrelate(a.mean(2).astype(np.float64), b.mean(2).astype(np.float64))
    return dx, dy


def test_pan_frames_move_at_a_constant_speed_inside_the_photo():
    photo = smooth_image(321, 481, seed=1)
    frames = pan_frames(photo, 8, np.random.default_rng(5))
    assert len(frames) == 8 and all(f.shape == (HEIGHT, WIDTH, 3) and f.dtype == np.uint8 for f in frames)
    steps = [shift(a, b) for a, b in zip(frames, frames[1:])]
    dx, dy = np.median(steps, axis=0)
    assert abs(dx) <= MAX_SPEED[0] + 0.5 and abs(dy) <= MAX_SPEED[1] + 0.5 and abs(dx) + abs(dy) > 0.05
    assert np.allclose(steps, (dx, dy), atol=0.6)  # one velocity for the whole clip (plus a slight zoom)
    again = pan_frames(photo, 8, np.random.default_rng(5))
    assert all(np.array_equal(a, b) for a, b in zip(frames, again))  # the same seed, the same clip
    other = pan_frames(photo, 8, np.random.default_rng(6))
    assert not np.array_equal(frames[3], other[3])


def test_portrait_photos_are_turned_and_small_ones_refused():
    tall = smooth_image(481, 321, seed=2)
    assert pan_frames(tall, 2, np.random.default_rng(0))[0].shape == (HEIGHT, WIDTH, 3)
    with pytest.raises(ValueError, match="smaller than the 384x256 pan window"):
        pan_frames(smooth_image(200, 300), 2, np.random.default_rng(0))


def test_bsd200_pan_is_a_video_set_that_codecs_degrade(tmp_path):
    folder = tmp_path / "images" / "BSD200"
    folder.mkdir(parents=True)
    for i in range(2):
        write_png(folder / f"{100 + i}.png", smooth_image(321, 481, seed=i))
    ds = BSD200Pan(tmp_path, frames=4)
    items = list(ds.items())
    assert [it.item_id for it in items] == ["100", "101"] and all(it.kind == "video" and it.fps == 25.0 for it in items)
    assert items[0].fingerprint() == list(BSD200Pan(tmp_path, frames=4).items())[0].fingerprint()
    assert items[0].fingerprint() != list(BSD200Pan(tmp_path, frames=4, seed=1).items())[0].fingerprint()
    runner = Runner(RunConfig(data_root=str(tmp_path)))
    spec = resolve("bsd200-pan-qp46", runner.root, runner.specs)
    assert spec.dataset.name == "bsd200-pan" and [d.name for d in spec.chain] == ["h264"]
    ref_key, ref_frames = reference(runner.cache, spec, items[0])
    deg_key, _ = degrade(runner.cache, spec, items[0], ref_key, ref_frames)
    pairs = list(zip(degraded_frames(runner.cache, deg_key, ref_key, ref_frames), ref_frames()))
    assert len(pairs) == 4
    psnr = [10 * np.log10(255**2 / np.mean((d.astype(float) - r) ** 2)) for d, r in pairs]
    assert all(18 < p < 40 for p in psnr), psnr  # QP 46 is lossy


def test_grain_pan_adds_seeded_per_frame_grain_to_the_clean_clips(tmp_path):
    from benchmark.datasets.pan import MAX_GRAIN, BSD200GrainPan

    folder = tmp_path / "images" / "BSD200"
    folder.mkdir(parents=True)
    for i in range(3):
        write_png(folder / f"{100 + i}.png", smooth_image(321, 481, seed=i))
    clean = [list(it.frames()) for it in BSD200Pan(tmp_path, frames=3).items()]
    grainy = [list(it.frames()) for it in BSD200GrainPan(tmp_path, frames=3).items()]
    again = [list(it.frames()) for it in BSD200GrainPan(tmp_path, frames=3).items()]
    assert all(np.array_equal(a, b) for c, d in zip(grainy, again) for a, b in zip(c, d))  # seeded
    for c, g in zip(clean, grainy):
        noise = [gf.astype(float) - cf for cf, gf in zip(c, g)]
        sd = np.std(noise)
        assert 0 < sd <= MAX_GRAIN + 0.5 and abs(np.mean(noise)) < 0.1
        assert not np.array_equal(noise[0], noise[1])  # drawn afresh for every frame
        assert np.corrcoef(noise[0][..., 0].ravel(), noise[0][..., 1].ravel())[0, 1] > 0.5  # mostly luma grain
    assert (
        len({round(float(np.std(g[0].astype(float) - c[0])), 2) for c, g in zip(clean, grainy)}) == 3
    )  # its size per clip
    one, other = next(BSD200Pan(tmp_path, frames=3).items()), next(BSD200GrainPan(tmp_path, frames=3).items())
    assert one.fingerprint() != other.fingerprint()
    runner = Runner(RunConfig(data_root=str(tmp_path)))
    spec = resolve("bsd200-grainpan-crf35", runner.root, runner.specs)
    assert spec.dataset.name == "bsd200-grainpan" and [d.name for d in spec.chain] == ["h264"]
