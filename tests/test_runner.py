import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from benchmark import registry
from benchmark.api import Method
from benchmark.cli import app
from benchmark.run.results import COLUMNS
from benchmark.run.runner import RunConfig, run

from conftest import install_plugin


@pytest.fixture
def counting_method():
    calls = []

    @registry.methods.register("counting")
    class Counting(Method):
        name = "counting"
        version = "1"

        def process(self, frames, ctx):
            calls.append(len(frames))
            return [f.astype(np.float32) for f in frames]

    yield calls
    registry.methods.unregister("counting")


def test_rows_are_tidy_and_documented(image_folder, tmp_path):
    res = run(
        RunConfig(methods=["identity", "bicubic"], datasets=[f"{image_folder}@x2"], out=str(tmp_path / "o")),
        progress=False,
    )
    df = pd.read_parquet(tmp_path / "o" / "scores.parquet")
    assert list(df.columns) == COLUMNS
    assert (df["status"] == "ok").all() and len(df) == 3 * 2 * 6
    assert set(df["metric"]) == {"psnr", "psnr-y", "ssim", "ssim-y", "psnr-b", "fps"}
    assert (df["crop_border"] == 2).all()  # SR convention: crop the scale
    csv = pd.read_csv(tmp_path / "o" / "scores.csv")
    assert len(csv) == len(df)
    m = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert (
        m["status"] == "complete"
        and m["versions"]["numpy"]
        and m["plugins"]["methods"]["bicubic"]["origin"] == "built-in"
    )
    assert m["config"]["datasets"][0]["chain"][0]["name"] == "downscale"
    psnr = df[df.metric == "psnr-y"].groupby("method")["value"].mean()
    assert psnr["bicubic"] > psnr["identity"]  # interpolation beats pixel replication
    assert res.run_id in m["run_id"]


def test_video_rows_per_frame_and_per_clip(frame_folder, tmp_path):
    res = run(
        RunConfig(datasets=[f"{frame_folder}@crf30"], metrics=["psnr", "fps"], out=str(tmp_path / "o")), progress=False
    )
    df = res.rows
    psnr = df[df.metric == "psnr"]
    assert sorted(psnr[psnr.scope == "frame"]["frame"]) == list(range(6))
    clip = psnr[psnr.scope == "clip"]
    assert len(clip) == 1 and clip["value"].iloc[0] == pytest.approx(psnr[psnr.scope == "frame"]["value"].mean())
    assert (psnr["bitrate_kbps"] > 0).all() and (psnr["bpp"] > 0).all()


def test_rerun_recomputes_nothing(image_folder, tmp_path, counting_method):
    cfg = dict(
        methods=["counting"], datasets=[f"{image_folder}@qf30", f"{image_folder}@qf40"], cache_dir=str(tmp_path / "c")
    )
    a = run(RunConfig(**cfg, out=str(tmp_path / "a")), progress=False)
    n_calls = len(counting_method)
    assert n_calls == 6
    files = sorted(p for p in (tmp_path / "c").rglob("*") if p.is_file())
    mtimes = [p.stat().st_mtime_ns for p in files]
    b = run(RunConfig(**cfg, out=str(tmp_path / "b")), progress=False)
    assert len(counting_method) == n_calls  # the method was not called again
    files_b = sorted(p for p in (tmp_path / "c").rglob("*") if p.is_file())
    assert files_b == files and [p.stat().st_mtime_ns for p in files_b] == mtimes
    cols = [c for c in COLUMNS if c != "run_id"]
    pd.testing.assert_frame_equal(a.rows[cols], b.rows[cols])


def test_failures_are_rows_and_the_run_goes_on(tmp_path, image_folder):
    (image_folder / "broken.png").write_bytes(b"this is not a png")

    @registry.methods.register("flaky")
    class Flaky(Method):
        name = "flaky"

        def process(self, frames, ctx):
            if ctx.item_id == "img0":
                raise RuntimeError("boom")
            if ctx.item_id == "img1":
                return [f[:-1] for f in frames]
            return [np.full(f.shape, np.nan, np.float32) for f in frames]

    try:
        result = CliRunner().invoke(
            app,
            [
                "run",
                "-q",
                "-m",
                "identity,flaky",
                "-d",
                f"{image_folder}@qf50",
                "--metrics",
                "psnr,ssim",
                "-o",
                str(tmp_path / "o"),
            ],
        )
    finally:
        registry.methods.unregister("flaky")
    assert result.exit_code == 1, result.output
    df = pd.read_parquet(tmp_path / "o" / "scores.parquet")
    ok = df[df.status == "ok"]
    assert set(ok["method"]) == {"identity"} and set(ok["item_id"]) == {"img0", "img1", "img2"}
    err = df[df.status == "error"].set_index(["method", "item_id", "metric"])["error"]
    assert "not a readable image" in err[("identity", "broken", "psnr")]
    assert "boom" in err[("flaky", "img0", "psnr")]
    assert "expected" in err[("flaky", "img1", "ssim")] and "shape" in err[("flaky", "img1", "ssim")]
    assert "NaN" in err[("flaky", "img2", "psnr")]
    assert "failure(s)" in result.output and "broken" in result.output and "boom" in result.output
    assert json.loads((tmp_path / "o" / "manifest.json").read_text())["status"] == "complete with failures"


