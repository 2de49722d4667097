"""The engine and the workers in whole commands: ``bench run`` chooses its workers and gives the rows of
one process; a run on OpenVINO names the engine in its rows and keeps converted networks in its
cache; ``bench enhance`` on OpenVINO keeps the source's frame count and timestamps, and with
OpenVINO missing runs eagerly."""

from __future__ import annotations

import sys
from fractions import Fraction

import av
import numpy as np
import pandas as pd
import pytest
from test_executors import comparable

from benchmark.core import engine
from benchmark.core.imaging import write_png
from benchmark.run import workers
from benchmark.run.resolve import make_method
from benchmark.run.runner import RunConfig, Runner
from benchmark.tools.enhance import enhance

from conftest import smooth_image

needs_openvino = pytest.mark.skipif(not engine.openvino_present(), reason="OpenVINO is not installed ([engine] extra)")


@pytest.fixture(autouse=True)
def _engine_at_once(monkeypatch):
    monkeypatch.setattr(engine, "WARM_S", 0.0)  # the networks of these short runs on the engine from the first call


@pytest.fixture
def photos(tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    for i in range(6):
        write_png(d / f"p{i}.png", smooth_image(48 + 8 * (i % 2), 64, seed=i))
    return d


def run(tmp_path, tag, **kw):
    cfg = RunConfig(out=str(tmp_path / f"o-{tag}"), cache_dir=str(tmp_path / f"c-{tag}"), **kw)
    return Runner(cfg).run(progress=False)


def test_the_workers_chosen_give_the_rows_of_one_process(photos, tmp_path, monkeypatch):
    monkeypatch.setattr(workers, "UNITS_PER_WORKER", 1)  # six units pay for a second process here
    monkeypatch.setattr(workers, "usable_cores", lambda: 2)
    monkeypatch.setattr(workers, "busy_elsewhere", lambda: 0.0)  # a quiet machine
    common = dict(methods=["identity", "bicubic"], datasets=[f"{photos}@qf20"], metrics=["psnr", "ssim", "fps"])
    chosen = run(tmp_path, "auto", executor="auto", **common)
    one = run(tmp_path, "one", executor="auto", workers=1, **common)
    assert chosen.manifest["executor"]["executor"] == "processes" and chosen.manifest["executor"]["workers"] == 2
    assert chosen.manifest["workers_chosen"].startswith("workers: 2 processes (2 cores;")
    assert one.manifest["executor"]["executor"] == "serial"
    pd.testing.assert_frame_equal(comparable(chosen.rows), comparable(one.rows))


def test_network_units_keep_the_run_in_one_process(photos, tmp_path, monkeypatch):
    monkeypatch.setattr(workers, "usable_cores", lambda: 2)
    monkeypatch.setattr(workers, "busy_elsewhere", lambda: 0.0)
    r = run(tmp_path, "net", executor="auto", methods=["fast-srgan"], datasets=[f"{photos}@x2"], metrics=["psnr"])
    assert r.manifest["executor"]["executor"] == "serial" and "run a network" in r.manifest["workers_chosen"]


@needs_openvino
def test_a_run_on_openvino_names_it_and_keeps_its_networks(photos, tmp_path):
    common = dict(methods=["fast-srgan"], datasets=[f"{photos}@x2"], metrics=["psnr", "ssim"])
    fast = run(tmp_path, "ov", engine="openvino", **common)
    eager = run(tmp_path, "eager", engine="eager", **common)
    assert set(fast.rows.method_version) == {v + "+openvino-f32" for v in set(eager.rows.method_version)}
    assert fast.manifest["engines"] == {"fast-srgan": "openvino-f32"}
    ok = fast.rows[fast.rows.metric == "psnr"].value.to_numpy()
    assert np.allclose(ok, eager.rows[eager.rows.metric == "psnr"].value.to_numpy(), atol=0.01)
    assert (
        len(list((tmp_path / "c-ov" / "engine" / "ir").glob("*.xml"))) == 1
    )  # converted once, kept in the run's cache


def make_clip(path, n=11):
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        v.time_base = v.codec_context.time_base = Fraction(1, 12800)
        for i in range(n):
            f = av.VideoFrame.from_ndarray(smooth_image(48, 64, seed=i), format="rgb24")
            f.pts, f.time_base = i * 512 + (256 if i > 5 else 0), v.time_base  # a variable frame rate: its times kept
            for p in v.encode(f):
                c.mux(p)
        for p in v.encode():
            c.mux(p)


def times(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [float(f.pts * s.time_base) for f in c.decode(video=0)]


@pytest.mark.parametrize("engine_name", [pytest.param("openvino", marks=needs_openvino), "eager"])
def test_enhance_keeps_the_frames_and_their_times(tmp_path, engine_name):
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src)
    info = enhance(src, make_method("fast-srgan"), dst, progress=False, engine=engine_name, batch=4)
    assert info["frames"] == 11 and info["size"] == "128x96"
    assert times(dst) == pytest.approx(times(src), abs=1e-3)


def test_enhance_without_openvino_runs_eagerly(tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "openvino" or m.startswith("openvino.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "openvino", None)
    monkeypatch.delenv("BENCH_ENGINE")
    src = tmp_path / "in.mp4"
    make_clip(src, n=3)
    m = make_method("fast-srgan")
    info = enhance(src, m, tmp_path / "out.mp4", progress=False)
    assert info["frames"] == 3 and m.engine == engine.EngineChoice("eager", "f32", m.engine.cache_dir)
