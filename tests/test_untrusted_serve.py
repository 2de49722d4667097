"""Issue 39, the rest: what `bench serve` and `bench enhance` read back is untrusted, and what they say is true.

A damaged studies.sqlite is one message naming the file on every study route and in `bench study`; a JSON body
nested 200,000 deep is a 422; an SVG upload a 415; a planted job.json with a bad field is removed like an
unreadable one; a new job's status is what it is (queued until a worker takes it); Ctrl-C ends `bench serve`
within seconds with a job running; `bench enhance` keeps a variable-frame-rate clip's timestamps; the Enhance
page's memory figures are the measured ones."""

import json
import logging
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from benchmark import registry
from benchmark.api import Method
from benchmark.cli import app as cli
from benchmark.serve import study
from benchmark.serve.app import ServeConfig, create_app
from benchmark.serve.jobs import Limits

from conftest import smooth_image

ROOT = Path(__file__).resolve().parents[1]
STUDY_ROUTES = [
    ("GET", "/study"),
    ("GET", "/study/s1"),
    ("GET", "/api/studies"),
    ("GET", "/api/study/s1/next"),
    ("GET", "/api/study/s1/results"),
    ("GET", "/api/study/s1/media/0123456789abcdef.png"),
    ("POST", "/api/study/s1/raters"),
    ("POST", "/api/study/s1/resume"),
    ("POST", "/api/study/s1/answer"),
]


def _png(h=24, w=32) -> bytes:
    return cv2.imencode(".png", smooth_image(h, w))[1].tobytes()


def _study_db(runs: Path) -> Path:
    """A studies database with one DSIS study ``s1`` of one stimulus."""
    con = study.connect(runs)
    con.execute("INSERT INTO studies VALUES ('s1','dsis',5,'/x','r','d','b','g','2024-01-01','{\"methods\": [\"m\"]}')")
    con.execute("INSERT INTO stimuli VALUES ('s1',0,'i','m',NULL,'a.png','a.png',NULL)")
    con.close()
    for ext in ("-wal", "-shm"):
        Path(f"{runs / study.DB_NAME}{ext}").unlink(missing_ok=True)
    return runs / study.DB_NAME


def _damage(db: Path, how: str) -> None:
    if how == "random bytes":
        db.write_bytes(np.random.default_rng(0).integers(0, 256, 8192, dtype=np.uint8).tobytes())
    elif how == "truncated":
        db.write_bytes(db.read_bytes()[:3000])
    else:
        con = sqlite3.connect(db)
        if how == "table missing":
            con.execute("DROP TABLE stimuli")
        elif how == "table of other columns":
            con.execute("DROP TABLE studies")
            con.execute("CREATE TABLE studies(x)")
        elif how == "config not JSON":
            con.execute("UPDATE studies SET config='{'")
        elif how == "scale of the wrong kind":
            con.execute("UPDATE studies SET scale='five'")
        con.commit()
        con.close()


DAMAGE = [
    "random bytes",
    "truncated",
    "table missing",
    "table of other columns",
    "config not JSON",
    "scale of the wrong kind",
]


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_studies_database_is_one_message_on_every_study_route(tmp_path, how, caplog):
    runs = tmp_path / "runs"
    _damage(_study_db(runs), how)
    caplog.set_level(logging.WARNING)
    with TestClient(create_app(ServeConfig(runs_dir=runs)), raise_server_exceptions=False) as c:
        for verb, route in STUDY_ROUTES:
            r = c.request(verb, route, json={"name": "a"} if verb == "POST" else None)
            assert r.status_code == 503, (route, r.status_code, r.text)
            err = r.json()["error"]
            assert err.startswith("runs/studies.sqlite: ") and str(tmp_path) not in err, (
                err
            )  # the file, by its name only
    assert not [rec for rec in caplog.records if rec.exc_info], "a traceback in the server's log"
    assert any("studies.sqlite" in rec.getMessage() for rec in caplog.records)  # one line for the server's owner


