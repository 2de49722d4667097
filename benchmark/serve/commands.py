"""``bench serve`` and ``bench study create|results`` (registered on the main Typer app)."""

from __future__ import annotations

import math
import secrets
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import BenchError


def register(app: typer.Typer, console, err, fail) -> None:
    """Add ``bench serve`` and the ``bench study`` group (create, results) to the main Typer app."""
    _register_serve(app, console, fail)
    study_app = typer.Typer(
        help="Subjective studies (DSIS, pairwise): create one from a run, compute its MOS.",
        add_completion=False,
        no_args_is_help=True,
    )
    app.add_typer(study_app, name="study")
    _register_study_create(study_app, console, fail)
    _register_study_results(study_app, console, fail)


# the options of `serve`
_SERVE_RUNS_DIR = typer.Argument(
    Path("runs"), help="Folder of run directories: shown as leaderboards; studies and uploads live beside them."
)
_SERVE_HOST = typer.Option("127.0.0.1", "--host", help="Address to bind. Anything but loopback needs --token.")
_SERVE_PORT = typer.Option(8000, "--port", min=0, max=65535)
_SERVE_TOKEN = typer.Option(
    None,
    "--token",
    help="Secret every request must carry (?token=T once in the browser, or Authorization: Bearer T). 'random' makes one.",
)
_SERVE_MAX_UPLOAD_MB = typer.Option(200.0, "--max-upload-mb", min=0.001, help="Largest upload accepted.")
_SERVE_WORKERS = typer.Option(2, "--workers", min=1, help="Enhancement jobs running at once (the others queue).")
_SERVE_MAX_JOBS = typer.Option(
    16, "--max-jobs", min=1, help="Jobs accepted (queued + running) before uploads are refused."
)
_SERVE_LIVE_SESSIONS = typer.Option(2, "--live-sessions", min=1, help="Live webcam sessions at once.")
_SERVE_KEEP_MINUTES = typer.Option(
    60.0, "--keep-minutes", min=0.01, help="Remove a job and its upload this long after it finished."
)
_SERVE_LIVE_METHOD = typer.Option("fast-srgan", "--live-method", help="Default method of the Live page.")
_SERVE_SPEC = typer.Option(
    [], "--spec", help="TOML spec file naming weights files as methods; repeatable (also $BENCH_SPECS)."
)
_SERVE_SHARE_JOBS = typer.Option(
    False, "--share-jobs", help="Every browser sees every job (default: a job is its uploading browser's only)."
)
_SERVE_MAX_RATERS = typer.Option(
    100, "--max-raters", min=1, help="Raters who may start per study; the next start is refused (429)."
)


def _register_serve(app: typer.Typer, console, fail) -> None:
    """``bench serve``."""

    @app.command()
    def serve(
        runs_dir: Path = _SERVE_RUNS_DIR,
        host: str = _SERVE_HOST,
        port: int = _SERVE_PORT,
        token: Optional[str] = _SERVE_TOKEN,
        max_upload_mb: float = _SERVE_MAX_UPLOAD_MB,
        workers: int = _SERVE_WORKERS,
        max_jobs: int = _SERVE_MAX_JOBS,
        live_sessions: int = _SERVE_LIVE_SESSIONS,
        keep_minutes: float = _SERVE_KEEP_MINUTES,
        live_method: str = _SERVE_LIVE_METHOD,
        spec: List[Path] = _SERVE_SPEC,
        share_jobs: bool = _SERVE_SHARE_JOBS,
        max_raters: int = _SERVE_MAX_RATERS,
    ) -> None:
        """A local web app: enhance uploads, a live webcam, the leaderboards of RUNS_DIR, subjective studies."""
        try:
            from .app import ServeConfig, check_token, is_loopback
            from .app import serve as run_server
        except ImportError as exc:
            fail(
                BenchError(
                    f"bench serve needs FastAPI and uvicorn ({exc.name} is missing): pip install 'bench-enhance[serve]'"
                )
            )
            return
        from .jobs import Limits

        if token == "random":
            token = secrets.token_urlsafe(18)
        try:
            check_token(token)
        except BenchError as exc:
            fail(exc)
            return
        limits = Limits(
            max_upload_mb=max_upload_mb,
            workers=workers,
            max_pending=max_jobs,
            live_sessions=live_sessions,
            keep_minutes=keep_minutes,
        )
        cfg = ServeConfig(
            runs_dir=runs_dir,
            token=token,
            limits=limits,
            specs=[str(s) for s in spec],
            live_method=live_method,
            share_jobs=share_jobs,
            max_raters=max_raters,
        )
        if not is_loopback(host) and not token:
            fail(
                BenchError(
                    f"--host {host} is reachable from other machines: pass --token T (or --token random); every request then needs it. "
                    "Or bind 127.0.0.1."
                )
            )
        shown = "localhost" if is_loopback(host) else host
        url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
        console.print(f"bench serve: {escape(url)}  (runs: {escape(str(runs_dir))}; Ctrl-C stops)", soft_wrap=True)
        try:
            run_server(cfg, host=host, port=port)
        except BenchError as exc:
            fail(exc)


