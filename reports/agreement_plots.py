"""How the agreement with people (:mod:`.agreement`) is shown: the Markdown section, the
terminal table, and one scatter plot per (data set, metric) of the metric against the MOS with
the fitted curve (matplotlib SVGs under ``SITE/plots``, like :mod:`.plots`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .leaderboard import md_escape

_SAFE = re.compile(r"[^\w.-]")


def _num(v: float) -> str:
    return "—" if pd.isna(v) else f"{v:+.3f}"


def _ci(r: Any, k: str) -> str:
    v, lo, hi = getattr(r, k), getattr(r, f"{k}_low"), getattr(r, f"{k}_high")
    return _num(v) if pd.isna(lo) or pd.isna(hi) else f"{_num(v)} [{_num(lo)}, {_num(hi)}]"


def _cells(r: Any) -> list[str]:
    """A table row's cells (metric first, unescaped)."""
    arrow = "↑" if r.higher_is_better else "↓"
    tau = _num(r.rank_tau) + (" (flagged)" if r.flagged else "")
    return [
        f"{r.metric} {arrow}",
        str(r.n_items),
        str(r.n_points),
        _ci(r, "srcc"),
        _ci(r, "krcc"),
        _ci(r, "plcc"),
        tau,
        str(r.note or ""),
    ]


def convention(resamples: int = 2000, seed: int = 0) -> str:
    """The conventions, said wherever the table is shown."""
    return (
        "Per data set, each metric's per-item values against the study's MOS of the same method and item. "
        "SRCC and KRCC on the raw values, signs as computed: for a lower-is-better metric (↓, e.g. NIQE) agreement is a negative "
        "SRCC/KRCC. PLCC after the VQEG four-parameter logistic fit of MOS on the metric (scipy curve_fit; a linear fit where it fails, "
        f"noted), positive for agreement in either direction. 95% percentile bootstrap intervals over items ({resamples} resamples, "
        f"seed {seed}; an item is drawn with all its methods' points; PLCC's fit held fixed, not refitted per resample). "
        "Rank tau: Kendall tau between the methods' ranking by the metric (means over the items every method has, oriented by "
        "its direction) and their ranking by MOS; a negative tau is flagged: the metric ranks the methods against the people."
    )


HEAD = ["metric", "items", "points", "SRCC [95% CI]", "KRCC [95% CI]", "PLCC [95% CI]", "rank tau", "note"]


def markdown(res) -> str:
    """The "## Agreement with people" section: the conventions, a table per data set, the flags."""
    lines = ["## Agreement with people\n", res.convention + "\n"]
    if res.table.empty:
        lines.append("No metric could be held against people's scores here.\n")
    for ds, t in res.table.groupby("dataset", sort=False):
        lines += [f"### {md_escape(ds)}\n", "| " + " | ".join(HEAD) + " |", "|" + "---|" * 2 + "--:|" * 5 + "---|"]
        lines += ["| " + " | ".join(md_escape(c) for c in _cells(r)) + " |" for r in t.itertuples()]
        lines.append("")
    lines += [f"- **Flagged**: {md_escape(f)}" for f in res.flags] + [f"- {md_escape(n)}" for n in res.notes]
    return "\n".join(lines).rstrip() + "\n"


def print_table(res, console) -> None:
    """The agreement tables in the terminal (every name escaped), the flags, the conventions."""
    from rich.table import Table

    from .leaderboard import term as escape

    for ds, t in res.table.groupby("dataset", sort=False):
        table = Table(title=f"agreement with people: {escape(str(ds))}", title_justify="left")
        for h in HEAD:
            table.add_column(h, justify="left" if h in ("metric", "note") else "right")
        for r in t.itertuples():
            cells = [escape(c) for c in _cells(r)]
            table.add_row(*(f"[bold red]{c}[/]" if r.flagged and i in (0, 6) else c for i, c in enumerate(cells)))
        console.print(table)
    for f in res.flags:
        console.print(f"[bold red]flagged[/]: {escape(f)}")
    for n in res.notes:
        console.print(escape(n))
    console.print(escape(res.convention))


def scatter_plots(result, out_dir: Path) -> list[dict[str, str]]:
    """One SVG per (data set, metric) with points: the metric (x) against the MOS (y), points
    coloured by method, the fitted logistic (or linear fallback) drawn. Written, like the
    site's other figures (:mod:`.plots`), under ``out_dir/plots``; returns the index page's
    entries {"title", "src"} with ``src`` relative to ``out_dir``."""
    from .plots import _plt, _save, _slug

    if result.points.empty:
        return []
    plt = _plt()
    table = result.table.set_index(["dataset", "metric"])
    out = []
    for (ds, metric), g in result.points.groupby(["dataset", "metric"], sort=False):
        fig, ax = plt.subplots(figsize=(5, 3.6))
        for method, mg in g.groupby("method", sort=False):
            ax.scatter(mg["value"], mg["mos"], s=14, alpha=0.8, label=str(method))
        if (ds, metric) in result.fits:
            xs = np.linspace(g["value"].min(), g["value"].max(), 200)
            ax.plot(xs, result.curve(ds, metric, xs), color="k", lw=1, label=f"{result.fits[(ds, metric)][0]} fit")
        r = table.loc[(ds, metric)]
        hib = bool(r["higher_is_better"])
        ax.set_xlabel(f"{metric} ({'higher' if hib else 'lower'} is better)")
        ax.set_ylabel("MOS")
        stats = ", ".join(f"{k.upper()} {r[k]:+.3f}" for k in ("srcc", "plcc") if not pd.isna(r[k]))
        ax.set_title(f"{ds}: {metric} against MOS" + (f" ({stats})" if stats else ""))
        ax.legend(fontsize=6.5)
        out.append(
            {
                "title": f"Agreement with people: {ds}, {metric} against MOS"
                + (" (flagged: ranks the methods against the people)" if r["flagged"] else ""),
                "src": _save(fig, out_dir / "plots" / f"agreement-{_slug(ds)}-{_SAFE.sub('_', str(metric))[:40]}.svg"),
            }
        )
    return out
