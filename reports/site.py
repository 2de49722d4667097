"""A static leaderboard site from any set of runs: ``bench report --html SITE RUN...`` and
``bench publish SITE RUN...`` (adds runs to an existing site and rebuilds it).

Everything is self-contained and works from ``file://``: no CDN, one small inline script
(sortable columns, metric-family filter, synchronised zoom). All text from runs and
plug-ins goes through Jinja2's autoescaping.

Layout::

    SITE/index.html                 leaderboards (per data set), plots, paper tables, downloads
    SITE/compare/<n>.html           one page per shown item: reference | degraded | methods
    SITE/img/<key>-<frame>.png      images copied from the cache (content-addressed)
    SITE/plots/*.svg                matplotlib figures
    SITE/tables/*.md, *.tex         paper tables
    SITE/data/runs/<run_id>/        each run's scores.parquet/.csv, manifest.json, artifacts.json
    SITE/data/scores.csv, .parquet  all runs merged (latest run wins for a repeated value)

The build is split by job: :mod:`.sitedata` (runs merged, leaderboards), :mod:`.plots`
(figures), :mod:`.tables` (paper tables), :mod:`.pages` (comparison pages and their
images); this module clears and fills the site and renders the HTML.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from . import costs_view
from .agreement import agreement
from .agreement_plots import scatter_plots
from .bdrate import BDResult, analyse
from .bdrate import check_interpolation as bd_check
from .leaderboard import best_line, summarize
from .pages import comparison_pages
from .plots import plots
from .significance import analyse as significance
from .significance import bootstrap_ci
from .sitedata import FAMILIES, copy_runs, leaderboards, load_site_runs, usable_runs
from .tables import paper_tables, to_latex_table, to_markdown_table, write_tables

# what callers and tests use from here (the site's public face)
__all__ = ["bootstrap_ci", "build", "leaderboards", "paper_tables", "plots", "to_latex_table", "to_markdown_table"]


def _prepare(
    site: Path, run_dirs: list[Path] | None, fresh: bool
) -> tuple[pd.DataFrame, dict[str, dict], dict[str, dict]]:
    """Clear what the build rewrites (with ``fresh``, the runs kept too), copy ``run_dirs``
    in, and write all runs' rows merged (``SITE/data/scores.csv``, ``.parquet``). Returns
    :func:`.sitedata.load_site_runs`'s rows, manifests and artifacts."""
    run_dirs = usable_runs(
        list(run_dirs or [])
    )  # before anything is cleared: a build that cannot start leaves the site as it was
    if fresh and (site / "data" / "runs").exists():
        shutil.rmtree(site / "data" / "runs")
    for sub in ("compare", "plots", "tables", "img"):
        if (site / sub).exists():
            shutil.rmtree(site / sub)
    site.mkdir(parents=True, exist_ok=True)
    names = copy_runs(site, run_dirs)
    df, manifests, artifacts = load_site_runs(
        site, dict(zip(names, run_dirs))
    )  # this build's runs: their caches and sources as they are
    (site / "data").mkdir(exist_ok=True)
    df.to_csv(site / "data" / "scores.csv", index=False)
    df.to_parquet(site / "data" / "scores.parquet", index=False)
    return df, manifests, artifacts


def _families(boards: list[dict[str, Any]]) -> list[str]:
    """The metric families the leaderboards show (the page's filter), in :data:`FAMILIES`
    order, then "other" for metrics whose plug-in is not installed here."""
    shown = {x["family"] for b in boards for x in b["metrics"]}
    return [f for f in FAMILIES if f in shown] + (["other"] if "other" in shown else [])


