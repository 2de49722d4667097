"""bench enhance on a real video file with audio, on an image and on a folder."""

from fractions import Fraction

import av
import numpy as np
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.imaging import read_image, write_png
from conftest import smooth_image


def make_clip(path, n=20, rate=Fraction(30000, 1001)):
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=rate)
        v.width, v.height, v.pix_fmt = 96, 64, "yuv420p"
        a = c.add_stream("aac", rate=44100)
        a.layout = "mono"
        for i in range(n):
            img = np.zeros((64, 96, 3), np.uint8)
            img[:, (i * 4) % 96:] = 200
            for p in v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        t = np.arange(int(44100 * n / float(rate))) / 44100
        samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        for k in range(0, samples.shape[1], 1024):
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, k:k + 1024]), format="fltp", layout="mono")
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
    r = CliRunner().invoke(app, ["enhance", str(src), "-m", "bicubic", "--scale", "2", "-o", str(tmp_path / "up.mp4"), "-q"])
    assert r.exit_code == 0, r.output
    a, b = probe(src), probe(tmp_path / "up.mp4")
    assert b["size"] == (192, 128) and b["rate"] == a["rate"] == Fraction(30000, 1001) and b["frames"] == a["frames"] == 20
    assert b["audio"] == a["audio"]  # audio packets copied byte for byte
    r = CliRunner().invoke(app, ["enhance", str(src), "-m", "identity", "--side-by-side", "--codec", "hevc", "-o", str(tmp_path / "sbs.mp4"), "-q"])
    assert r.exit_code == 0, r.output
    assert probe(tmp_path / "sbs.mp4")["size"] == (192, 64)


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