SLOW_CLI = textwrap.dedent(
    """
    import os, sys, time
    from benchmark import registry
    from benchmark.api import Method

    @registry.methods.register("slow")
    class Slow(Method):
        name = "slow"
        def process(self, frames, ctx):
            time.sleep(float(os.environ.get("SLOW_DELAY", "0.25")))  # 0: the runs that are not to be stopped
            return frames

    from benchmark.cli import app
    app(sys.argv[1:])
    """
)


def test_killed_run_resumes_to_the_same_rows(tmp_path, image_folder):
    from benchmark.core.imaging import write_png

    from conftest import smooth_image

    for i in range(3, 10):
        write_png(image_folder / f"img{i}.png", smooth_image(40, 48, seed=i))
    script = tmp_path / "slowcli.py"
    script.write_text(SLOW_CLI)
    args = ["run", "-q", "-m", "slow", "-d", f"{image_folder}@qf20", "--metrics", "psnr,ssim-y,fps"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cache = tmp_path / "cache"
    proc = subprocess.Popen(
        [sys.executable, str(script), *args, "--cache-dir", str(cache), "-o", str(tmp_path / "killed")], env=env
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        done = len(list((cache / "frames").glob("*/*/meta.json"))) if (cache / "frames").exists() else 0
        if done >= 8:  # ~half: 10 degraded + 10 outputs in all
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "killed" / "scores.parquet").exists()
    env["SLOW_DELAY"] = "0"  # the same outputs, without the wait that gave the kill its time
    resumed = subprocess.run(
        [sys.executable, str(script), *args, "--cache-dir", str(cache), "-o", str(tmp_path / "resumed")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    fresh = subprocess.run(
        [sys.executable, str(script), *args, "--cache-dir", str(tmp_path / "cache2"), "-o", str(tmp_path / "fresh")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert fresh.returncode == 0, fresh.stderr
    a = pd.read_parquet(tmp_path / "resumed" / "scores.parquet")
    b = pd.read_parquet(tmp_path / "fresh" / "scores.parquet")
    # speed is measured, not computed: compare everything else exactly
    cols = [c for c in COLUMNS if c not in ("run_id", "elapsed_s")]
    a.loc[a.metric == "fps", "value"] = b.loc[b.metric == "fps", "value"] = 0.0
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert len(a) == 30 and (a.status == "ok").all()


def test_external_plugin_package_is_listed_and_runs(tmp_path, image_folder):
    target = tmp_path / "site"
    import shutil

    pkg = shutil.copytree(
        Path(__file__).parent / "plugin_pkg", tmp_path / "plugin_pkg"
    )  # pip builds in place: not in the source tree
    env = install_plugin(pkg, target)
    bench = [sys.executable, "-m", "benchmark.cli"]
    listed = subprocess.run([*bench, "list", "methods"], env=env, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    line = next(l for l in listed.stdout.splitlines() if l.strip("│ ").startswith("invert "))
    assert "0.3.0" in line and "bench-example-plugin" in line
    ran = subprocess.run(
        [
            *bench,
            "run",
            "-q",
            "-m",
            "identity,invert",
            "-d",
            f"{image_folder}@qf50",
            "--metrics",
            "psnr",
            "-o",
            str(tmp_path / "o"),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stderr
    df = pd.read_parquet(tmp_path / "o" / "scores.parquet")
    means = df.groupby("method")["value"].mean()
    assert means["invert"] < means["identity"] - 10
    assert df[df.method == "invert"]["method_version"].iloc[0] == "0.3.0"


def test_item_selection(image_folder, tmp_path):
    from benchmark.errors import BenchError

    ids = sorted(p.stem for p in image_folder.iterdir())
    res = run(
        RunConfig(datasets=[f"{image_folder}@qf20"], items=[ids[1]], metrics=["psnr"], out=str(tmp_path / "o")),
        progress=False,
    )
    assert set(res.rows.item_id) == {ids[1]}
    with pytest.raises(BenchError, match=f"no item named nope.*{ids[0]}"):
        run(
            RunConfig(datasets=[f"{image_folder}@qf20"], items=["nope"], metrics=["psnr"], out=str(tmp_path / "o2")),
            progress=False,
        )
