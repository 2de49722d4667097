"""The probes of ``bench serve`` and ``bench study`` for ``perf/fault_table_untrusted.py`` (issue 39): the app
runs in a child, FastAPI's test client (or uvicorn and a SIGINT), and prints what it saw as JSON."""

from __future__ import annotations

import os
from pathlib import Path

from untrusted_probes import Py, _copy_run, _json, _out

STUDY_DB = """
import json, sqlite3, sys
from pathlib import Path
from benchmark.serve import study
runs = Path(sys.argv[1])
con = study.connect(runs)
con.execute("INSERT INTO studies VALUES ('s1','dsis',5,?,'r','d','b','g','2024-01-01',?)",
            (str(runs), json.dumps({"methods": ["m"], "items": ["i"], "repeats": 0, "seed": 0, "hold": 3})))
con.execute("INSERT INTO stimuli VALUES ('s1',0,'i','m',NULL,'a.png','a.png',NULL)")
con.close()
"""
CLIENT = """
import json, re, sqlite3, sys, time
from pathlib import Path
from fastapi.testclient import TestClient
from benchmark.serve.app import ServeConfig, create_app
from benchmark.serve.jobs import Limits
runs = Path(sys.argv[1])
def client(**kw):
    return TestClient(create_app(ServeConfig(runs_dir=runs, **kw)), raise_server_exceptions=False)
out = {}
"""


def _p_rater(w, base):
    api = Py(
        STUDY_DB
        + CLIENT
        + """
with client() as c:
    out["escape"] = c.post("/api/study/s1/raters", json={"name": "\\x1b]0;owned\\x07\\x1b[31meve\\x1b[0m"}).status_code
    t = c.get("/api/study/s1/next").json()
    if "trial" in t:
        c.post("/api/study/s1/answer", json={"trial": t["trial"], "value": 3})
    c.cookies.clear()
    out["long"] = c.post("/api/study/s1/raters", json={"name": "x" * 500000}).status_code
names = [r[0] or "" for r in sqlite3.connect(runs / "studies.sqlite").execute("SELECT name FROM raters")]
out["stored"] = max(map(len, names)) if names else 0
out["esc"] = any("\\x1b" in n for n in names)
print(json.dumps(out))
""",
        w / "runs",
    )
    return [api, ["study", "results", "s1", "--runs", str(w / "runs"), "--no-write"]]


def _c_rater(w, procs):
    j = _json(procs, 0)
    raw = "\x1b]0;owned" in _out(procs)
    return (
        f"API {j.get('escape')} (escapes), {j.get('long')} (500,000 chars); stored: longest {j.get('stored', 0):,} chars, "
        f"ESC {'kept' if j.get('esc') else 'removed'}; terminal: {'raw escape' if raw else 'no raw escape'}"
    )


def _p_served_paths(w, base):
    _copy_run(base, w / "runs" / "r1")
    return Py(
        CLIENT
        + """
with client() as c:
    c.get("/leaderboards/")
    rid = json.loads((runs / "r1" / "manifest.json").read_text())["run_id"]
    texts = [c.get(f"/leaderboards/data/runs/{rid}/{f}") for f in ("manifest.json", "artifacts.json")]
    html = c.get("/leaderboards/").text
out["status"] = [t.status_code for t in texts]
out["abs"] = sorted(set(re.findall(r'"(/(?:tmp|work|root|home)/[^"]*)"', "".join(t.text for t in texts) + html)))[:2]
print(json.dumps(out))
""",
        w / "runs",
    )


def _c_served_paths(w, procs):
    j = _json(procs)
    return f"GET {j.get('status')}; absolute paths served: " + (
        ", ".join(p[:40] for p in j["abs"]) if j.get("abs") else "none"
    )


def _damaged_db(w) -> Py:
    return Py(
        STUDY_DB
        + """
import os
(runs / "studies.sqlite").write_bytes(os.urandom(8192))
for ext in ("-wal", "-shm"):
    Path(f"{runs / 'studies.sqlite'}{ext}").unlink(missing_ok=True)
""",
        w / "runs",
    )


