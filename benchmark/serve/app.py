"""The FastAPI application of ``bench serve`` (pages, HTTP API, live WebSocket, studies).

State: uploads and jobs under ``RUNS_DIR/.serve/jobs/``, the leaderboard site (rebuilt
when the runs change) under ``RUNS_DIR/.serve/site/``, studies in ``RUNS_DIR/studies.sqlite``.
Nothing from the client is used as a path: job ids, study names and media names are
checked against generated patterns, methods against the listed names.

Every error is JSON (``{"error": "..."}``), never a traceback. With a token, every
request needs it: ``Authorization: Bearer T``, the ``bench_token`` cookie (set when a
page is opened once with ``?token=T``) or ``?token=T``.

Here the app is put together, and what made the first request slow is done before it listens
(:func:`warm`); the routes are in ``routes_*`` (one router each), the state they share in
:mod:`.state`, the token gate in :mod:`.gate`, the browser sessions that own jobs in
:mod:`.sessions`, the error handlers in :mod:`.handlers`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from ..errors import BenchError
from . import routes_enhance, routes_live, routes_pages, routes_study
from .gate import UPLOAD_OVERHEAD, Gate, check_token, log_config
from .handlers import add_error_handlers
from .leaderboards import SiteFiles, nav_html
from .sessions import Sessions
from .state import LIVE_DEFAULT, TEMPLATES, AppState, ServeConfig, available_methods  # noqa: F401  (imported from here too)
from .threads import CutAtStop, DaemonPool, end_if_busy

STATIC = Path(__file__).parent / "static"
LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]"]
#: seconds a stop (Ctrl-C) waits for requests in flight before it cancels them (uvicorn's timeout_graceful_shutdown)
STOP_GRACE_S = 1.0
#: the routers, in the order their routes are matched (the mounts come after them)
ROUTERS = (routes_pages.router, routes_enhance.router, routes_live.router, routes_study.router)


log = logging.getLogger("uvicorn.error")  # beside uvicorn's own lines


def warm(st: AppState) -> float:
    """Do what made the first request slow before the server listens: list the methods (loading every method's
    class imports torch and the networks' code; the first GET /enhance took 1.1-5.2 s after ready without this,
    0.02-0.05 s with it: perf/serve_first_request.py). The leaderboard site and the jobs' imports follow in
    the background. Seconds taken."""
    t0 = time.perf_counter()
    n = len(st.methods())
    took = time.perf_counter() - t0
    log.info("bench serve: %d methods listed in %.1f s", n, took)
    threading.Thread(target=_warm_more, args=(st,), name="bench-warm", daemon=True).start()
    return took


def _warm_more(st: AppState) -> None:
    """In the background, once the server listens: the leaderboard site (built when runs changed) and the jobs' imports."""
    try:
        st.ensure_site()
        from benchmark import enhance  # noqa: F401  (the first job's imports: PyAV, the writers)
    except Exception:  # a broken run folder is reported when the page is opened
        logging.getLogger("bench.serve").debug("warm-up", exc_info=True)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI):
    # the routes' threads (asyncio.to_thread: a site build, an upload's check) are never waited for at a stop (:mod:`.threads`)
    asyncio.get_running_loop().set_default_executor(DaemonPool(thread_name_prefix="bench-serve"))
    await asyncio.to_thread(warm, app.state.serve)
    yield
    app.state.serve.jobs.close()  # queued and running jobs marked as stopped; none waited for


def create_app(cfg: ServeConfig):
    """The ASGI app of ``bench serve``: the FastAPI app with every router and mount, behind the :class:`Gate`
    and :class:`.threads.CutAtStop` (``.fastapi`` is the FastAPI app itself)."""
    st = AppState(cfg)
    # max_body_size: FastAPI's own cap on any body, also one sent without a length (chunked)
    app = FastAPI(
        title="bench serve",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=_lifespan,
        max_body_size=cfg.limits.max_upload_bytes + UPLOAD_OVERHEAD,
    )
    app.state.serve = st
    app.state.jobs = st.jobs
    app.state.cfg = cfg
    add_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.mount("/leaderboards", SiteFiles(st.site_dir, nav_html(st.templates)), name="site")
    wrapped = CutAtStop(Gate(Sessions(app), cfg.token, cfg.allowed_hosts, cfg.limits.max_upload_bytes))
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

    check_token(cfg.token)
    if not is_loopback(host) and not cfg.token:
        raise BenchError(
            f"--host {host} is reachable from other machines: pass --token T (every request then needs it), "
            "or bind 127.0.0.1"
        )
    if not cfg.token and cfg.allowed_hosts is None:
        cfg = dataclasses.replace(cfg, allowed_hosts=LOOPBACK_NAMES + ([host] if host not in LOOPBACK_NAMES else []))
    try:
        uvicorn.run(
            create_app(cfg),
            host=host,
            port=port,
            log_level=log_level,
            ws_max_size=8 * 1024 * 1024,
            log_config=log_config(),
            timeout_graceful_shutdown=STOP_GRACE_S,
        )
    finally:
        end_if_busy()  # a job cut off by the stop (marked so) is not waited for, and cannot abort the exit
