"""bench enhance on a real video file with audio, on an image and on a folder."""

import json
import time
from fractions import Fraction

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from benchmark import registry
from benchmark.api import Method
from benchmark.cli import app
from benchmark.core.imaging import read_image, write_png

from conftest import smooth_image


def make_clip(path, n=20, rate=Fraction(30000, 1001)):
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=rate)
        v.width, v.height, v.pix_fmt = 96, 64, "yuv420p"
        a = c.add_stream("aac", rate=44100)
        a.layout = "mono"
        for i in range(n):
            img = np.zeros((64, 96, 3), np.uint8)
            img[:, (i * 4) % 96 :] = 200
            for p in v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        t = np.arange(int(44100 * n / float(rate))) / 44100
        samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        for k in range(0, samples.shape[1], 1024):
            af = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(samples[:, k : k + 1024]), format="fltp", layout="mono"
            )
            af.sample_rate = 44100
            for p in a.encode(af):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
        for p in a.encode():
            c.mux(p)


def probe(path):
    with av.open(str(path)) as c:  # read stream fields while the container is open (they point into it)
        v = c.streams.video[0]
        a = c.streams.audio[0] if c.streams.audio else None
        size, rate = (v.codec_context.width, v.codec_context.height), v.average_rate
        audio = [bytes(p) for p in c.demux(a) if p.size] if a is not None else None
    with av.open(str(path)) as c:
        n = sum(1 for _ in c.decode(video=0))
    return {"size": size, "rate": rate, "frames": n, "audio": audio}


def test_enhance_video_keeps_rate_frames_and_audio(tmp_path):
    src = tmp_path / "clip.mp4"
    make_clip(src)
    r = CliRunner().invoke(
        app, ["enhance", str(src), "-m", "bicubic", "--scale", "2", "-o", str(tmp_path / "up.mp4"), "-q"]
    )
    assert r.exit_code == 0, r.output
    a, b = probe(src), probe(tmp_path / "up.mp4")
    assert (
        b["size"] == (192, 128) and b["rate"] == a["rate"] == Fraction(30000, 1001) and b["frames"] == a["frames"] == 20
    )
    assert b["audio"] == a["audio"]  # audio packets copied byte for byte
    r = CliRunner().invoke(
        app,
        [
            "enhance",
            str(src),
            "-m",
            "identity",
            "--side-by-side",
            "--codec",
            "hevc",
            "-o",
            str(tmp_path / "sbs.mp4"),
            "-q",
        ],
    )
    assert r.exit_code == 0, r.output
    assert probe(tmp_path / "sbs.mp4")["size"] == (192, 64)


def test_enhance_takes_the_scale_from_the_method(tmp_path):
    """`bench enhance clip.mp4 -m fast-srgan` (an x2 method) without --scale: the output is twice the size."""
    src = tmp_path / "clip.mp4"
    make_clip(src, n=4)
    r = CliRunner().invoke(app, ["enhance", str(src), "-m", "fast-srgan", "-o", str(tmp_path / "up.mp4"), "-q"])
    assert r.exit_code == 0, r.output
    assert probe(tmp_path / "up.mp4")["size"] == (192, 128)
    r = CliRunner().invoke(
        app, ["enhance", str(src), "-m", "fast-srgan", "--scale", "3", "-o", str(tmp_path / "x.mp4"), "-q"]
    )
    assert r.exit_code == 2 and "upscales x2" in r.output and "drop --scale" in r.output


