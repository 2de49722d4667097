"""bench serve through FastAPI's test client: jobs, uploads, limits, token, errors, the live WebSocket."""

import contextlib
import resource
import struct
import threading
import time
import zlib

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from benchmark import registry
from benchmark.api import Method
from benchmark.errors import BenchError
from benchmark.serve.app import ServeConfig, create_app, serve
from benchmark.serve.jobs import Limits

from conftest import smooth_image


def png(h=24, w=32, seed=0) -> bytes:
    ok, buf = cv2.imencode(".png", smooth_image(h, w, seed=seed))
    return buf.tobytes()


def tiny_video(path, frames=6, w=32, h=24):
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            vf = av.VideoFrame.from_ndarray(np.roll(smooth_image(h, w, seed=1), i, 1), format="rgb24")
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def png_bomb(w, h, bit_depth=1, color_type=0) -> bytes:
    """A valid PNG of w x h black pixels: about 100 KB that decode to gigabytes."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\0" * (1 + (w * {0: 1, 2: 3, 3: 1}[color_type] * bit_depth + 7) // 8)
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row * 256) for _ in range(h // 256)) + z.compress(row * (h % 256)) + z.flush()
    palette = chunk(b"PLTE", b"\0\0\0\xff\xff\xff") if color_type == 3 else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0))
        + palette
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )


@contextlib.contextmanager
def bounded(seconds=5.0, mb=500):
    """The block must finish within ``seconds`` and raise the process's peak RSS by under ``mb`` MB."""
    peak, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
    yield
    took, grew = time.perf_counter() - t0, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024
    assert took < seconds and grew < mb, f"took {took:.1f} s, peak RSS +{grew:.0f} MB"


@contextlib.contextmanager
def temp_method(name, process):
    """A method registered for one test: ``process(frames)`` is its body."""
    cls = type(name, (Method,), {"name": name, "scale": 1, "process": lambda self, frames, ctx: process(frames)})
    registry.methods.register(name)(cls)
    try:
        yield cls
    finally:
        registry.methods.unregister(name)


def _raise(exc):
    raise exc


def wait(client, job, timeout=60):
    t0 = time.time()
    while time.time() - t0 < timeout:
        j = client.get(f"/api/jobs/{job}").json()
        if j["status"] in ("done", "error"):
            return j
        time.sleep(0.05)
    raise AssertionError(f"job {job} did not finish: {j}")


@pytest.fixture
def client(tmp_path):
    app = create_app(ServeConfig(runs_dir=tmp_path / "runs", limits=Limits(max_upload_mb=0.5, workers=1)))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_methods_list(client):
    names = [m["name"] for m in client.get("/api/methods").json()["methods"]]
    assert {"identity", "bicubic", "fast-srgan"} <= set(names)
    assert client.get("/api/methods").json()["live_default"] == "fast-srgan"


@pytest.mark.parametrize("method,scale,factor", [("bicubic", "2", 2), ("identity", None, 1), ("fast-srgan", None, 2)])
def test_upload_job_result_has_the_right_size(client, method, scale, factor):
    data = {"method": method, **({"scale": scale} if scale else {})}
    r = client.post("/api/enhance", files={"file": ("photo.png", png(), "image/png")}, data=data)
    assert r.status_code == 202, r.text
    j = wait(client, r.json()["job"])
    assert j["status"] == "done" and j["progress"] == 1.0 and j["error"] is None, j
    res = client.get(j["result"])
    assert res.status_code == 200 and res.headers["content-type"] == "image/png"
    out = cv2.imdecode(np.frombuffer(res.content, np.uint8), cv2.IMREAD_COLOR)
    assert out.shape[:2] == (24 * factor, 32 * factor)
    assert f'filename="photo.{method}.png"' in res.headers["content-disposition"]
    assert j["id"] in [x["id"] for x in client.get("/api/jobs").json()["jobs"]]  # finished jobs are listed