def _p_db_serve(w, base):
    return [
        _damaged_db(w),
        Py(
            CLIENT
            + """
import logging
logging.basicConfig(level=logging.WARNING)
with client() as c:
    rs = [c.get(u) for u in ("/study", "/api/studies", "/api/study/s1/next")] + [c.post("/api/study/s1/raters", json={"name": "a"})]
out["status"] = sorted({r.status_code for r in rs})
out["error"] = rs[1].json().get("error", "")[:70]
print(json.dumps(out))
""",
            w / "runs",
        ),
    ]


def _c_db_serve(w, procs):
    j = _json(procs)
    tb = "Traceback" in procs[-1].stderr
    return (
        f'4 study routes: {j.get("status")} "{j.get("error", "")}"; {"traceback" if tb else "no traceback"} in the log'
    )


def _p_db_cli(w, base):
    return [_damaged_db(w), ["study", "results", "s1", "--runs", str(w / "runs")]]


def _p_deep_json(w, base):
    return Py(
        STUDY_DB
        + CLIENT
        + """
deep = b"[" * 200000 + b"]" * 200000
with client() as c:
    r = c.post("/api/study/s1/raters", content=deep, headers={"content-type": "application/json"})
out["status"], out["error"] = r.status_code, r.json().get("error", "")[:60]
print(json.dumps(out))
""",
        w / "runs",
    )


def _c_status(w, procs):
    j = _json(procs)
    return f'{j.get("status")} "{j.get("error", "")}"'


def _p_svg(w, base):
    return Py(
        CLIENT
        + """
svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
with client() as c:
    r = c.post("/api/enhance", files={"file": ("logo.svg", svg, "image/svg+xml")}, data={"method": "identity"})
out["status"], out["error"] = r.status_code, r.json().get("error", "")[:60]
print(json.dumps(out))
""",
        w / "runs",
    )


def _p_job_file(w, base):
    return Py(
        CLIENT
        + """
import uuid
jobs = runs / ".serve" / "jobs"
(runs / "victim").mkdir(parents=True)
(runs / "victim" / "keep.txt").write_text("x")
rec = {"method": "identity", "kind": "image", "filename": "a.png", "scale": None, "status": "done", "progress": 1.0, "error": None,
       "created": 1e9, "finished": 1e9, "input_size": "8x8", "output_size": "8x8", "frames": 1, "owner": ""}
for bad in ({"id": "../../victim"}, {"created": "yesterday"}):
    d = jobs / uuid.uuid4().hex
    d.mkdir(parents=True)
    (d / "job.json").write_text(json.dumps({**rec, "id": d.name, **bad}))
try:
    app = create_app(ServeConfig(runs_dir=runs, share_jobs=True))
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/api/jobs")
        out["status"], out["listed"] = r.status_code, len(r.json().get("jobs", []))
        try:
            app.fastapi.state.jobs.clean(time.time() + 1e9)
        except Exception as exc:
            out["clean"] = type(exc).__name__
except Exception as exc:
    out["start"] = type(exc).__name__
out["victim"] = (runs / "victim" / "keep.txt").exists()
print(json.dumps(out))
""",
        w / "runs",
    )


def _c_job_file(w, procs):
    j = _json(procs)
    return (
        f"GET /api/jobs {j.get('status')}, {j.get('listed')} listed"
        + (f"; clean: {j['clean']}" if "clean" in j else "")
        + f"; RUNS/victim {'kept' if j.get('victim') else 'DELETED'}"
    )


SERVER = """
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
SERVE_EXIT = """
import json, os, signal, socket, subprocess, sys, threading, time
import cv2, httpx, numpy as np
runs, mode = sys.argv[1], sys.argv[2]
with socket.socket() as s:
    s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
