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
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Where leaderboard.md/.csv go (default: the run's folder for one run; a new folder report-<time> beside the runs for several, never an input run's)."),
    html: Optional[Path] = typer.Option(None, "--html", help="Also write a static HTML site (leaderboards, plots, comparisons, paper tables) to this folder, showing exactly these runs."),
    max_items: int = typer.Option(8, "--max-items", min=0, help="Comparison pages per data set in the HTML site (worst and best items first)."),
    baseline: Optional[str] = typer.Option(None, "--baseline", help="The method every other one is compared with: in the paired comparisons (default: identity where a data set has it, else bicubic) and in the BD-rate tables of codec sweeps (4+ levels; default identity)."),
    ci: bool = typer.Option(False, "--ci", help="Show each mean's 95% bootstrap interval and the paired comparisons in the terminal (always in leaderboard.md)."),
    bd_interpolation: str = typer.Option("pchip", "--bd-interpolation", help="BD-rate interpolation: pchip (JVET, default), cubic (the original VCEG-M33 fit) or akima."),
) -> None:
    """Print a leaderboard per data set and write it as Markdown and CSV next to the scores (and, with --html, a site).

    Every method is compared item by item with the baseline and with each column's leader (paired bootstrap
    interval, Wilcoxon signed-rank, Holm; significance.csv): a * marks only a significant lead.
    With a study's results among the runs (`bench report RUN runs/study-NAME`), each metric is held against
    the people's MOS: SRCC, KRCC, PLCC after a logistic fit, and whether it ranks the methods as they do (agreement.csv).
    Codec sweeps (live1-qf{10,20,30,40,50} ...) also get the Bjøntegaard-delta rate of each method against --baseline (bdrate.csv)."""
    from ..reports import agreement, bdrate, costs_view, leaderboard, significance, significance_view
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
    from ..reports.vmafneg import vmaf_neg_warnings

    notes = leaderboard.run_notes(dirs)
    vmaf_notes = vmaf_neg_warnings(df)  # VMAF raised by enhancement alone (sharpening): said by name
    try:
        bd = bdrate.analyse(df, baseline or "identity", bd_interpolation)
    except BenchError as exc:
        _fail(exc)
        return
    sig = significance.analyse(df, baseline)
    summary = leaderboard.summarize(df, sig=sig)
    leaderboard.print_tables(summary, console, ci=ci)
    costs_view.print_costs(df, console)
    if ci:
        significance_view.print_pairs(sig, console)
    leaderboard.print_bd(bd, console)
    agr = agreement.agreement(df)
    if len(agr.table):  # a study's run among the runs: each metric against the people
        agr.print(console)
    for n in notes:
        err.print(f"[bold yellow]{escape(n)}[/]", soft_wrap=True)
    for n in vmaf_notes:
        err.print(f"[bold yellow]warning: {escape(n)}[/]", soft_wrap=True)
    out = out or _report_dir(dirs)
    md, csv = leaderboard.write(summary, out, df, notes=notes, bd=bd,
                                sections=[costs_view.markdown(df), significance_view.markdown(sig), agr.markdown() if len(agr.table) else "",
                                          "".join(f"> **VMAF**: {leaderboard.md_escape(n)}\n\n" for n in vmaf_notes)])
    sig.write_csv(md.parent / "significance.csv")
    if len(agr.table):
        agr.write_csv(md.parent / "agreement.csv")
    more = [f for f, there in (("bdrate.csv", len(bd.table)), ("agreement.csv", len(agr.table))) if there]
    console.print(f"wrote {escape(str(md))}, {escape(str(csv))} and significance.csv" + (f" (and {', '.join(more)})" if more else ""))
    if html is not None:
        _site(html, dirs, fresh=True, max_items=max_items, bd_options={"baseline": baseline, "interpolation": bd_interpolation})


def _report_dir(dirs: list[Path]) -> Path:
    """Where a report without --out goes: the run's own folder for one run; for several, a new
    folder beside the first (``report-<time>``), so that no input run's leaderboard is overwritten."""
    import time

    if len(set(map(Path.resolve, dirs))) == 1:
        return dirs[0]
    base = dirs[0].resolve().parent / f"report-{time.strftime('%Y%m%d-%H%M%S')}"
    out, k = base, 1
    while out.exists():
        out, k = base.with_name(f"{base.name}-{k}"), k + 1
    err.print(f"{len(dirs)} runs merged: the report goes to a new folder, {escape(str(out))} (--out to choose)", soft_wrap=True)
    return out


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