def test_video_job_progress_and_player_copy(client, tmp_path):
    import av

    vid = tiny_video(tmp_path / "clip.mp4").read_bytes()
    r = client.post(
        "/api/enhance", files={"file": ("clip.jpg", vid, "image/jpeg")}, data={"method": "bicubic", "scale": "2"}
    )  # the name lies
    assert r.status_code == 202 and r.json()["kind"] == "video"
    j = wait(client, r.json()["job"])
    assert j["status"] == "done" and j["frames"] == 6 and j["output_size"] == "64x48", j
    out = tmp_path / "out.mp4"
    out.write_bytes(client.get(j["result"]).content)
    with av.open(str(out)) as c:
        frames = list(c.decode(video=0))
    assert len(frames) == 6 and (frames[0].width, frames[0].height) == (64, 48)
    assert client.get(j["input"]).headers["content-type"] == "video/mp4"


def test_bad_uploads_are_clear_4xx(client):
    def post(content, method="identity", name="a.png", **extra):
        return client.post(
            "/api/enhance", files={"file": (name, content, "image/png")}, data={"method": method, **extra}
        )

    r = post(b"this is text, not a picture")
    assert r.status_code == 415 and "neither an image nor a video" in r.json()["error"]
    r = post(b"")
    assert r.status_code == 400 and "empty" in r.json()["error"]
    r = post(png(), method="no-such-method")
    assert (
        r.status_code == 400
        and "unknown method 'no-such-method'" in r.json()["error"]
        and "identity" in r.json()["error"]
    )
    r = post(
        png(), method="../../methods/weights/ssim.safetensors"
    )  # a weights path is a method for the CLI, never for the server
    assert r.status_code == 400 and "unknown method" in r.json()["error"]
    r = post(np.random.default_rng(0).integers(0, 255, 700_000, dtype=np.uint8).tobytes())
    assert r.status_code == 413 and "limit" in r.json()["error"]
    r = post(png(), method="fast-srgan", scale="3")
    assert r.status_code == 400 and "x2" in r.json()["error"]
    r = client.post("/api/enhance", data={"method": "identity"})
    assert r.status_code == 422 and "file" in r.json()["error"]
    chunks = (b"x" * 100_000 for _ in range(10))  # no declared length: FastAPI's body cap stops it
    r = client.post("/api/enhance", content=chunks, headers={"content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413 and "limit of 524,288 bytes" in r.json()["error"]


def test_decompression_bombs_are_refused_from_the_header(client):
    """A PNG's header is read before any pixel is decoded: 30000x30000 (1-bit and paletted) or a 16-bit
    8000x8000 picture in about 100 KB is a 413 at once, not gigabytes of pixels."""
    for bomb, size in (
        (png_bomb(30000, 30000), "900,000,000 pixels"),
        (png_bomb(30000, 30000, 1, 3), "900,000,000 pixels"),
        (png_bomb(8000, 8000, 16, 0), "8000x8000 pixels"),
    ):
        with bounded():
            r = client.post(
                "/api/enhance", files={"file": ("bomb.png", bomb, "image/png")}, data={"method": "identity"}
            )
        assert (
            r.status_code == 413 and size in r.json()["error"] and "limit of 16,777,216 pixels" in r.json()["error"]
        ), r.text
    with client.websocket_connect("/api/live?method=identity") as ws:
        assert ws.receive_json()["type"] == "ready"
        with bounded():
            ws.send_bytes((1).to_bytes(4, "big") + png_bomb(30000, 30000))
            err = ws.receive_json()
        assert err["type"] == "error" and "larger than the limit of 921,600 pixels" in err["error"]
        ws.send_bytes((2).to_bytes(4, "big") + png_bomb(1281, 720))
        assert "a frame of 1281x720 pixels is larger" in ws.receive_json()["error"]


def test_video_over_the_pixel_limit_is_refused_from_its_stream_header(tmp_path, monkeypatch):
    import av

    c = TestClient(create_app(ServeConfig(runs_dir=tmp_path / "runs", limits=Limits(max_pixels=500))))
    decoded = []
    real = av.container.InputContainer.decode
    monkeypatch.setattr(
        av.container.InputContainer, "decode", lambda self, *a, **k: decoded.append(1) or real(self, *a, **k)
    )
    r = c.post(
        "/api/enhance",
        files={"file": ("v.mp4", tiny_video(tmp_path / "v.mp4").read_bytes(), "video/mp4")},
        data={"method": "identity"},
    )
    assert r.status_code == 413 and "video of 32x24 pixels" in r.json()["error"] and not decoded, r.text


def test_sixteen_bit_pictures_are_rounded_like_the_cli_without_a_float_copy(client):
    from benchmark.core.imaging import uint16_to_uint8

    every = np.arange(65536, dtype=np.uint16).reshape(128, 128, 4)
    assert np.array_equal(uint16_to_uint8(every), (every / 257.0).round().astype(np.uint8))  # round(x / 257) exactly
    _, buf = cv2.imencode(
        ".png", np.clip(smooth_image(24, 32).astype(np.int32) * 257 + 100, 0, 65535).astype(np.uint16)
    )
    r = client.post(
        "/api/enhance", files={"file": ("deep.png", buf.tobytes(), "image/png")}, data={"method": "identity"}
    )
    j = wait(client, r.json()["job"])
    out = cv2.imdecode(np.frombuffer(client.get(j["result"]).content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert j["status"] == "done" and out.dtype == np.uint8 and np.array_equal(out, smooth_image(24, 32)), j


def test_client_paths_never_reach_the_filesystem(client, tmp_path):
    r = client.post(
        "/api/enhance", files={"file": ("../../../../tmp/evil.png", png(), "image/png")}, data={"method": "identity"}
    )
    j = wait(client, r.json()["job"])
    assert j["filename"] == "evil.png"
    stored = sorted(p.name for p in (tmp_path / "runs" / ".serve" / "jobs" / j["id"]).iterdir())
    assert stored == ["input.png", "job.json", "output.png"]
    for bad in ("..", "..%2F..%2Fetc%2Fpasswd", "0" * 31 + "/", "../" + j["id"]):
        assert client.get(f"/api/jobs/{bad}/result").status_code == 404
    assert client.get("/api/study/x/media/..%2F..%2Fstudies.sqlite").status_code == 404


def test_errors_are_json_never_a_traceback(client, tmp_path):
    with temp_method("broken-test", lambda frames: _raise(RuntimeError("kaputt"))):
        c2 = TestClient(create_app(ServeConfig(runs_dir=tmp_path / "r2")), raise_server_exceptions=False)
        r = c2.post("/api/enhance", files={"file": ("a.png", png(), "image/png")}, data={"method": "broken-test"})
        j = wait(c2, r.json()["job"])
        assert j["status"] == "error" and j["error"] == "broken-test failed: RuntimeError: kaputt"
        r = c2.get(f"/api/jobs/{j['id']}/result")
        assert r.status_code == 409 and "kaputt" in r.json()["error"]
    r = client.get("/no/such/page")
    assert r.status_code == 404 and r.json() == {"error": "no such page or endpoint: /no/such/page"}
    assert "Traceback" not in r.text
    # the server's folders never reach a client: RUNS_DIR by its name
    where = tmp_path / "r3" / "weights" / "w.pth"
    with temp_method("lost-test", lambda frames: _raise(FileNotFoundError(f"no such file: {where}"))):
        c3 = TestClient(create_app(ServeConfig(runs_dir=tmp_path / "r3")), raise_server_exceptions=False)
        j = wait(
            c3,
            c3.post("/api/enhance", files={"file": ("a.png", png(), "image/png")}, data={"method": "lost-test"}).json()[
                "job"
            ],
        )
        assert j["error"] == "lost-test failed: FileNotFoundError: no such file: r3/weights/w.pth", j
        page = c3.get("/leaderboards/").text
        assert "No runs in <code>r3</code>" in page and str(tmp_path) not in page


def test_queue_cap_and_cleanup(tmp_path):
    app = create_app(ServeConfig(runs_dir=tmp_path, limits=Limits(workers=1, max_pending=1, keep_minutes=1)))
    c = TestClient(app)
    store = app.fastapi.state.jobs
    store.pool.submit(time.sleep, 1.0)  # keep the only worker busy
    first = c.post("/api/enhance", files={"file": ("a.png", png(), "image/png")}, data={"method": "identity"})
    second = c.post("/api/enhance", files={"file": ("a.png", png(), "image/png")}, data={"method": "identity"})
    assert first.status_code == 202 and second.status_code == 429 and "limit is 1" in second.json()["error"]
    j = wait(c, first.json()["job"])
    assert store.clean(now=j["finished"] + 30) == []
    assert store.clean(now=j["finished"] + 61) == [j["id"]]
    assert not (tmp_path / ".serve" / "jobs" / j["id"]).exists()
    assert c.get(f"/api/jobs/{j['id']}").status_code == 404


def test_parallel_uploads_never_overshoot_the_job_cap(tmp_path, monkeypatch):
    """The slot is reserved before the (slow) check of the upload, and given back when the upload is refused."""
    from concurrent.futures import ThreadPoolExecutor

    from benchmark.serve import jobs as jobs_mod
    from benchmark.serve.jobs import UploadError

    app = create_app(ServeConfig(runs_dir=tmp_path, limits=Limits(workers=1, max_pending=4)))
    store, hold = app.fastapi.state.jobs, threading.Event()
    store.pool.submit(hold.wait, 30)  # the only worker is busy: every accepted job stays queued
    slow = jobs_mod.sniff
    monkeypatch.setattr(jobs_mod, "sniff", lambda path, limits: (time.sleep(0.05), slow(path, limits))[1])
    files = [tmp_path / f"u{i}.png" for i in range(30)]
    for f in files:
        f.write_bytes(png())
    (tmp_path / "bad.png").write_bytes(b"not a picture")

    def upload(f):
        try:
            return store.submit(f, f.name, "identity", None).status
        except UploadError as exc:
            return exc.status

    try:
        with ThreadPoolExecutor(30) as ex:
            got = list(ex.map(upload, files))
        assert got.count("queued") == 4 and got.count(429) == 26 and len(store.list()) == 4, got
        store.jobs.clear()
        assert [upload(tmp_path / "bad.png") for _ in range(5)] == [415] * 5  # refused: each gave its slot back
        assert [upload(f) for f in files[:5]] == ["queued"] * 4 + [429]
    finally:
        hold.set()
        store.close()


def test_token_gate(tmp_path):
    c = TestClient(create_app(ServeConfig(runs_dir=tmp_path, token="s3cret")))
    r = c.get("/api/methods")
    assert r.status_code == 401 and "token" in r.json()["error"]
    assert c.get("/api/methods", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/api/methods", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    r = c.get("/enhance?token=s3cret")
    assert r.status_code == 200 and "bench_token=s3cret" in r.headers["set-cookie"]
    assert c.get("/api/methods").status_code == 200  # the cookie now carries it
    from starlette.websockets import WebSocketDisconnect

    anon = TestClient(create_app(ServeConfig(runs_dir=tmp_path, token="s3cret")))
    with pytest.raises(WebSocketDisconnect) as e:
        with anon.websocket_connect("/api/live?method=identity") as ws:
            ws.receive_json()
    assert e.value.code == 1008


def test_token_stays_out_of_the_logs_and_short_ones_are_refused(tmp_path, monkeypatch):
    import logging

    import uvicorn
    from typer.testing import CliRunner
    from uvicorn.logging import AccessFormatter

    from benchmark.cli import app as cli
    from benchmark.serve.gate import RedactToken

    token = "k" * 24
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw))
    serve(ServeConfig(runs_dir=tmp_path, token=token), host="127.0.0.1", port=0)
    cfg = seen["log_config"]
    assert all("redact_token" in h["filters"] for h in cfg["handlers"].values())
    assert cfg["filters"]["redact_token"]["()"] == "benchmark.serve.gate.RedactToken"
    f = RedactToken()
    access = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", f"/enhance?x=1&token={token}", "1.1", 200),
        None,
    )
    ws = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        "",
        0,
        '%s - "WebSocket %s" [accepted]',
        ("1.2.3.4:9", f"/api/live?token={token}"),
        None,
    )
    assert f.filter(access) and f.filter(ws)
    line = AccessFormatter(cfg["formatters"]["access"]["fmt"], use_colors=False).format(access) + ws.getMessage()
    assert token not in line and "/enhance?x=1&token=*** HTTP/1.1" in line and "/api/live?token=***" in line
    for short in ("s3cret", "k" * 15):
        with pytest.raises(BenchError, match="too short"):
            serve(ServeConfig(runs_dir=tmp_path, token=short), host="127.0.0.1", port=0)
    r = CliRunner().invoke(cli, ["serve", str(tmp_path), "--token", "hunter2"])
    assert r.exit_code == 2 and "at least 16" in r.output and "--token random" in r.output


def test_foreign_hosts_and_origins_are_refused(tmp_path):
    from starlette.websockets import WebSocketDisconnect

    app = create_app(ServeConfig(runs_dir=tmp_path, allowed_hosts=["localhost", "127.0.0.1"]))
    assert TestClient(app, base_url="http://127.0.0.1:8000").get("/api/methods").status_code == 200
    r = TestClient(app, base_url="http://rebound.example:8000").get("/api/methods")  # DNS rebinding
    assert r.status_code == 403 and "rebound.example" in r.json()["error"]
    c = TestClient(app, base_url="http://localhost:8000")
    ok = c.get("/api/methods", headers={"Origin": "http://localhost:8000"})
    assert ok.status_code == 200
    r = c.post(
        "/api/enhance",
        files={"file": ("a.png", png(), "image/png")},
        data={"method": "identity"},
        headers={"Origin": "http://evil.example"},
    )  # a form on another site posting here
    assert r.status_code == 403 and "cross-origin" in r.json()["error"]
    with pytest.raises(WebSocketDisconnect) as e:
        with c.websocket_connect("/api/live", headers={"Origin": "http://evil.example"}) as ws:
            ws.receive_json()
    assert e.value.code == 1008


def test_public_bind_needs_a_token(tmp_path):
    with pytest.raises(BenchError, match="--token"):
        serve(ServeConfig(runs_dir=tmp_path), host="0.0.0.0", port=0)


def _jpeg(h=24, w=32, seed=0) -> bytes:
    ok, buf = cv2.imencode(".jpg", smooth_image(h, w, seed=seed))
    return buf.tobytes()


def test_live_websocket_returns_enhanced_frames(client):
    with client.websocket_connect("/api/live?method=fast-srgan") as ws:
        assert ws.receive_json() == {"type": "ready", "method": "fast-srgan", "scale": 2}
        ws.send_bytes((7).to_bytes(4, "big") + _jpeg())
        data = ws.receive_bytes()
        assert int.from_bytes(data[:4], "big") == 7
        out = cv2.imdecode(np.frombuffer(data[4:], np.uint8), cv2.IMREAD_COLOR)
        assert out.shape[:2] == (48, 64)
        stats = ws.receive_json()
        assert stats["type"] == "stats" and stats["frame"] == 7 and stats["processed"] == 1 and stats["process_ms"] > 0
        ws.send_bytes((8).to_bytes(4, "big") + b"garbage")
        assert "decodable" in ws.receive_json()["error"]


def test_live_slow_method_drops_frames_instead_of_queueing(client, tmp_path):
    with temp_method("slow-test", lambda frames: (time.sleep(0.4), frames)[1]):
        c = TestClient(create_app(ServeConfig(runs_dir=tmp_path / "r2", limits=Limits(live_sessions=1))))
        with c.websocket_connect("/api/live?method=slow-test") as ws:
            assert ws.receive_json()["type"] == "ready"
            with c.websocket_connect("/api/live?method=identity") as ws2:  # over the cap of one session
                assert "live sessions" in ws2.receive_json()["error"]
            for i in range(10):
                ws.send_bytes(i.to_bytes(4, "big") + _jpeg(seed=i))
                time.sleep(0.02)
            got, stats = [], None
            while not got or got[-1] != 9:
                got.append(int.from_bytes(ws.receive_bytes()[:4], "big"))
                stats = ws.receive_json()
        # the first frame is started at once, the ones arriving while it runs replace each other: the newest wins
        assert got[0] == 0 and got[-1] == 9 and len(got) <= 3
        assert stats["received"] == 10 and stats["dropped"] == 10 - len(got) and stats["processed"] == len(got)


def test_live_method_failure_is_reported(client, tmp_path):
    with temp_method("crash-test", lambda frames: _raise(RuntimeError("boom"))):
        c = TestClient(create_app(ServeConfig(runs_dir=tmp_path / "r3")))
        with c.websocket_connect("/api/live?method=crash-test") as ws:
            assert ws.receive_json()["type"] == "ready"
            ws.send_bytes((1).to_bytes(4, "big") + _jpeg())
            assert ws.receive_json() == {"type": "error", "error": "crash-test failed: RuntimeError: boom"}


def test_unknown_live_method(client):
    with client.websocket_connect("/api/live?method=nope") as ws:
        assert "unknown method 'nope'" in ws.receive_json()["error"]


def test_jobs_belong_to_the_browser_session_that_made_them(tmp_path):
    """Another session's job is a 404 to list, poll, download or delete; --share-jobs shows every job to every session."""
    app = create_app(ServeConfig(runs_dir=tmp_path, limits=Limits(workers=1)))
    mine, theirs = TestClient(app), TestClient(app)
    r = mine.post("/api/enhance", files={"file": ("a.png", png(), "image/png")}, data={"method": "identity"})
    cookie = r.headers["set-cookie"].lower()
    assert cookie.startswith("bench_session=") and "httponly" in cookie and "samesite=strict" in cookie
    j = wait(mine, r.json()["job"])
    assert [x["id"] for x in mine.get("/api/jobs").json()["jobs"]] == [j["id"]] and "owner" not in j
    assert theirs.get("/api/jobs").json() == {"jobs": []}
    for path in (f"/api/jobs/{j['id']}", j["result"], j["input"]):
        r = theirs.get(path)
        assert r.status_code == 404 and "this browser session" in r.json()["error"], path
    assert theirs.delete(f"/api/jobs/{j['id']}").status_code == 404
    stored = (tmp_path / ".serve" / "jobs" / j["id"] / "job.json").read_text()
    assert mine.cookies["bench_session"] not in stored  # the job keeps the session's hash, never the id
    shared = TestClient(create_app(ServeConfig(runs_dir=tmp_path, share_jobs=True)))  # a restart with --share-jobs
    assert [x["id"] for x in shared.get("/api/jobs").json()["jobs"]] == [j["id"]] and shared.get(
        j["result"]
    ).status_code == 200
    assert mine.delete(f"/api/jobs/{j['id']}").json() == {"deleted": j["id"]}
    assert mine.get(f"/api/jobs/{j['id']}").status_code == 404 and not (tmp_path / ".serve" / "jobs" / j["id"]).exists()


def test_enhance_page_says_what_each_method_is_for_and_takes(client):
    page = client.get("/enhance").text
    for name, task in (
        ("ssim", "JPEG artifact removal"),
        ("gan", "JPEG artifact removal"),
        ("pix2pix", "H.264 artifact removal"),
        ("fast-srgan", "x2 super-resolution (real time)"),
        ("srgan", "x4 super-resolution"),
        ("videoboost", "x5 super-resolution"),
        ("tsmooth", "video: temporal smoothing of a frame method"),
        ("bicubic", "baseline: resize by any scale"),
    ):
        assert f"{name} · {task}</option>" in page, name
    assert "Galteri et al.&#39;s residual generator trained with an SSIM loss" in page  # Method.description
    assert 'data-sizes="input up to 4096x4096 per image or frame; output x4, up to 16384x16384"' in page
    assert 'data-sizes="input up to 4096x4096 per image or frame; output the same size"' in page
    assert "activations stay within a memory budget of" in page and "16,777,216 pixels per image or frame" in page
    m = {x["name"]: x for x in client.get("/api/methods").json()["methods"]}
    assert m["pix2pix"]["task"] == "H.264 artifact removal" and "x5, up to 20480x20480" in m["videoboost"]["sizes"]


def test_leaderboard_pages_carry_the_apps_navigation(client, tmp_path):
    site = tmp_path / "runs" / ".serve" / "site"
    (site / "compare").mkdir(parents=True)
    (site / "compare" / "live1.html").write_text(
        "<!doctype html><html><head></head><BODY class='x'><h1>compare</h1></body></html>"
    )
    (site / "data.csv").write_text("a,b\n")
    page = client.get("/leaderboards/compare/live1.html").text
    assert page.index("<BODY class='x'>") < page.index('<header class="bench-nav">') < page.index("<h1>compare</h1>")
    assert (
        '<a href="/leaderboards/" class="on">Leaderboards</a>' in page
        and '<a href="/enhance" class="">Enhance</a>' in page
    )
    assert client.get("/leaderboards/data.csv").text == "a,b\n"  # other files as they are
    assert client.get("/leaderboards/../studies.sqlite").status_code == 404
    assert 'class="bench-nav"' in client.get("/leaderboards/").text  # no runs: the app's own page


def test_first_request_after_start_is_fast(tmp_path, capsys):
    """The methods are listed before uvicorn listens: the first page does not wait for them (a generous bound here:
    perf/serve_first_request.py measures it in a fresh process)."""
    import socket
    import urllib.request

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(ServeConfig(runs_dir=tmp_path))
    # log_config=None: uvicorn's dictConfig closes every handler there is, and absl's (imported with
    # OpenVINO by earlier tests) closes its stream, which under pytest is the capture's, not a console
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", log_config=None))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    try:
        deadline = time.monotonic() + 60  # alone, the start imports torch
        while not srv.started and t.is_alive() and time.monotonic() < deadline:
            time.sleep(0.025)
        assert srv.started and app.fastapi.state.serve._methods, "the methods are listed before the server listens"
        t0 = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/enhance", timeout=30) as r:
            assert r.status == 200 and b"JPEG artifact removal" in r.read()
        took = time.perf_counter() - t0
    finally:
        srv.should_exit = True
        t.join(timeout=10)
    with capsys.disabled():
        print(f"\nfirst GET /enhance after start: {took * 1000:.0f} ms")
    assert took < 3.0


def test_scale_free_output_is_capped_like_an_upload(tmp_path):
    """bicubic works on the whole picture (measured: +15.8 GB for x2 of 4096x4096): its output is held to the pixel limit too."""
    c = TestClient(create_app(ServeConfig(runs_dir=tmp_path, limits=Limits(max_pixels=64 * 48))))
    ok = c.post("/api/enhance", files={"file": ("a.png", png(), "image/png")}, data={"method": "bicubic", "scale": "2"})
    r = c.post("/api/enhance", files={"file": ("a.png", png(), "image/png")}, data={"method": "bicubic", "scale": "3"})
    assert ok.status_code == 202 and r.status_code == 413, r.text
    assert r.json()["error"].startswith(
        "bicubic x3 of a 32x24 picture would make 96x72 pixels, over the limit of 3,072 output pixels"
    )