def test_a_studies_database_that_is_no_regular_file_is_refused_unopened(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    os.mkfifo(runs / study.DB_NAME)  # sqlite would block on it for ever
    with pytest.raises(study.DamagedStudies, match="FIFO"):
        with study.opened(runs):
            pass


@pytest.fixture
def study_run(tmp_path, image_folder):
    from benchmark.run.runner import RunConfig, run

    r = run(
        RunConfig(
            methods=["identity", "bicubic"],
            datasets=[f"{image_folder}@x2"],
            metrics=["psnr"],
            out=str(tmp_path / "runs" / "r1"),
        ),
        progress=False,
    )
    assert not r.failures
    return r


@pytest.mark.parametrize("how", ["random bytes", "truncated", "table missing"])
def test_bench_study_commands_say_a_damaged_database_in_one_line(study_run, tmp_path, how):
    runs = tmp_path / "runs"
    r = CliRunner().invoke(cli, ["study", "create", str(study_run.out_dir), "--name", "c1"])
    assert r.exit_code == 0, r.output
    _damage(runs / study.DB_NAME, how)
    for args in (
        ["study", "results", "c1", "--runs", str(runs)],
        ["study", "create", str(study_run.out_dir), "--name", "c2"],
    ):
        r = CliRunner().invoke(cli, args)
        assert r.exit_code == 2 and not isinstance(r.exception, (sqlite3.Error, ValueError)), (
            args,
            r.output,
            r.exception,
        )
        lines = [x for x in r.output.splitlines() if x.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and "studies.sqlite" in lines[0], r.output


def test_json_nested_200000_deep_is_a_422_on_every_json_route(tmp_path):
    runs = tmp_path / "runs"
    _study_db(runs)
    deep = b"[" * 200_000 + b"]" * 200_000
    with TestClient(create_app(ServeConfig(runs_dir=runs)), raise_server_exceptions=False) as c:
        assert (
            c.post("/api/study/s1/raters", json={"name": "a"}).status_code == 200
        )  # a rater: /answer reads the body too
        for route in ("/api/study/s1/raters", "/api/study/s1/resume", "/api/study/s1/answer"):
            for body in (deep, b'{"name": ' + deep + b"}"):
                r = c.post(route, content=body, headers={"content-type": "application/json"})
                assert r.status_code == 422 and "nested too deep" in r.json()["error"], (
                    route,
                    r.status_code,
                    r.text[:200],
                )


SVGS = [
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000"><circle r="5"/></svg>',
]


@pytest.mark.parametrize("svg", SVGS)
def test_an_svg_upload_is_a_415(tmp_path, svg):
    with TestClient(create_app(ServeConfig(runs_dir=tmp_path / "runs")), raise_server_exceptions=False) as c:
        r = c.post("/api/enhance", files={"file": ("logo.svg", svg, "image/svg+xml")}, data={"method": "identity"})
        assert r.status_code == 415, r.text
        assert "decoded" in r.json()["error"]


GOOD_JOB = {
    "method": "identity",
    "kind": "image",
    "filename": "a.png",
    "scale": None,
    "status": "done",
    "progress": 1.0,
    "error": None,
    "created": 1.0e9,
    "finished": 1.0e9,
    "input_size": "32x24",
    "output_size": "32x24",
    "frames": 1,
    "owner": "",
}
BAD_FIELDS = {
    "id not its folder's": {"id": "../../victim"},
    "created text": {"created": "yesterday"},
    "status a number": {"status": 5},
    "status unknown": {"status": "paused"},
    "progress text": {"progress": "x"},
    "progress over 1": {"progress": 7.0},
    "finished text": {"finished": "soon"},
    "kind a path": {"kind": "../x"},
    "owner null": {"owner": None},
    "scale a float": {"scale": 2.5},
    "frames negative": {"frames": -3},
    "created NaN": {"created": float("nan")},
    "an unknown field": {"admin": True},
    "a list": None,
}


@pytest.mark.parametrize("bad", list(BAD_FIELDS) + ["nested 200000 deep", "a link to a folder", "a FIFO"])
def test_a_planted_job_file_with_a_bad_field_is_removed_like_an_unreadable_one(tmp_path, bad):
    runs = tmp_path / "runs"
    jobs = runs / ".serve" / "jobs"
    jobs.mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("x")
    good = uuid.uuid4().hex
    (jobs / good).mkdir()
    (jobs / good / "job.json").write_text(json.dumps({**GOOD_JOB, "id": good}))
    planted = jobs / uuid.uuid4().hex
    if bad == "a link to a folder":
        planted.symlink_to(victim)
        (victim / "job.json").write_text(json.dumps({**GOOD_JOB, "id": planted.name}))
    else:
        planted.mkdir()
        p = planted / "job.json"
        if bad == "nested 200000 deep":
            p.write_text("[" * 200_000 + "]" * 200_000)
        elif bad == "a FIFO":
            os.mkfifo(p)
        elif BAD_FIELDS[bad] is None:
            p.write_text(json.dumps([GOOD_JOB]))
        else:
            p.write_text(json.dumps({**GOOD_JOB, "id": planted.name, **BAD_FIELDS[bad]}))
    app = create_app(ServeConfig(runs_dir=runs, share_jobs=True))
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/api/jobs")
        assert r.status_code == 200 and [j["id"] for j in r.json()["jobs"]] == [good], r.text
        assert app.fastapi.state.jobs.clean(time.time() + 1e9) == [good]  # removes the good one's folder only
    assert not planted.exists() or planted.is_symlink() is False and not (planted / "job.json").exists()
    assert (victim / "keep.txt").exists()


class _Gate:
    """A method that waits for ``release`` (at most 30 s): a job that stays running while a test looks."""

    release = threading.Event()

    @staticmethod
    def process(frames):
        _Gate.release.wait(30)
        return frames


@pytest.fixture
def blocking_method():
    cls = type(
        "gated", (Method,), {"name": "gated", "scale": 1, "process": lambda self, frames, ctx: _Gate.process(frames)}
    )
    _Gate.release.clear()
    registry.methods.register("gated")(cls)
    try:
        yield "gated"
    finally:
        _Gate.release.set()
        registry.methods.unregister("gated")


def _status(c, job):
    return c.get(f"/api/jobs/{job}").json()["status"]


def _until(pred, timeout=20.0):
    t0 = time.time()
    while not pred():
        assert time.time() - t0 < timeout, "timed out"
        time.sleep(0.02)


def test_a_job_is_queued_until_a_worker_takes_it_and_the_docs_say_so(tmp_path, blocking_method):
    app = create_app(ServeConfig(runs_dir=tmp_path / "runs", limits=Limits(workers=1)))
    with TestClient(app, raise_server_exceptions=False) as c:
        post = lambda: c.post(
            "/api/enhance", files={"file": ("a.png", _png(), "image/png")}, data={"method": blocking_method}
        ).json()
        first = post()
        assert first["status"] in ("queued", "running")  # what it is at that moment
        _until(lambda: _status(c, first["job"]) == "running")
        second = post()
        assert second["status"] == "queued" and _status(c, second["job"]) == "queued"  # the one worker is busy
        _Gate.release.set()
        _until(lambda: _status(c, second["job"]) == "done")
        assert _status(c, first["job"]) == "done"
    docs = (ROOT / "docs" / "serve.md").read_text()
    row = next(x for x in docs.splitlines() if x.startswith("| `POST /api/enhance`"))
    assert "`queued`" in row and "`running`" in row  # the docs name both answers, and when each comes


def test_a_stop_marks_queued_and_running_jobs_and_waits_for_none(tmp_path, blocking_method):
    app = create_app(ServeConfig(runs_dir=tmp_path / "runs", limits=Limits(workers=1)))
    c = TestClient(app, raise_server_exceptions=False)
    c.__enter__()
    ids = [
        c.post("/api/enhance", files={"file": ("a.png", _png(), "image/png")}, data={"method": blocking_method}).json()[
            "job"
        ]
        for _ in range(2)
    ]
    _until(lambda: _status(c, ids[0]) == "running")
    t0 = time.perf_counter()
    c.__exit__(None, None, None)  # the lifespan's end: JobStore.close
    assert time.perf_counter() - t0 < 2.0
    for j in ids:
        rec = json.loads((tmp_path / "runs" / ".serve" / "jobs" / j / "job.json").read_text())
        assert rec["status"] == "error" and "server stopped" in rec["error"], rec
    _Gate.release.set()  # the cut-off worker finishes: it changes nothing any more
    time.sleep(0.3)
    assert json.loads((tmp_path / "runs" / ".serve" / "jobs" / ids[0] / "job.json").read_text())["status"] == "error"


SLEEPER_SERVER = """
import sys, time
from pathlib import Path
from benchmark import registry
from benchmark.api import Method

class Sleeper(Method):
    name, scale = "sleeper", 1
    def process(self, frames, ctx):
        time.sleep(120)
        return frames

registry.methods.register("sleeper")(Sleeper)
from benchmark.serve.app import ServeConfig, serve
serve(ServeConfig(runs_dir=Path(sys.argv[1])), port=int(sys.argv[2]))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ctrl_c_ends_bench_serve_within_seconds_with_a_job_running(tmp_path):
    import httpx

    port, runs = _free_port(), tmp_path / "runs"
    flags = (
        ["-S"] if sys.flags.no_site else []
    )  # as this process (a checkout's code on PYTHONPATH: perf/fault_table_untrusted.py)
    p = subprocess.Popen(
        [sys.executable, *flags, "-c", SLEEPER_SERVER, str(runs), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    log = []
    try:
        for line in p.stdout:
            log.append(line)
            if "Uvicorn running" in line:
                break
        assert "Uvicorn running" in log[-1], "".join(log)[-2000:]
        url = f"http://127.0.0.1:{port}"
        r = httpx.post(
            f"{url}/api/enhance", files={"file": ("a.png", _png(), "image/png")}, data={"method": "sleeper"}, timeout=30
        )
        assert r.status_code == 202, r.text
        job = r.json()["job"]
        _until(lambda: httpx.get(f"{url}/api/jobs/{job}", cookies=r.cookies).json()["status"] == "running")
        t0 = time.perf_counter()
        p.send_signal(signal.SIGINT)
        rest = p.communicate(timeout=20)[0]
        took = time.perf_counter() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    out = "".join(log) + rest
    assert took < 3.0 and p.returncode == 0, (took, p.returncode, out[-2000:])
    assert "Traceback" not in out and "terminate called" not in out, out[-2000:]
    rec = json.loads((runs / ".serve" / "jobs" / job / "job.json").read_text())
    assert rec["status"] == "error" and "server stopped" in rec["error"]


PTS_MS = [0, 40, 60, 300, 320, 500, 700, 720, 960]  # 9 frames at irregular times; the last one lasts 40 ms: 1.0 s


def _vfr_clip(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 32, 24, "yuv420p"
        s.time_base = s.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(PTS_MS):
            vf = av.VideoFrame.from_ndarray(np.roll(smooth_image(24, 32), 3 * i, 1), format="rgb24")
            vf.pts, vf.time_base = t, Fraction(1, 1000)
            for pkt in s.encode(vf):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path


def _times(path: Path) -> tuple[list[float], float]:
    import av

    with av.open(str(path)) as c:
        return [round(float(f.pts * f.time_base), 3) for f in c.decode(video=0)], c.duration / av.time_base


@pytest.mark.parametrize("out", ["clip.identity.mkv", "clip.bicubic.sbs.mp4"])
def test_bench_enhance_keeps_each_frame_timestamp_of_a_variable_frame_rate_clip(tmp_path, out):
    from benchmark.run.resolve import make_method
    from benchmark.tools.enhance import enhance

    src = _vfr_clip(tmp_path / "clip.mkv")
    times, duration = _times(src)
    assert times == [t / 1000 for t in PTS_MS] and duration == pytest.approx(1.0)
    method = "identity" if "identity" in out else "bicubic"
    info = enhance(
        src,
        make_method(method),
        tmp_path / out,
        scale=2 if method == "bicubic" else None,
        side_by_side="sbs" in out,
        progress=False,
    )
    assert info["frames"] == 9
    got, got_duration = _times(tmp_path / out)
    assert got == times  # before: 0, 0.04, 0.08 ... 0.32 (a constant 25 fps)
    if out.endswith(".mkv"):
        assert got_duration == pytest.approx(1.0)  # before: 0.36 s


def test_the_enhance_page_memory_figures_are_the_measured_ones(tmp_path):
    from benchmark.serve import catalog

    docs = (ROOT / "docs" / "serve.md").read_text()

    def measured(name, size_in, size_out):
        m = re.search(rf"\| `{name}` x2 \| baseline \| {size_in} \| {size_out} \| [\d.]+ \| \+([\d,]+) MB", docs)
        return int(m.group(1).replace(",", ""))

    w, h = (int(x) for x in "4096x4096".split("x"))
    assert catalog.MEASURED["bicubic"] == (w * h, measured("bicubic", "2048x2048", "4096x4096"))
    assert catalog.MEASURED["lanczos"] == (4 * w * h, measured("lanczos", "4096x4096", "8192x8192"))
    text = catalog.memory("bicubic", "method", 1024)
    gb = catalog.MEASURED["bicubic"][1] * 2**20 / 1e9
    assert f"about {gb:.1f} GB for 4096x4096 out" in text and "4 GB" not in text and "float64" not in text
    with TestClient(create_app(ServeConfig(runs_dir=tmp_path / "runs")), raise_server_exceptions=False) as c:
        page = c.get("/enhance").text
        assert text in page and "about 4 GB" not in page
