"""The settings of ``bench serve`` and the state its routes share (one :class:`AppState` per app).

The state lives on ``app.state.serve``; a route asks for it with a parameter ``st: State``."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from ..errors import BenchError
from . import study as study_mod
from .catalog import available_methods
from .jobs import JobStore, Limits

TEMPLATES = Path(__file__).parent / "templates"
LIVE_DEFAULT = "fast-srgan"


@dataclass
class ServeConfig:
    runs_dir: Path = Path("runs")
    token: str | None = None
    limits: Limits = field(default_factory=Limits)
    specs: list[str] = field(default_factory=list)
    live_method: str = LIVE_DEFAULT
    #: Host header values accepted (None: any); `serve` on loopback without a token sets the loopback names
    allowed_hosts: list[str] | None = None
    #: every browser session sees every job (else a job is its uploading session's only: :mod:`.sessions`)
    share_jobs: bool = False
    #: raters who may start per study (:mod:`.raters`)
    max_raters: int = 100


class AppState:
    """What the routes of one app share: its settings and folders, the job store, the methods on
    offer (listed once), the leaderboard site's signature, the live-session count and the pages' templates."""

    def __init__(self, cfg: ServeConfig):
        self.cfg = cfg
        self.runs_dir = Path(cfg.runs_dir).resolve()
        self.store_root = self.runs_dir / ".serve"
        self.site_dir = self.store_root / "site"
        self.site_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.store_root.glob(".upload-*"):  # uploads cut off by a previous server's stop
            stale.unlink(missing_ok=True)
        self.templates = Jinja2Templates(directory=str(TEMPLATES))
        self.lock = threading.Lock()
        self._methods: list[dict[str, Any]] | None = None
        self._methods_lock = threading.Lock()
        self._site_sig: list[tuple[str, int]] | None = None
        self._live = 0
        self.jobs = JobStore(self.store_root, cfg.limits, self.make_method)

    # ---- methods
    def methods(self) -> list[dict[str, Any]]:
        """The methods on offer (:mod:`.catalog`), listed once: the server lists them before it listens."""
        with self._methods_lock:
            if self._methods is None:
                self._methods = available_methods(self.cfg.specs, self.cfg.limits.max_pixels)
        return self._methods

    def method_info(self, name: str) -> dict[str, Any]:
        for m in self.methods():
            if m["name"] == name:
                return m
        raise HTTPException(
            400,
            f"unknown method {name!r}: choose one of GET /api/methods ({', '.join(m['name'] for m in self.methods())})",
        )

    def make_method(self, name: str):
        from benchmark.core.names import Specs
        from benchmark.run.resolve import make_method

        return make_method(name, Specs.load(self.cfg.specs))

    def public(self, text: str) -> str:
        """``text`` for a client: the server's folders by name only (``/srv/data/runs/r1`` -> ``runs/r1``)."""
        return text.replace(str(self.runs_dir), self.runs_dir.name)

    # ---- pages
    def page(self, request, name: str, **ctx):
        """The page template ``name`` with ``ctx`` (the menu marks the page as active)."""
        return self.templates.TemplateResponse(request, name, {"active": name.split(".")[0], **ctx})

    # ---- live sessions
    def live_enter(self) -> bool:
        """Count one more live session; False (nothing counted) when the limit is reached."""
        with self.lock:
            busy = self._live >= self.cfg.limits.live_sessions
            if not busy:
                self._live += 1
        return not busy

    def live_exit(self) -> None:
        with self.lock:
            self._live -= 1

    # ---- leaderboards: the static site of the runs in RUNS_DIR, rebuilt when they change
    def run_dirs(self) -> list[Path]:
        if not self.runs_dir.is_dir():
            return []
        return sorted(
            d
            for d in self.runs_dir.iterdir()
            if d.is_dir()
            and not d.name.startswith(".")
            and ((d / "scores.parquet").exists() or (d / "scores.csv").exists())
        )

    def ensure_site(self) -> bool:
        """Build the leaderboard site when the runs changed since the last build; False: no runs."""
        dirs = self.run_dirs()
        if not dirs:
            return False
        sig = [
            (
                str(d),
                (d / "scores.parquet").stat().st_mtime_ns
                if (d / "scores.parquet").exists()
                else (d / "scores.csv").stat().st_mtime_ns,
            )
            for d in dirs
        ]
        with self.lock:
            if sig != self._site_sig or not (self.site_dir / "index.html").exists():
                from ..reports import site as site_mod

                site_mod.build(self.site_dir, dirs, fresh=True)
                self._site_sig = sig
        return True

    # ---- studies
    def study(self, name: str) -> dict[str, Any]:
        """The study ``name``; a bad or unknown name is a 404, a damaged database a 503 naming it."""
        with study_mod.opened(self.runs_dir) as con:
            try:
                return study_mod.get_study(con, study_mod.check_name(name))
            except study_mod.DamagedStudies:
                raise
            except BenchError as exc:
                raise HTTPException(404, str(exc)) from None

    def db(self, fn, *a):
        """``fn(con, *a)`` on a fresh connection to the studies database (a damaged one: :class:`.study_db.DamagedStudies`)."""
        with study_mod.opened(self.runs_dir) as con:
            return fn(con, *a)


def get_state(conn: HTTPConnection) -> AppState:
    """The app's :class:`AppState` (a FastAPI dependency of the routes, HTTP and WebSocket alike)."""
    return conn.app.state.serve


#: a route's parameter for the app's state: ``st: State``
State = Annotated[AppState, Depends(get_state)]
