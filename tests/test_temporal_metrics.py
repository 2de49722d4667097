"""Temporal metrics see what per-frame metrics cannot; VMAF through ffmpeg's libvmaf."""

import numpy as np
import pytest
from skimage import data as skdata

from benchmark import registry
from benchmark.core.imaging import write_png
from benchmark.run.runner import RunConfig, run

from conftest import smooth_image


def clip(n=6, h=96, w=128):
    """A camera pan over a photo (3 px per frame)."""
    base = skdata.astronaut()[100 : 100 + h, 100 : 100 + w + 3 * n]
    return [np.ascontiguousarray(base[:, 3 * i : 3 * i + w]) for i in range(n)]


def run_clip(metric_name, outputs, refs, border=0):
    m = registry.metrics.get(metric_name)()
    m.start(border)
    for o, r in zip(outputs, refs):
        m.update(o, r)
    return m.finish()


def test_temporal_metrics_are_zero_on_the_reference_and_undefined_on_frame_0():
    ref = clip()
    for name in ("tof", "flicker"):
        vals = run_clip(name, ref, ref)
        assert vals[0] is None and len(vals) == len(ref)
        assert all(v == pytest.approx(0.0, abs=1e-6) for v in vals[1:])


def test_flicker_catches_what_psnr_cannot():
    """Two outputs with the same per-frame error energy: an artifact that moves with the
    scene (temporally consistent) and fresh noise on every frame (flicker). PSNR cannot
    tell them apart."""
    ref = clip()
    rng = np.random.default_rng(0)
    field = rng.normal(0, 6, (ref[0].shape[0], ref[0].shape[1] + 3 * len(ref), 3))
    static = [np.clip(f + field[:, 3 * i : 3 * i + f.shape[1]], 0, 255).astype(np.uint8) for i, f in enumerate(ref)]
    flick = [np.clip(f + rng.normal(0, 6, f.shape), 0, 255).astype(np.uint8) for f in ref]
    psnr = registry.metrics.get("psnr")()
    p_static = np.mean([psnr.score(o, r) for o, r in zip(static, ref)])
    p_flick = np.mean([psnr.score(o, r) for o, r in zip(flick, ref)])
    assert abs(p_static - p_flick) < 0.3
    f_static, f_flick = (np.mean(run_clip("flicker", x, ref)[1:]) for x in (static, flick))
    assert f_flick > 1.5 * f_static, (f_static, f_flick)


def test_tof_catches_jitter():
    """Frames shaken by a pixel or two (a motion the reference does not have)."""
    ref = clip()
    shaken = [np.roll(f, (k % 3) - 1, axis=1) for k, f in enumerate(ref)]
    noisy = [
        np.clip(f + np.random.default_rng(k).normal(0, 4, f.shape), 0, 255).astype(np.uint8) for k, f in enumerate(ref)
    ]
    t_shaken, t_noisy = (np.mean(run_clip("tof", x, ref)[1:]) for x in (shaken, noisy))
    assert t_shaken > 0.5 and t_shaken > 2 * t_noisy, (t_shaken, t_noisy)


def test_vmaf_through_ffmpeg_libvmaf():
    from benchmark.metrics.temporal import ffmpeg_with_vmaf

    assert ffmpeg_with_vmaf(), "imageio-ffmpeg (a dependency) ships an ffmpeg with libvmaf"
    ref = clip(4, 144, 176)
    same = run_clip("vmaf", ref, ref)
    import cv2

    blurred = run_clip("vmaf", [cv2.GaussianBlur(f, (0, 0), 2.0) for f in ref], ref)
    assert len(same) == 4 and min(same) > 90
    assert max(blurred) < min(same) - 5


def test_runner_writes_per_frame_and_per_clip_temporal_rows(tmp_path):
    d = tmp_path / "pan"
    d.mkdir()
    for i, f in enumerate(clip(5)):
        write_png(d / f"{i:08d}.png", f)
    res = run(
        RunConfig(datasets=[f"{d}@crf40"], metrics=["psnr", "tof", "flicker"], out=str(tmp_path / "o")), progress=False
    )
    assert not res.failures
    rows = res.rows
    for name in ("tof", "flicker"):
        r = rows[rows.metric == name]
        assert sorted(r[r.scope == "frame"].frame) == [1, 2, 3, 4]  # frame 0 has no previous frame
        clip_row = r[r.scope == "clip"]
        assert len(clip_row) == 1 and clip_row.value.iloc[0] == pytest.approx(r[r.scope == "frame"].value.mean())
        assert clip_row.value.iloc[0] > 0  # H.264 at CRF 40 does not move like the reference
    assert len(rows[(rows.metric == "psnr") & (rows.scope == "frame")]) == 5
    # a still image has no temporal value: no row, no error
    img = tmp_path / "still"
    img.mkdir()
    write_png(img / "a.png", smooth_image(64, 64))
    res = run(RunConfig(datasets=[f"{img}@qf20"], metrics=["psnr", "tof"], out=str(tmp_path / "o2")), progress=False)
    assert not res.failures and set(res.rows.metric) == {"psnr"}
