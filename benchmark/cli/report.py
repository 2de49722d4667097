"""``bench report`` (leaderboards, optionally a site) and ``bench publish`` (add runs to a site)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape

from ..errors import BenchError
from . import _fail, app, console, err

# the options of `report`
_REPORT_RUN_DIRS = typer.Argument(None, help="Run directories (default: the newest under ./runs).")
_REPORT_OUT = typer.Option(
    None,
    "--out",
    "-o",
    help="Where leaderboard.md/.csv go (default: the run's folder for one run; a new folder report-<time> beside the runs for several, never an input run's).",
)
_REPORT_HTML = typer.Option(
    None,
    "--html",
    help="Also write a static HTML site (leaderboards, plots, comparisons, paper tables) to this folder, showing exactly these runs.",
)
_REPORT_MAX_ITEMS = typer.Option(
    8, "--max-items", min=0, help="Comparison pages per data set in the HTML site (worst and best items first)."
)
_REPORT_BASELINE = typer.Option(
    None,
    "--baseline",
    help="The method every other one is compared with: in the paired comparisons (default: identity where a data set has it, else bicubic) and in the BD-rate tables of codec sweeps (4+ levels; default identity).",
)
_REPORT_CI = typer.Option(
    False,
    "--ci",
    help="Show each mean's 95% bootstrap interval and the paired comparisons in the terminal (always in leaderboard.md).",
)
_REPORT_BD_INTERPOLATION = typer.Option(
    "pchip",
    "--bd-interpolation",
    help="BD-rate interpolation: pchip (JVET, default), cubic (the original VCEG-M33 fit) or akima.",
)


@app.command()
def report(
    run_dirs: List[Path] = _REPORT_RUN_DIRS,
    out: Optional[Path] = _REPORT_OUT,
    html: Optional[Path] = _REPORT_HTML,
    max_items: int = _REPORT_MAX_ITEMS,
    baseline: Optional[str] = _REPORT_BASELINE,
    ci: bool = _REPORT_CI,
    bd_interpolation: str = _REPORT_BD_INTERPOLATION,
) -> None:
    """Print a leaderboard per data set and write it as Markdown and CSV next to the scores (and, with --html, a site).

    Every method is compared item by item with the baseline and with each column's leader (paired bootstrap
    interval, Wilcoxon signed-rank, Holm; significance.csv): a * marks only a significant lead.
    With a study's results among the runs (`bench report RUN runs/study-NAME`), each metric is held against
    the people's MOS: SRCC, KRCC, PLCC after a logistic fit, and whether it ranks the methods as they do (agreement.csv).
    Codec sweeps (live1-qf{10,20,30,40,50} ...) also get the Bjøntegaard-delta rate of each method against --baseline (bdrate.csv)."""
    from ..reports import leaderboard

    dirs, df = _load(list(run_dirs or []), html is not None)
    summary, sig, bd, agr, vmaf_notes = _print_tables(df, dirs, baseline, bd_interpolation, ci)
    notes = leaderboard.run_notes(dirs)
    for n in notes:
        err.print(f"[bold yellow]{escape(n)}[/]", soft_wrap=True)
    for n in vmaf_notes:
        err.print(f"[bold yellow]warning: {escape(n)}[/]", soft_wrap=True)
    _write_tables(out or _report_dir(dirs), df, summary, sig, bd, agr, notes, vmaf_notes)
    if html is not None:
        bd_options = {"baseline": baseline, "interpolation": bd_interpolation}
        _site(html, dirs, fresh=True, max_items=max_items, bd_options=bd_options)


def _load(dirs: list[Path], site: bool):
    """(the run folders, their rows): those named, else the newest under ./runs; a folder that is not
    a run is skipped with a warning (with ``site``, also a damaged run)."""
    from ..reports import leaderboard
    from ..reports.sitedata import usable_runs

    if not dirs:
        runs = (
            sorted(
                (p for p in Path("runs").glob("*") if (p / "manifest.json").exists()), key=lambda p: p.stat().st_mtime
            )
            if Path("runs").is_dir()
            else []
        )
        if not runs:
            _fail(
                BenchError("no run directory given and none found under ./runs; run `bench run` first or name RUN_DIR")
            )
        dirs = [runs[-1]]
    try:
        dirs = usable_runs(dirs, site=site)
        return dirs, leaderboard.load_runs(dirs)
    except BenchError as exc:
        _fail(exc)
    except (OSError, ValueError) as exc:  # a damaged scores file
        _fail(
            BenchError(
                f"cannot read the scores of {', '.join(map(str, dirs))} ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
            )
        )


def _print_tables(df, dirs: list[Path], baseline: str | None, bd_interpolation: str, ci: bool):
    """The leaderboards, costs, comparisons, BD-rates and study agreement in the terminal; returns
    (summary, significance, BD result, agreement, VMAF notes) for the files."""
    from ..reports import agreement, bdrate, costs_view, leaderboard, significance, significance_view
    from ..reports.vmafneg import vmaf_neg_warnings

    vmaf_notes = vmaf_neg_warnings(df)  # VMAF raised by enhancement alone (sharpening): said by name
    try:
        bd = bdrate.analyse(df, baseline or "identity", bd_interpolation)
    except BenchError as exc:
        _fail(exc)
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
    return summary, sig, bd, agr, vmaf_notes


def _write_tables(out: Path, df, summary, sig, bd, agr, notes: list[str], vmaf_notes: list[str]) -> None:
    """leaderboard.md/.csv, significance.csv (and bdrate.csv, agreement.csv where there is one) in ``out``."""
    from ..reports import costs_view, leaderboard, significance_view

    sections = [
        costs_view.markdown(df),
        significance_view.markdown(sig),
        agr.markdown() if len(agr.table) else "",
        "".join(f"> **VMAF**: {leaderboard.md_escape(n)}\n\n" for n in vmaf_notes),
    ]
    md, csv = leaderboard.write(summary, out, df, notes=notes, bd=bd, sections=sections)
    sig.write_csv(md.parent / "significance.csv")
    if len(agr.table):
        agr.write_csv(md.parent / "agreement.csv")
    more = [f for f, there in (("bdrate.csv", len(bd.table)), ("agreement.csv", len(agr.table))) if there]
    console.print(
        f"wrote {escape(str(md))}, {escape(str(csv))} and significance.csv"
        + (f" (and {', '.join(more)})" if more else "")
    )


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
    err.print(
        f"{len(dirs)} runs merged: the report goes to a new folder, {escape(str(out))} (--out to choose)",
        soft_wrap=True,
    )
    return out


def _site(site: Path, dirs: list[Path], fresh: bool, max_items: int, bd_options: dict | None = None) -> None:
    from ..reports import site as site_mod

    try:
        index = site_mod.build(site, dirs, fresh=fresh, max_items=max_items, **(bd_options or {}))
    except BenchError as exc:
        _fail(exc)
        return
    console.print(f"site: {escape(str(index))} (open it in a browser; works from file://)")


# the options of `publish`
_PUBLISH_SITE = typer.Argument(..., help="An existing site folder (or a new one).")
_PUBLISH_RUN_DIRS = typer.Argument(..., help="Run directories to add to it.")
_PUBLISH_MAX_ITEMS = typer.Option(8, "--max-items", min=0, help="Comparison pages per data set.")


@app.command()
def publish(
    site: Path = _PUBLISH_SITE,
    run_dirs: List[Path] = _PUBLISH_RUN_DIRS,
    max_items: int = _PUBLISH_MAX_ITEMS,
) -> None:
    """Add runs to a site made by `bench report --html` and rebuild it (a value computed again in a newer run replaces the older one)."""
    _site(site, list(run_dirs), fresh=False, max_items=max_items)