def _register_study_create(study_app: typer.Typer, console, fail) -> None:
    """``bench study create``."""

    @study_app.command("create")
    def create(
        run: Path = typer.Argument(..., help="A run directory of `bench run` (its outputs and references are shown)."),
        protocol: str = typer.Option(
            "dsis", "--protocol", help="dsis (reference, then impaired, graded) or pairwise (two methods, pick one)."
        ),
        methods: List[str] = typer.Option(
            [], "--methods", "-m", help="Comma-separated methods of the run (default: all)."
        ),
        items: Optional[int] = typer.Option(
            None, "--items", min=1, help="Random N image items of the data set (default: all)."
        ),
        name: Optional[str] = typer.Option(None, "--name", help="Study name (default: RUN-PROTOCOL)."),
        scale: int = typer.Option(
            5, "--scale", help="DSIS grades: 5 (ITU-R BT.500 five-level impairment scale) or 100 (continuous 0-100)."
        ),
        dataset: Optional[str] = typer.Option(
            None, "--dataset", "-d", help="Which data set of the run (default: the first with image outputs)."
        ),
        repeats: Optional[int] = typer.Option(
            None, "--repeats", min=0, help="Trials each rater sees twice (default: 10% of them, at least 1)."
        ),
        seed: int = typer.Option(0, "--seed", help="Seed for choosing items."),
        hold: float = typer.Option(
            3.0,
            "--hold",
            help="DSIS: seconds each picture (reference, then impaired) is shown; the rater's page says so.",
        ),
    ) -> None:
        """Build a study from a run; raters then open /study/NAME in `bench serve RUNS_DIR` (RUNS_DIR: the run's parent)."""
        from benchmark.run.config import split_list

        from . import study

        try:
            info = study.create(
                run,
                protocol=protocol,
                methods=split_list(methods) or None,
                items=items,
                name=name,
                scale=scale,
                dataset=dataset,
                repeats=repeats,
                seed=seed,
                hold=hold,
            )
        except BenchError as exc:
            fail(exc)
            return
        console.print(
            f"study {escape(info['name'])}: {info['protocol']} on {_shown(info['dataset'])}, methods {_shown(', '.join(info['methods']))}, "
            f"{len(info['items'])} items, {info['trials_per_rater']} trials per rater; db {escape(info['db'])}\n"
            f"raters: `bench serve {escape(str(Path(run).parent))}` and open /study/{escape(info['name'])}",
            soft_wrap=True,
        )


