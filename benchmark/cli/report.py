"""``bench report`` (leaderboards, optionally a site) and ``bench publish`` (add runs to a site)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape

from ..errors import BenchError
from . import _fail, app, console, err


@app.command()
def report(
    run_dirs: List[Path] = typer.Argument(None, help="Run directories (default: the newest under ./runs)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Where leaderboard.md/.csv go (default: next to the scores of the first run)."),
    html: Optional[Path] = typer.Option(None, "--html", help="Also write a static HTML site (leaderboards, plots, comparisons, paper tables) to this folder, showing exactly these runs."),
    max_items: int = typer.Option(8, "--max-items", min=0, help="Comparison pages per data set in the HTML site (worst and best items first)."),
    baseline: str = typer.Option("identity", "--baseline", help="The method every other one is compared with in the BD-rate tables of codec sweeps (4+ levels)."),
    bd_interpolation: str = typer.Option("pchip", "--bd-interpolation", help="BD-rate interpolation: pchip (JVET, default), cubic (the original VCEG-M33 fit) or akima."),
) -> None:
    """Print a leaderboard per data set and write it as Markdown and CSV next to the scores (and, with --html, a site).

    Codec sweeps (live1-qf{10,20,30,40,50} ...) also get the Bjøntegaard-delta rate of each method against --baseline (bdrate.csv)."""
    from ..reports import bdrate, leaderboard
    from ..reports.sitedata import usable_runs

    dirs = list(run_dirs or [])
    if not dirs:
        runs = sorted((p for p in Path("runs").glob("*") if (p / "manifest.json").exists()), key=lambda p: p.stat().st_mtime) if Path("runs").is_dir() else []
        if not runs:
            _fail(BenchError("no run directory given and none found under ./runs; run `bench run` first or name RUN_DIR"))
        dirs = [runs[-1]]
    try:  # a folder that is not a run (runs/* names every folder) is skipped with a warning; with --html, also a damaged run
        dirs = usable_runs(dirs, site=html is not None)
        df = leaderboard.load_runs(dirs)
    except BenchError as exc:
        _fail(exc)
        return
    except (OSError, ValueError) as exc:  # a damaged scores file
        _fail(BenchError(f"cannot read the scores of {', '.join(map(str, dirs))} ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"))
        return
    notes = leaderboard.run_notes(dirs)
    try:
        bd = bdrate.analyse(df, baseline, bd_interpolation)
    except BenchError as exc:
        _fail(exc)
        return
    summary = leaderboard.summarize(df)
    leaderboard.print_tables(summary, console)
    leaderboard.print_bd(bd, console)
    for n in notes:
        err.print(f"[bold yellow]{escape(n)}[/]", soft_wrap=True)
    md, csv = leaderboard.write(summary, out or dirs[0], df, notes=notes, bd=bd)
    console.print(f"wrote {escape(str(md))} and {escape(str(csv))}" + (" (and bdrate.csv)" if len(bd.table) else ""))
    if html is not None:
        _site(html, dirs, fresh=True, max_items=max_items, bd_options={"baseline": baseline, "interpolation": bd_interpolation})


def _site(site: Path, dirs: list[Path], fresh: bool, max_items: int, bd_options: dict | None = None) -> None:
    from ..reports import site as site_mod

    try:
        index = site_mod.build(site, dirs, fresh=fresh, max_items=max_items, **(bd_options or {}))
    except BenchError as exc:
        _fail(exc)
        return
    console.print(f"site: {escape(str(index))} (open it in a browser; works from file://)")


@app.command()
def publish(
    site: Path = typer.Argument(..., help="An existing site folder (or a new one)."),
    run_dirs: List[Path] = typer.Argument(..., help="Run directories to add to it."),
    max_items: int = typer.Option(8, "--max-items", min=0, help="Comparison pages per data set."),
) -> None:
    """Add runs to a site made by `bench report --html` and rebuild it (a value computed again in a newer run replaces the older one)."""
    _site(site, list(run_dirs), fresh=False, max_items=max_items)