def _write_html(
    site: Path,
    env,
    boards: list[dict[str, Any]],
    figs: list[dict[str, str]],
    tables: list[dict[str, Any]],
    pages: list[dict[str, Any]],
    manifests: dict[str, dict],
    bd: BDResult,
    sig,
    agr,
    costs: dict[str, Any],
) -> None:
    """Render the comparison pages and ``index.html``."""
    (site / "compare").mkdir(exist_ok=True)
    page_tpl = env.get_template("compare.html")
    for p in pages:
        (site / p["file"]).write_text(page_tpl.render(page=p))
    runs = [
        {
            "run_id": r,
            "started": m.get("started", ""),
            "command": " ".join(map(str, m.get("command") or [])),
            "rows": m.get("rows", ""),
        }
        for r, m in sorted(manifests.items(), key=lambda kv: kv[1].get("started", ""))
    ]
    (site / "index.html").write_text(
        env.get_template("index.html").render(
            boards=boards,
            figures=figs,
            tables=tables,
            runs=runs,
            families=_families(boards),
            bd={"sweeps": bd.views(), "convention": bd.convention, "baseline": bd.baseline},
            sig=_sig_view(sig),
            agreement=_agreement_view(agr),
            costs=costs,
        )
    )


def _agreement_view(agr) -> dict[str, Any]:
    """The agreement with people as the page shows it ({} without a study among the runs)."""
    from .agreement_plots import _cells

    if not len(agr.table):
        return {}
    return {
        "rows": [[str(r.dataset), *_cells(r)] for r in agr.table.itertuples()],
        "flags": agr.flags,
        "convention": agr.convention,
    }


def _sig_view(sig) -> dict[str, Any]:
    """The paired comparisons as the page shows them: per data set its rows, P(best) lines."""
    from .significance import CONVENTION
    from .significance_view import _cells, p_best_lines

    sets = [
        {
            "dataset": str(ds),
            "baseline": sig.baselines.get(str(ds), ""),
            "rows": [_cells(r) for r in g.itertuples()],
            "metrics": [str(r.metric) for r in g.itertuples()],
            "verdicts": [str(r.verdict) for r in g.itertuples()],
            "p_best": p_best_lines(sig, str(ds)),
        }
        for ds, g in sig.pairs.groupby("dataset", sort=False)
    ]
    return {"sets": sets, "convention": CONVENTION}


def build(
    site: Path,
    run_dirs: list[Path] | None = None,
    fresh: bool = True,
    max_items: int = 8,
    baseline: str | None = None,
    interpolation: str = "pchip",
) -> Path:
    """Write the site. ``fresh``: the site shows exactly ``run_dirs``; otherwise they are
    added to the runs it already has (``bench publish``). ``baseline``, ``interpolation``: the
    BD-rate tables' (:mod:`.bdrate`)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    site = Path(site)
    bd_check(interpolation)  # before anything is cleared
    df, manifests, artifacts = _prepare(site, run_dirs, fresh)
    env = Environment(loader=PackageLoader("benchmark.reports", "templates"), autoescape=select_autoescape(["html"]))
    sig = significance(df, baseline)
    boards = leaderboards(df, sig)
    summary = summarize(df, sig=sig)
    from .vmafneg import vmaf_neg_warnings

    vmaf = vmaf_neg_warnings(df)
    for b in boards:
        b["verdict"] = best_line(summary[summary["dataset"] == b["dataset"]])
        b["warnings"] = [w for w in vmaf if f" on {b['dataset']}: " in w]
    bd = analyse(df, baseline or "identity", interpolation)
    agr = agreement(df)
    figs = plots(df, site, bd, sig) + [{**f, "kind": "agreement"} for f in scatter_plots(agr, site)]
    tables = write_tables(site, df, bd, sig)
    pages = comparison_pages(site, df, boards, manifests, artifacts, max_items)
    first_page = {b["dataset"]: b["pages"][0]["href"] for b in boards if b.get("pages")}
    figs += costs_view.plots(df, site, first_page)
    if len(agr.table):
        agr.write_csv(site / "tables" / "agreement.csv")
    costs = {"sets": costs_view.views(df), "convention": costs_view.CONVENTION, "columns": costs_view.COLUMNS}
    _write_html(site, env, boards, figs, tables, pages, manifests, bd, sig, agr, costs)
    return site / "index.html"
