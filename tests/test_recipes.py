"""Every recipe runs end to end on the embedded clips (two frames here, the fewest a temporal metric needs; docs/recipes.md has full runs)."""

import json

import av
import pytest
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.run.results import read_scores
from benchmark.tools.pipelines import PIPELINES

PANELS = {  # comparison video size: 2x2 tiles of the output size, or panels side by side
    "pix2pix-h264": (2560, 1440),
    "srgan-x4": (1280, 544),
    "videoboost-144p": (2560, 1440),
    "fast-srgan-realtime": (640, 360),
    "gan-clips": (1280, 544),
}


@pytest.mark.parametrize(
    "name", [n for n in PIPELINES if n != "rate-savings"]
)  # rate-savings: standard sets, tests/test_bdrate.py
def test_recipe_runs_end_to_end(name, tmp_path):
    r = CliRunner().invoke(app, ["recipe", name, "-o", str(tmp_path), "--max-frames", "2", "-q"])
    assert r.exit_code == 0, r.output
    out = tmp_path / name
    rows = read_scores(out / "run")
    assert len(rows) and (rows.status == "ok").all()
    clip_psnr = rows[(rows.metric == "psnr") & (rows.scope == "clip")]
    assert len(clip_psnr) >= 2 and clip_psnr.value.between(15, 60).all()
    assert (rows[(rows.metric == "tof") & (rows.scope == "frame")].frame >= 1).all()
    summary = (out / "summary.md").read_text()
    assert f"bench recipe {name}" in summary and "| method |" in summary
    with av.open(str(out / "comparison.mp4")) as c:
        v = c.streams.video[0]
        size = (v.codec_context.width, v.codec_context.height)
        n = sum(1 for _ in c.decode(v))
    assert size == PANELS[name] and n == 2
    if name == "fast-srgan-realtime":
        rt = json.loads((out / "realtime.json").read_text())
        assert (
            rt["frames_arrived"] == 2 and rt["frames_processed"] + rt["frames_dropped"] == 2 and rt["source_fps"] == 25
        )
    if name == "pix2pix-h264":
        decoded = rows[(rows.scope == "clip") & (rows.method == "identity") & (rows.metric == "psnr")].value
        assert decoded.between(26, 30).all()  # the low-quality regime of the original H.264 use (about 28 dB)


def test_recipe_names_are_checked():
    r = CliRunner().invoke(app, ["recipe", "srgan"])
    assert r.exit_code == 2 and "srgan-x4" in r.output
    r = CliRunner().invoke(app, ["recipe"])
    assert r.exit_code == 0 and all(n in r.output for n in PIPELINES)
