"""What a method costs (:mod:`.costs`) as the reports show it: a table per data set in the
terminal and ``leaderboard.md``, and quality against cost in the site (PSNR and a perceptual
metric against GMACs per frame on a log axis, against p50 latency and against parameters, the
Pareto front marked, each point linked to its data set's comparison pages)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .costs import TABLE, cost_table, quality_vs_cost
from .leaderboard import md_escape, term

CONVENTION = (
    "params: parameters (not buffers); GMACs: multiply-accumulates per frame at the run's input size, "
    "counted by torch's FlopCounterMode (FLOPs = 2 x MACs), and per output megapixel; peak MiB: the method's "
    "peak memory on a frame (CUDA max_memory_allocated on a GPU; on the CPU the peak RSS above the level "
    "before the call, sampled); p50/p95 ms: per-frame latency; — with the reason in notes (docs/cost.md)"
)
COLUMNS = [c for _, c, _ in TABLE]
#: quality against these costs in the site: (cost metric, axis label); a log axis where the costs span over a decade
AXES = (("macs", "GMACs per frame"), ("latency-p50", "p50 latency (ms)"), ("params", "parameters (millions)"))
SCALE = {"macs": 1e-9, "params": 1e-6}


def _fmt(col: str, v: float) -> str:
    if pd.isna(v):
        return "—"
    if col == "params":
        return f"{v / 1e6:.3g} M" if v >= 1e5 else f"{v:,.0f}"
    return f"{v:.3g}" if v < 1000 else f"{v:,.0f}"


def views(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Per data set: its rows of cells (formatted) with device and notes ([] without cost rows)."""
    t = cost_table(df)
    out = []
    for ds, g in t.groupby("dataset", sort=False):
        out.append(
            {
                "dataset": str(ds),
                "rows": [
                    {
                        "method": str(r["method"]),
                        "cells": [_fmt(c, r[c]) for c in COLUMNS],
                        "device": str(r["device"] or ""),
                        "notes": str(r["notes"] or ""),
                    }
                    for _, r in g.iterrows()
                ],
            }
        )
    return out


def markdown(df: pd.DataFrame) -> str:
    """'## What each method costs' with a table per data set ('' without cost rows)."""
    sets = views(df)
    if not sets:
        return ""
    lines = ["## What each method costs\n", md_escape(CONVENTION) + ".\n"]
    for s in sets:
        lines += [
            f"### {md_escape(s['dataset'])}\n",
            "| method | " + " | ".join(COLUMNS) + " | device | notes |",
            "|---|" + "---:|" * len(COLUMNS) + "---|---|",
        ]
        lines += [
            f"| {md_escape(r['method'])} | "
            + " | ".join(r["cells"])
            + f" | {md_escape(r['device'])} | {md_escape(r['notes'])} |"
            for r in s["rows"]
        ]
        lines.append("")
    return "\n".join(lines) + "\n"


def print_costs(df: pd.DataFrame, console, notes: bool = True) -> None:
    """The cost tables in the terminal (nothing without cost rows)."""
    from rich.table import Table

    sets = views(df)
    for s in sets:
        t = Table(title=term(f"{s['dataset']}: what each method costs"), title_justify="left")
        for c in ["method", *COLUMNS, "device"]:
            t.add_column(term(c), justify="left" if c in ("method", "device") else "right")
        for r in s["rows"]:
            t.add_row(term(r["method"]), *map(term, r["cells"]), term(r["device"]))
        console.print(t)
        if notes:
            for r in s["rows"]:
                if r["notes"]:
                    console.print(term(f"  {r['method']}: {r['notes']}"), soft_wrap=True, highlight=False)
    if sets:
        console.print(term(CONVENTION), soft_wrap=True, highlight=False)


def _log_axis(ax, x: pd.Series) -> None:
    """A log x axis labelled in plain numbers at the methods' own figures (no crowded minor labels)."""
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log")
    ticks = sorted(set(float(v) for v in x))
    ax.set_xticks(ticks, [f"{v:.3g}" for v in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())


def quality_metrics(df: pd.DataFrame) -> list[str]:
    """PSNR (or the first fidelity metric there is) and a perceptual or no-reference one, if scored."""
    have = list(dict.fromkeys(df.loc[df["scope"].isin(("image", "clip")) & (df["status"] == "ok"), "metric"]))
    fidelity = next((m for m in ("psnr", "psnr-y", "ssim", "vmaf") if m in have), None)
    perceptual = next((m for m in ("lpips", "dists", "niqe", "brisque", "musiq", "clipiqa") if m in have), None)
    return [m for m in (fidelity, perceptual) if m]


def plots(df: pd.DataFrame, site: Path, pages: dict[str, str] | None = None) -> list[dict[str, str]]:
    """Quality against each cost of :data:`AXES`, per data set with cost rows: one SVG per
    (data set, quality metric), a panel per cost; the Pareto front joined and ringed; each point
    a link to ``pages[dataset]`` (its comparison page) where given."""
    from .plots import _plt, _save, _slug

    if not cost_table(df).shape[0]:
        return []
    plt = _plt()
    out = []
    for ds in dict.fromkeys(cost_table(df)["dataset"]):
        d = df[df["dataset"] == ds]
        color = {
            m: f"C{i % 10}" for i, m in enumerate(dict.fromkeys(d["method"]))
        }  # one colour per method in every panel
        for quality in quality_metrics(d):
            fig, axes = plt.subplots(1, len(AXES), figsize=(4 * len(AXES), 3.3), squeeze=False)
            drawn = False
            for ax, (cost, label) in zip(axes[0], AXES):
                qc = quality_vs_cost(d, quality, cost).dropna(subset=["quality", "cost"])
                qc = qc[np.isfinite(qc["quality"]) & (qc["cost"] > 0)]
                if qc.empty:
                    ax.set_axis_off()
                    continue
                drawn = True
                x = qc["cost"] * SCALE.get(cost, 1.0)
                for (_, r), xv in zip(qc.iterrows(), x):
                    pts = ax.scatter(
                        [xv],
                        [r["quality"]],
                        s=30,
                        label=str(r["method"]),
                        zorder=3,
                        color=color[r["method"]],
                        edgecolors="k" if r["pareto"] else "none",
                        linewidths=1.2,
                    )
                    if pages and pages.get(str(ds)):
                        pts.set_urls([pages[str(ds)]])
                front = qc[qc["pareto"]].assign(x=x[qc["pareto"]]).sort_values("x")
                ax.plot(front["x"], front["quality"], color="grey", lw=0.8, ls="--", zorder=2, label="Pareto front")
                if (
                    cost == "macs" or x.max() > 10 * x.min()
                ):  # GMACs always on a log axis; the others where they span a decade
                    _log_axis(ax, x)
                ax.set_xlabel(label)
                ax.set_ylabel(quality)
            if not drawn:
                plt.close(fig)
                continue
            fullest = max(axes[0], key=lambda a: len(a.collections))
            fullest.legend(fontsize=6.5)
            fig.subplots_adjust(wspace=0.35)
            fig.suptitle(f"{ds}: {quality} against cost (ringed: on the Pareto front)", fontsize=8, y=1.03)
            out.append(
                {
                    "title": f"{ds}: {quality} against cost (GMACs, latency, parameters)",
                    "kind": "cost",
                    "src": _save(fig, site / "plots" / f"cost-{_slug(str(ds))}-{_slug(quality)}.svg"),
                    "dataset": str(ds),
                }
            )
    return out