def test_enhance_images_and_folders(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    for i in range(2):
        write_png(d / f"im{i}.png", smooth_image(40, 48, seed=i))
    r = CliRunner().invoke(app, ["enhance", str(d), "-m", "lanczos", "--scale", "3", "-o", str(tmp_path / "out"), "-q"])
    assert r.exit_code == 0, r.output
    assert read_image(tmp_path / "out" / "im1.png").shape == (120, 144, 3)
    r = CliRunner().invoke(app, ["enhance", str(d / "im0.png"), "-m", "bicubic", "-q"])  # scale 1, default output name
    assert r.exit_code == 0 and read_image(d / "im0.bicubic.png").shape == (40, 48, 3)


def test_enhance_errors_name_the_problem(tmp_path):
    r = CliRunner().invoke(app, ["enhance", str(tmp_path / "nope.mp4"), "-m", "identity"])
    assert r.exit_code == 2 and "no such file" in r.output
    src = tmp_path / "clip.mp4"
    make_clip(src, n=3)
    r = CliRunner().invoke(app, ["enhance", str(src), "-m", "identity", "--codec", "mpeg9"])
    assert r.exit_code == 2 and "--codec" in r.output


def test_side_by_side_with_reference_has_three_panels(tmp_path):
    src, ref = tmp_path / "clip.mp4", tmp_path / "ref.mp4"
    make_clip(src, n=6)
    make_clip(ref, n=6)
    r = CliRunner().invoke(
        app,
        [
            "enhance",
            str(src),
            "-m",
            "identity",
            "--side-by-side",
            "--reference",
            str(ref),
            "-o",
            str(tmp_path / "three.mp4"),
            "-q",
        ],
    )
    assert r.exit_code == 0, r.output
    assert probe(tmp_path / "three.mp4")["size"] == (288, 64)


@pytest.fixture
def sleepy_method():
    """A method that takes `delay` seconds per frame (a slow GAN on a slow machine)."""

    @registry.methods.register("sleepy")
    class Sleepy(Method):
        name = "sleepy"

        def process(self, frames, ctx):
            time.sleep(float(self.params.get("delay", 0.08)) * len(frames))
            return frames

    yield
    registry.methods.unregister("sleepy")


def test_realtime_keeps_up_with_a_fast_method_and_drops_frames_for_a_slow_one(tmp_path, sleepy_method):
    src = tmp_path / "clip.mp4"
    make_clip(src, n=50, rate=Fraction(25))  # 2 s at 25 fps
    out = tmp_path / "live.mp4"
    r = CliRunner().invoke(app, ["enhance", str(src), "-m", "identity", "--realtime", "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    fast = json.loads((tmp_path / "live.mp4.realtime.json").read_text())
    assert fast["frames_arrived"] == 50 and fast["frames_dropped"] <= 2
    assert fast["achieved_fps"] == pytest.approx(25, rel=0.1)
    assert fast["wall_s"] == pytest.approx(49 / 25, rel=0.1)  # played at the native rate, not as fast as possible
    # 80 ms per frame against a 40 ms frame interval: about every other frame is dropped
    r = CliRunner().invoke(
        app,
        [
            "enhance",
            str(src),
            "-m",
            "sleepy:delay=0.08",
            "--realtime",
            "-o",
            str(out),
            "--report",
            str(tmp_path / "slow.json"),
            "-q",
            "--force",
        ],
    )
    assert r.exit_code == 0, r.output
    slow = json.loads((tmp_path / "slow.json").read_text())
    assert slow["frames_arrived"] == 50 and slow["frames_processed"] + slow["frames_dropped"] == 50
    assert 0.35 < slow["frames_dropped"] / 50 < 0.65
    assert 9 < slow["achieved_fps"] < 14.5
    assert 80 <= slow["latency_ms"]["p50"] and slow["latency_ms"]["p50"] <= slow["latency_ms"]["p95"] < 200
    # the output holds the processed frames at their source timestamps: it lasts as long as the source
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        pts = [f.pts * f.time_base for f in c.decode(v)]
    assert len(pts) == slow["frames_processed"] and float(pts[-1] - pts[0]) == pytest.approx(49 / 25, abs=0.12)


def test_realtime_errors_name_the_problem(tmp_path):
    r = CliRunner().invoke(app, ["enhance", "camera:97", "-m", "identity", "--realtime", "-o", str(tmp_path / "x.mp4")])
    assert r.exit_code == 2 and "camera" in r.output
    write_png(tmp_path / "a.png", smooth_image(16, 16))
    r = CliRunner().invoke(app, ["enhance", str(tmp_path / "a.png"), "-m", "identity", "--realtime"])
    assert r.exit_code == 2 and "video file or a camera" in r.output
    r = CliRunner().invoke(app, ["enhance", str(tmp_path / "a.png"), "-m", "identity", "--duration", "3"])
    assert r.exit_code == 2 and "go with --realtime" in r.output
    r = CliRunner().invoke(
        app, ["enhance", str(tmp_path / "a.png"), "-m", "identity", "--reference", str(tmp_path / "a.png")]
    )
    assert r.exit_code == 2 and "pass --side-by-side" in r.output


def test_the_encoder_preset_is_veryfast_unless_asked(tmp_path):
    """x264 writes its settings into the stream: veryfast's subme=2 by default, medium's subme=7 when asked."""
    src = tmp_path / "clip.mp4"
    make_clip(src, n=3)
    for extra, subme in (([], b"subme=2 "), (["--preset", "medium"], b"subme=7 ")):
        out = tmp_path / f"out{len(extra)}.mp4"
        r = CliRunner().invoke(app, ["enhance", str(src), "-m", "identity", "-o", str(out), "-q", *extra])
        assert r.exit_code == 0, r.output
        assert subme in out.read_bytes(), extra
    r = CliRunner().invoke(
        app, ["enhance", str(src), "-m", "identity", "--preset", "fastest", "-o", str(tmp_path / "x.mp4"), "-q"]
    )
    assert r.exit_code == 2 and "--preset 'fastest'" in r.output and "veryfast" in r.output
