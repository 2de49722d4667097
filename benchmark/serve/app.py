"""The FastAPI application of ``bench serve`` (pages, HTTP API, live WebSocket, studies).

State: uploads and jobs under ``RUNS_DIR/.serve/jobs/``, the leaderboard site (rebuilt
when the runs change) under ``RUNS_DIR/.serve/site/``, studies in ``RUNS_DIR/studies.sqlite``.
Nothing from the client is used as a path: job ids, study names and media names are
checked against generated patterns, methods against the listed names.

Every error is JSON (``{"error": "..."}``), never a traceback. With a token, every
request needs it: ``Authorization: Bearer T``, the ``bench_token`` cookie (set when a
page is opened once with ``?token=T``) or ``?token=T``."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import json
import logging
import re
import tempfile
import threading
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI, File, Form, Request, UploadFile, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from ..errors import BenchError
from . import study as study_mod
from .jobs import JobStore, Limits, UploadError

log = logging.getLogger("bench.serve")
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
MEDIA_NAME = re.compile(r"[0-9a-f]{16}\.png")
LIVE_DEFAULT = "fast-srgan"
LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]"]
UPLOAD_OVERHEAD = 64 * 1024  # multipart framing and the form fields, beyond the file itself


@dataclass
class ServeConfig:
    runs_dir: Path = Path("runs")
    token: str | None = None
    limits: Limits = field(default_factory=Limits)
    specs: list[str] = field(default_factory=list)
    live_method: str = LIVE_DEFAULT
    #: Host header values accepted (None: any); `serve` on loopback without a token sets the loopback names
    allowed_hosts: list[str] | None = None


# ----------------------------------------------------------------------------- methods
def available_methods(specs: list[str]) -> list[dict[str, Any]]:
    """Every method the app offers: registry methods that load, zoo models whose files are
    on disk, and weights files named in spec files ([methods.NAME])."""
    from .. import registry, zoo
    from ..names import Specs

    out = []
    for e in registry.methods.entries():
        try:
            cls = e.load()
        except BenchError:
            continue
        out.append({"name": e.name, "kind": "method", "scale": getattr(cls, "scale", 1), "description": getattr(cls, "description", ""),
                    "window": list(getattr(cls, "window", (0, 0))), "origin": e.origin})
    for m in zoo.MODELS:
        if zoo.local_path(m).is_file():
            out.append({"name": m.name, "kind": "zoo", "scale": m.scale, "description": f"{m.architecture} ({m.task}, {m.license})",
                        "window": [0, 0], "origin": "zoo"})
    for name, entry in Specs.load(specs).methods.items():
        if not any(o["name"] == name for o in out):
            out.append({"name": name, "kind": "weights file", "scale": entry.get("scale"), "description": Path(entry["path"]).name,
                        "window": [0, 0], "origin": entry.get("origin", "spec file")})
    return out


# ----------------------------------------------------------------------------- token gate
async def _refuse(scope, send, status: int, message: str, ws_code: int = 1008) -> None:
    """Answer with JSON ``{"error": message}`` (a WebSocket: close with ``ws_code``)."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": ws_code, "reason": message[:120]})
        return
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class Gate:
    """ASGI middleware in front of the app, for every HTTP request and WebSocket:

    * ``hosts``: the Host header must be one of them (a loopback server without a token
      accepts only loopback names, so a page elsewhere cannot reach it by DNS rebinding);
    * a request that names an ``Origin`` must come from this server's own pages;
    * ``token``: it must be given (bearer header, ``?token=`` once, then the cookie);
    * an upload whose declared length is over ``upload_limit`` is refused before it is read."""

    def __init__(self, app, token: str | None, hosts: list[str] | None, upload_limit: int):
        self.app, self.token, self.hosts, self.limit = app, token, hosts, upload_limit

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if self.hosts is not None and host.rsplit(":", 1)[0] not in self.hosts:
            return await _refuse(scope, send, 403, f"host {host!r} is not this server's (open it as http://localhost:PORT/)")
        origin = headers.get("origin")
        if origin and urlsplit(origin).netloc != host:
            return await _refuse(scope, send, 403, f"cross-origin request from {origin} refused")
        if self.token:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
            auth = headers.get("authorization", "")
            bearer = auth[7:] if auth.lower().startswith("bearer ") else ""
            cookie = SimpleCookie(headers.get("cookie", "")).get("bench_token")
            if not any(x and hmac.compare_digest(x.encode(), self.token.encode()) for x in (bearer, query, cookie.value if cookie else "")):
                return await _refuse(scope, send, 401, "this server needs its token: open the page once with ?token=T, or send Authorization: Bearer T")
            if query and scope["type"] == "http":
                inner = send

                async def send(msg):  # noqa: F811  (the same send, plus the cookie for the pages)
                    if msg["type"] == "http.response.start":
                        msg = {**msg, "headers": list(msg.get("headers", [])) +
                               [(b"set-cookie", f"bench_token={self.token}; HttpOnly; SameSite=Strict; Path=/".encode())]}
                    await inner(msg)
        length = headers.get("content-length", "")
        if scope["type"] == "http" and length.isdigit() and int(length) > self.limit + UPLOAD_OVERHEAD:
            return await _refuse(scope, send, 413, f"upload of {int(length):,} bytes is over the limit of {self.limit:,} bytes (bench serve --max-upload-mb)")
        return await self.app(scope, receive, send)