p = subprocess.Popen([sys.executable, "-S", "-c", sys.argv[3], runs, str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
log = []
for line in p.stdout:
    log.append(line)
    if "Uvicorn running" in line:
        break
url = f"http://127.0.0.1:{port}"
seen = {}
if mode == "job":
    png = cv2.imencode(".png", np.zeros((16, 16, 3), np.uint8))[1].tobytes()
    r = httpx.post(url + "/api/enhance", files={"file": ("a.png", png, "image/png")}, data={"method": "sleeper"}, timeout=30)
    for _ in range(200):
        if httpx.get(url + "/api/jobs/" + r.json()["job"], cookies=r.cookies).json()["status"] == "running":
            break
        time.sleep(0.05)
else:  # the Leaderboards page opened: its site is being built
    def page():
        try:
            seen["page"] = httpx.get(url + "/leaderboards/", timeout=120).status_code
        except httpx.HTTPError as exc:
            seen["page"] = type(exc).__name__
    threading.Thread(target=page, daemon=True).start()
    time.sleep(1.0)  # the request in flight (read by the server), the site still building
t0 = time.perf_counter()
p.send_signal(signal.SIGINT)
try:
    rest = p.communicate(timeout=30)[0]
    took = time.perf_counter() - t0
except subprocess.TimeoutExpired:
    p.kill(); rest = p.communicate()[0]; took = None
text = "".join(log) + rest
time.sleep(0.2)
print(json.dumps({"seconds": took, "rc": p.returncode, "traceback": "Traceback" in text, "abort": "terminate called" in text, **seen}))
"""


def _p_serve_exit(mode):
    def setup(w, base):
        (w / "runs").mkdir()
        server = SERVER if mode == "job" else SERVER.replace('registry.methods.register("sleeper")(Sleeper)\n', "")
        if mode == "job":
            return Py(SERVE_EXIT, w / "runs", mode, server)
        # a site that takes seconds to build: Set5 and Set14 x2, three methods (the standard sets), else four tiny runs
        if Path(os.environ.get("BENCH_DATA_ROOT", "-"), "images").is_dir():
            run = [
                "run",
                "-q",
                "-m",
                "identity,bicubic,lanczos",
                "-d",
                "set5-x2",
                "-d",
                "set14-x2",  # the default metrics
                "-o",
                str(w / "runs" / "r1"),
            ]
            return [run, Py(SERVE_EXIT, w / "runs", mode, server)]
        for i in range(4):
            _copy_run(base, w / "runs" / f"r{i}")
        return Py(SERVE_EXIT, w / "runs", mode, server)

    return setup


def _c_serve_exit(w, procs):
    j = _json(procs)
    if "seconds" not in j:
        return str(j)[:80]
    took = "over 30 s, killed" if j["seconds"] is None else f"exit after {j['seconds']:.1f} s"
    return (
        f"{took} (rc {j['rc']})"
        + (f"; the page got {j['page']}" if "page" in j else "")
        + ("; traceback in the log" if j["traceback"] else "")
        + ("; aborted" if j["abort"] else "")
    )


def _p_job_state(w, base):
    return Py(
        CLIENT
        + """
import cv2, numpy as np
png = cv2.imencode(".png", np.zeros((16, 16, 3), np.uint8))[1].tobytes()
with client(limits=Limits(workers=1)) as c:
    out["post"] = [c.post("/api/enhance", files={"file": ("a.png", png, "image/png")}, data={"method": "identity"}).json()["status"]
                   for _ in range(3)]
row = next(x for x in (Path(sys.argv[2]) / "docs" / "serve.md").read_text().splitlines() if x.startswith("| `POST /api/enhance`"))
out["docs"] = sorted(set(re.findall(r"(queued|running)", row)))
print(json.dumps(out))
""",
        w / "runs",
        "{code}",
    )


def _c_job_state(w, procs):
    j = _json(procs)
    return f"POST said {', '.join(j.get('post', []))}; the docs say {' or '.join(j.get('docs', [])) or '-'}"