def _register_study_results(study_app: typer.Typer, console, fail) -> None:
    """``bench study results``."""

    @study_app.command("results")
    def results(
        name: str = typer.Argument(..., help="Study name (`bench serve` lists them at /study)."),
        runs_dir: Path = typer.Option(
            Path("runs"), "--runs", help="The folder holding studies.sqlite (the study's run's parent)."
        ),
        screen: bool = typer.Option(
            True,
            "--screen/--no-screen",
            help="Drop raters failing BT.500 screening, the hidden-reference or the repeat check.",
        ),
        write: bool = typer.Option(
            True, "--write/--no-write", help="Write the values as rows to RUNS/study-NAME/ (for bench report)."
        ),
    ) -> None:
        """MOS/DMOS per method and item with 95% intervals (DSIS) or Bradley-Terry scores (pairwise), after rater screening."""
        from . import study

        if not (runs_dir / study.DB_NAME).exists():
            fail(
                BenchError(
                    f"{runs_dir / study.DB_NAME}: no studies database; pass --runs (the folder beside the study's run)"
                )
            )
        try:
            with study.opened(runs_dir) as con:  # a damaged database: one line naming it
                res = study.results(con, study.check_name(name), screen=screen)
        except BenchError as exc:
            fail(exc)
            return
        _print_raters(console, res, name)
        _print_scores(console, res, name)
        for n in res.notes:
            console.print(f"- {_shown(n)}", soft_wrap=True)
        if write:
            out = study.write_rows(res, runs_dir)
            console.print(
                f"rows: {escape(str(out))}/scores.parquet (`bench report {escape(str(res.study['run_dir']))} {escape(str(out))}`)",
                soft_wrap=True,
            )


def _shown(text) -> str:
    """Text from the database (typed names, and method, item and data-set names from a run) for
    the terminal: control characters escaped (:func:`.raters.printable`), Rich markup too."""
    from ..errors import printable

    return escape(printable(text))


def _print_raters(console, res, name: str) -> None:
    """The raters' table (answers, checks, kept or dropped) and who was dropped."""
    t = Table(
        title=f"raters of {escape(name)} (the typed names are for you only: the rows and the API show rater-N)",
        title_justify="left",
    )
    for c in ("rater", "name", "answers", "hidden ref", "repeats", "kept", "why"):
        t.add_column(c)
    for rid, d in res.raters.items():
        t.add_row(
            _shown(rid),
            _shown(d["name"]),
            str(d["answers"]),
            "-" if d.get("hidden") is None else f"{d['hidden']:.2f}",
            "-" if d.get("repeat") is None else f"{d['repeat']:.2f}",
            "yes" if d["kept"] else "[red]dropped[/]",
            _shown(d["reason"]),
        )
    console.print(t)
    dropped = [f"{rid} ({d['name']}): {d['reason']}" for rid, d in res.raters.items() if not d["kept"]]
    console.print("dropped: " + ("; ".join(_shown(x) for x in dropped) if dropped else "nobody"), soft_wrap=True)


def _print_scores(console, res, name: str) -> None:
    """The methods' table (MOS/DMOS or Bradley-Terry scores) and, for DSIS, the per-item table."""
    s = res.study
    t = Table(
        title=f"{escape(name)}: {s['protocol']} on {_shown(s['dataset'])}, {len(res.kept)} rater(s)",
        title_justify="left",
    )
    if s["protocol"] == "dsis":
        for c in ("method", "MOS", "95% CI", "DMOS", "95% CI", "grades", "raters"):
            t.add_column(c, justify="right" if c not in ("method",) else "left")
        for m in res.methods:
            t.add_row(
                _shown(m["method"]),
                f"{m['mos']:.2f}",
                _ci(m["mos_lo"], m["mos_hi"]),
                f"{m['dmos']:.2f}",
                _ci(m["dmos_lo"], m["dmos_hi"]),
                str(m["n"]),
                str(m["raters"]),
            )
    else:
        for c in ("method", "BT score", "95% CI", "wins", "comparisons"):
            t.add_column(c, justify="right" if c != "method" else "left")
        for m in res.methods:
            t.add_row(_shown(m["method"]), f"{m['bt']:+.2f}", _ci(m["bt_lo"], m["bt_hi"]), str(m["wins"]), str(m["n"]))
    console.print(t)
    if res.items and s["protocol"] == "dsis":
        t = Table(title="per item", title_justify="left")
        for c in ("item", "method", "MOS", "95% CI", "raters"):
            t.add_column(c)
        for it in res.items:
            t.add_row(
                _shown(it["item_id"]),
                _shown(it["method"]),
                f"{it['mos']:.2f}",
                _ci(it["mos_lo"], it["mos_hi"]),
                str(it["raters"]),
            )
        console.print(t)


def _ci(lo: float | None, hi: float | None) -> str:
    return "-" if lo is None or math.isnan(lo) else f"{lo:.2f}–{hi:.2f}"