# ----------------------------------------------------------------------------- app
def create_app(cfg: ServeConfig):
    runs_dir = Path(cfg.runs_dir).resolve()
    store_root = runs_dir / ".serve"
    site_dir = store_root / "site"
    site_dir.mkdir(parents=True, exist_ok=True)
    for stale in store_root.glob(".upload-*"):  # uploads cut off by a previous server's stop
        stale.unlink(missing_ok=True)
    templates = Jinja2Templates(directory=str(TEMPLATES))
    state: dict[str, Any] = {"methods": None, "site_sig": None, "live": 0}
    lock = threading.Lock()

    def methods() -> list[dict[str, Any]]:
        if state["methods"] is None:
            state["methods"] = available_methods(cfg.specs)
        return state["methods"]

    def method_info(name: str) -> dict[str, Any]:
        for m in methods():
            if m["name"] == name:
                return m
        raise HTTPException(400, f"unknown method {name!r}: choose one of GET /api/methods ({', '.join(m['name'] for m in methods())})")

    def make_method(name: str):
        from ..names import Specs
        from ..runner import make_method as mk

        return mk(name, Specs.load(cfg.specs))

    jobs = JobStore(store_root, cfg.limits, make_method)
    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        jobs.close()

    # max_body_size: FastAPI's own cap on any body, also one sent without a length (chunked)
    app = FastAPI(title="bench serve", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan,
                  max_body_size=cfg.limits.max_upload_bytes + UPLOAD_OVERHEAD)
    app.state.jobs = jobs
    app.state.cfg = cfg

    # ---- errors: JSON with a message, never a traceback
    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException):
        msg = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and msg == "Not Found":
            msg = f"no such page or endpoint: {request.url.path}"
        elif exc.status_code == 413 and msg == "Content Too Large":
            msg = f"upload is over the limit of {cfg.limits.max_upload_bytes:,} bytes (bench serve --max-upload-mb)"
        return JSONResponse({"error": msg}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError):
        parts = [f"{'.'.join(str(x) for x in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}" for e in exc.errors()]
        return JSONResponse({"error": "bad request: " + "; ".join(parts)}, status_code=422)

    @app.exception_handler(BenchError)
    async def _bench_error(request: Request, exc: BenchError):
        return JSONResponse({"error": str(exc)}, status_code=getattr(exc, "status", 400))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):
        log.exception("error in %s", request.url.path)
        return JSONResponse({"error": f"internal error ({type(exc).__name__}); the server log has the details"}, status_code=500)

    def page(request: Request, name: str, **ctx):
        return templates.TemplateResponse(request, name, {"active": name.split(".")[0], **ctx})

    # ---- pages
    @app.get("/", include_in_schema=False)
    async def home():
        return RedirectResponse("/enhance")

    @app.get("/enhance", response_class=HTMLResponse)
    async def enhance_page(request: Request):
        return page(request, "enhance.html", methods=methods(), limits=cfg.limits)

    @app.get("/live", response_class=HTMLResponse)
    async def live_page(request: Request):
        return page(request, "live.html", methods=methods(), default=cfg.live_method)

    @app.get("/study", response_class=HTMLResponse)
    async def study_list(request: Request):
        con = study_mod.connect(runs_dir)
        try:
            studies = study_mod.list_studies(con)
        finally:
            con.close()
        return page(request, "studies.html", studies=studies)

    @app.get("/study/{name}", response_class=HTMLResponse)
    async def study_page(request: Request, name: str):
        s = _study(name)
        return page(request, "study.html", study=s, labels=study_mod.DSIS_LABELS)

    # ---- leaderboards: the static site of the runs in RUNS_DIR, rebuilt when they change
    def run_dirs() -> list[Path]:
        if not runs_dir.is_dir():
            return []
        return sorted(d for d in runs_dir.iterdir() if d.is_dir() and not d.name.startswith(".")
                      and ((d / "scores.parquet").exists() or (d / "scores.csv").exists()))

    def ensure_site() -> bool:
        dirs = run_dirs()
        if not dirs:
            return False
        sig = [(str(d), (d / "scores.parquet").stat().st_mtime_ns if (d / "scores.parquet").exists() else (d / "scores.csv").stat().st_mtime_ns)
               for d in dirs]
        with lock:
            if sig != state["site_sig"] or not (site_dir / "index.html").exists():
                from ..reports import site as site_mod

                site_mod.build(site_dir, dirs, fresh=True)
                state["site_sig"] = sig
        return True

    @app.get("/leaderboards", include_in_schema=False)
    async def leaderboards_redirect():
        return RedirectResponse("/leaderboards/")

    @app.get("/leaderboards/", response_class=HTMLResponse)
    async def leaderboards(request: Request):
        if not await asyncio.to_thread(ensure_site):
            return page(request, "no_runs.html", runs_dir=str(runs_dir))
        return FileResponse(site_dir / "index.html")

    # ---- API
    @app.get("/api/methods")
    async def api_methods():
        return {"methods": methods(), "live_default": cfg.live_method}

    @app.post("/api/enhance")
    async def api_enhance(file: UploadFile = File(...), method: str = Form(...), scale: int | None = Form(None)):
        info = method_info(method)
        if scale is not None and not 1 <= scale <= 8:
            raise HTTPException(400, f"scale {scale}: use 1 to 8")
        if scale is not None and info["scale"] is not None and scale != info["scale"]:
            raise HTTPException(400, f"{method} upscales x{info['scale']} by itself; leave scale out (scale is for bicubic, lanczos, identity ...)")
        limit = cfg.limits.max_upload_bytes
        store_root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=store_root, prefix=".upload-", delete=False) as tmp:
            size = 0
            while chunk := await file.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    tmp.close()
                    Path(tmp.name).unlink(missing_ok=True)
                    raise HTTPException(413, f"upload is over the limit of {limit:,} bytes (bench serve --max-upload-mb)")
                tmp.write(chunk)
        try:
            job = await asyncio.to_thread(jobs.submit, Path(tmp.name), file.filename, method, scale if info["scale"] is None else None)
        except UploadError as exc:
            raise HTTPException(exc.status, str(exc)) from None
        finally:
            Path(tmp.name).unlink(missing_ok=True)
        return JSONResponse({"job": job.id, "status": job.status, "kind": job.kind}, status_code=202)

    def _job(job_id: str):
        try:
            return jobs.get(job_id)
        except KeyError:
            raise HTTPException(404, f"no job {job_id!r} (finished jobs are removed after {cfg.limits.keep_minutes:g} minutes)") from None

    @app.get("/api/jobs")
    async def api_jobs():
        return {"jobs": [j.public() for j in jobs.list()]}

    @app.get("/api/jobs/{job_id}")
    async def api_job(job_id: str):
        return _job(job_id).public()

    @app.get("/api/jobs/{job_id}/result")
    async def api_result(job_id: str):
        job = _job(job_id)
        if job.status != "done":
            raise HTTPException(409, f"job {job_id} is {job.status}" + (f": {job.error}" if job.error else "; poll GET /api/jobs/{id} until done"))
        ext = "png" if job.kind == "image" else "mp4"
        stem = re.sub(r"\.[^.]*$", "", job.filename)
        return FileResponse(jobs.dir(job_id) / f"output.{ext}", media_type=f"{'image' if ext == 'png' else 'video'}/{ext}",
                            filename=f"{stem}.{job.method}.{ext}")

    @app.get("/api/jobs/{job_id}/input")
    async def api_input(job_id: str):
        job = _job(job_id)
        d = jobs.dir(job_id)
        if job.kind == "image":
            return FileResponse(d / "input.png", media_type="image/png")
        if not (d / "before.mp4").exists():
            raise HTTPException(409, "the player's copy of the input is made when the job is done")
        return FileResponse(d / "before.mp4", media_type="video/mp4")

    @app.websocket("/api/live")
    async def api_live(ws: WebSocket, method: str | None = None):
        from . import live

        await ws.accept()
        name = method or cfg.live_method
        info = next((m for m in methods() if m["name"] == name), None)
        if info is None:
            await ws.send_json({"type": "error", "error": f"unknown method {name!r}: choose one of GET /api/methods"})
            await ws.close(1008)
            return
        with lock:
            busy = state["live"] >= cfg.limits.live_sessions
            if not busy:
                state["live"] += 1
        if busy:
            await ws.send_json({"type": "error", "error": f"{cfg.limits.live_sessions} live sessions are running (the limit, bench serve --live-sessions); try later"})
            await ws.close(1013)
            return
        from ..runner import resolve_device

        device = resolve_device("auto")
        try:
            try:
                m = await asyncio.to_thread(make_method, name)
                await asyncio.to_thread(m.setup, device)
            except BenchError as exc:
                await ws.send_json({"type": "error", "error": str(exc)})
                await ws.close(1011)
                return
            scale = m.scale or 1
            await ws.send_json({"type": "ready", "method": name, "scale": scale})
            summary = await live.run(ws, m, scale, device)
            log.info("live session %s: %s", name, summary)
        finally:
            with lock:
                state["live"] -= 1

    # ---- studies
    def _study(name: str) -> dict[str, Any]:
        con = study_mod.connect(runs_dir)
        try:
            return study_mod.get_study(con, study_mod.check_name(name))
        except BenchError as exc:
            raise HTTPException(404, str(exc)) from None
        finally:
            con.close()

    def _db(fn, *a):
        con = study_mod.connect(runs_dir)
        try:
            return fn(con, *a)
        finally:
            con.close()

    @app.get("/api/studies")
    async def api_studies():
        return {"studies": _db(study_mod.list_studies)}

    @app.post("/api/study/{name}/raters")
    async def api_rater(name: str, request: Request):
        _study(name)
        body = await _json(request)
        return {"rater": _db(study_mod.add_rater, name, str(body.get("name") or ""))}

    @app.get("/api/study/{name}/next")
    async def api_next(name: str, rater: str):
        _study(name)
        return _db(study_mod.next_trial, name, rater)

    @app.post("/api/study/{name}/answer")
    async def api_answer(name: str, request: Request):
        _study(name)
        body = await _json(request)
        try:
            rater, trial, value = str(body["rater"]), int(body["trial"]), float(body["value"])
        except (KeyError, TypeError, ValueError):
            raise HTTPException(422, 'send JSON {"rater": ID, "trial": N, "value": grade or 0/1}') from None
        _db(study_mod.answer, name, rater, trial, value)
        return _db(study_mod.next_trial, name, rater)

    @app.get("/api/study/{name}/results")
    async def api_results(name: str, screen: bool = True):
        _study(name)
        res = _db(lambda con: study_mod.results(con, name, screen=screen, boot=200))
        return {"raters": res.raters, "methods": res.methods, "items": res.items, "notes": res.notes}

    @app.get("/api/study/{name}/media/{file}")
    async def api_media(name: str, file: str):
        _study(name)
        if not MEDIA_NAME.fullmatch(file):
            raise HTTPException(404, f"no such study picture: {file!r}")
        p = runs_dir / study_mod.MEDIA_DIR / name / file
        if not p.is_file():
            raise HTTPException(404, f"no such study picture: {file!r}")
        return FileResponse(p, media_type="image/png")

    async def _json(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise HTTPException(422, "the request body must be JSON") from None
        if not isinstance(body, dict):
            raise HTTPException(422, "the request body must be a JSON object")
        return body

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.mount("/leaderboards", StaticFiles(directory=str(site_dir), html=True), name="site")
    wrapped = Gate(app, cfg.token, cfg.allowed_hosts, cfg.limits.max_upload_bytes)
    wrapped.fastapi = app  # for tests (TestClient takes any ASGI app)
    return wrapped


def is_loopback(host: str) -> bool:
    import ipaddress

    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(cfg: ServeConfig, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    import uvicorn

    if not is_loopback(host) and not cfg.token:
        raise BenchError(f"--host {host} is reachable from other machines: pass --token T (every request then needs it), "
                         "or bind 127.0.0.1")
    if not cfg.token and cfg.allowed_hosts is None:
        cfg = dataclasses.replace(cfg, allowed_hosts=LOOPBACK_NAMES + ([host] if host not in LOOPBACK_NAMES else []))
    uvicorn.run(create_app(cfg), host=host, port=port, log_level=log_level, ws_max_size=8 * 1024 * 1024)
