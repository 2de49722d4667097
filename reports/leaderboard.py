"""Leaderboards: per data set, methods x metrics, mean over items (clips for video).

Reads only the files a run wrote (``scores.parquet``/``scores.csv``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.run.results import read_scores

from ..errors import printable

SUMMARY_SCOPES = ("image", "clip", "dataset")  # dataset: corpus metrics (mAP, CIDEr)


def run_notes(run_dirs: list[Path]) -> list[str]:
    """One sentence per run that did not complete (interrupted, killed, failed, still running),
    or whose ``rows.jsonl`` (read when it has no scores file) has damaged lines."""
    from benchmark.run.results import read_manifest, run_state
    from benchmark.run.writer import ROWS_FILE, damaged_lines

    notes = []
    for d in run_dirs:
        bad = (
            0
            if any((Path(d) / f).exists() for f in ("scores.parquet", "scores.csv"))
            else damaged_lines(Path(d) / ROWS_FILE)
        )
        if bad:
            notes.append(
                f"{Path(d) / ROWS_FILE} has {bad} damaged line{'s' if bad > 1 else ''}: their rows are missing from the table"
            )
        m = read_manifest(Path(d))
        if m is None:
            notes.append(f"{d}: no readable manifest.json; the rows may be incomplete")
            continue
        state, sentence = run_state(m)
        if state not in ("complete", "complete with failures"):
            notes.append(f"run {m.get('run_id', d)} ({d}) is {sentence}")
    return notes


#: rows equal on these are one value: counted once where runs repeat it
VALUE_KEY = ["dataset", "method", "metric", "item_id", "frame", "scope"]


def newest_rows(runs: list[tuple[pd.DataFrame, str]]) -> pd.DataFrame:
    """The rows of several runs, each (``VALUE_KEY``) value once: where runs repeat one, the
    row of the newest run (``runs``: (rows, the manifest's ``started``); equal or unknown
    times: the later one listed). The site and ``bench report`` merge runs alike."""
    if not runs:
        return pd.DataFrame()
    df = pd.concat([rows.assign(_started=started or "") for rows, started in runs], ignore_index=True)
    df = df.sort_values("_started", kind="stable")
    _say_replaced_protocols(df)
    return df.drop_duplicates(VALUE_KEY, keep="last").drop(columns="_started").reset_index(drop=True)


PROTOCOL = [
    "crop_border",
    "method_version",
    "metric_version",
]  # a value repeated under another of these is another number


def _say_replaced_protocols(df: pd.DataFrame) -> None:
    """Warn where runs repeat a value under another protocol (crop border, method or metric
    version): only the newest run's is shown, and the table must not pass for the other's."""
    from ..errors import warn

    cols = [c for c in PROTOCOL if c in df.columns]
    dup = df[df.duplicated(VALUE_KEY, keep=False)]
    if dup.empty or not cols:
        return
    seen = dup[cols].astype(str).agg("/".join, axis=1)
    differs = dup.assign(_p=seen).groupby(VALUE_KEY, dropna=False)["_p"].nunique() > 1
    if not differs.any():
        return
    where = differs[differs].reset_index()[["dataset", "method", "metric"]].drop_duplicates()
    for _, w in where.head(5).iterrows():
        g = dup[(dup.dataset == w.dataset) & (dup.method == w.method) & (dup.metric == w.metric)]
        kept = g.iloc[-1]
        other = g[(g[cols].astype(str) != kept[cols].astype(str)).any(axis=1)].iloc[0]
        what = ", ".join(f"{c} {other[c]} -> {kept[c]}" for c in cols if str(other[c]) != str(kept[c]))
        warn(
            f"{w.dataset} / {w.method} / {w.metric}: the runs scored it under different settings ({what}); "
            "only the newest run's values are shown (report the runs apart to compare them)"
        )
    if len(where) > 5:
        warn(f"... and {len(where) - 5} more (data set, method, metric) scored under different settings in these runs")


def load_runs(run_dirs: list[Path]) -> pd.DataFrame:
    """The rows of the runs in ``run_dirs``, a value repeated by two runs (or one run named
    twice) counted once: the newest run's (:func:`newest_rows`)."""
    from benchmark.run.results import read_manifest

    return newest_rows(
        [(read_scores(Path(d)), str((read_manifest(Path(d)) or {}).get("started") or "")) for d in run_dirs]
    )


def summarize(df: pd.DataFrame, baseline: str | None = None, sig=None) -> pd.DataFrame:
    """One row per (dataset, method, metric): mean over items, item count, failures, the
    bootstrap interval of the mean, P(best) and the column's mark (:mod:`.significance`:
    ``*`` a leader significantly better than every other method, ``=`` tied for first; ``best``
    is either; ``leader``: the highest mean, tested or not). Per-class breakdowns (metric names
    with a ``/``) are left to :func:`breakdowns`. ``sig``: an :func:`.significance.analyse`
    result of ``df`` already at hand (else computed against ``baseline``)."""
    from .costs import is_cost
    from .significance import analyse

    top = df[df["scope"].isin(SUMMARY_SCOPES) & ~df["metric"].astype(str).str.contains("/", regex=False)]
    top = top[~is_cost(top)]  # what a method costs has its own table (.costs_view)
    ok = top[top["status"] == "ok"]
    keys = ["dataset", "method", "metric"]
    agg = ok.groupby(keys, sort=False).agg(mean=("value", "mean"), n=("value", "size")).reset_index()
    failed = top[top["status"] != "ok"].groupby(keys, sort=False).size().rename("failed").reset_index()
    meta = (
        top.groupby("metric", sort=False)
        .agg(higher_is_better=("higher_is_better", "first"), unit=("unit", "first"))
        .reset_index()
    )
    out = agg.merge(failed, on=keys, how="outer").merge(meta, on="metric", how="left")
    out["n"] = out["n"].fillna(0).astype(int)
    out["failed"] = out["failed"].fillna(0).astype(int)
    out["leader"] = False
    for (_, _), g in out.groupby(["dataset", "metric"], sort=False):
        vals = g["mean"].dropna()
        vals = vals[np.isfinite(vals)]  # inf fps: no time measured (identity does no work), so it wins nothing
        if vals.empty or len(g) < 2:
            continue
        target = vals.max() if bool(g["higher_is_better"].iloc[0]) else vals.min()
        out.loc[g.index[g["mean"] == target], "leader"] = True
    sig = sig if sig is not None else analyse(df, baseline)
    out = out.merge(sig.cells, on=keys, how="left")
    out["mark"] = out["mark"].fillna("")
    out["best"] = out["mark"] != ""
    untested = "not tested: a corpus metric is one value per data set, with no items to compare"
    corpus = set(map(tuple, ok.loc[ok["scope"] == "dataset", ["dataset", "metric"]].drop_duplicates().to_numpy()))
    out["significance_note"] = [
        sig.notes.get((d, m)) or (untested if (d, m) in corpus and lead else "")
        for d, m, lead in zip(
            out["dataset"], out["metric"], out.groupby(["dataset", "metric"])["leader"].transform("any")
        )
    ]
    order = {k: i for i, k in enumerate(dict.fromkeys(df["dataset"]))}
    morder = {k: i for i, k in enumerate(dict.fromkeys(df["method"]))}
    xorder = {k: i for i, k in enumerate(dict.fromkeys(df["metric"]))}
    out["_d"], out["_m"], out["_x"] = out["dataset"].map(order), out["method"].map(morder), out["metric"].map(xorder)
    return out.sort_values(["_d", "_m", "_x"]).drop(columns=["_d", "_m", "_x"]).reset_index(drop=True)


def fmt(value: float, unit: str | None) -> str:
    if pd.isna(value):
        return "—"
    if unit == "dB":
        return f"{value:.2f}"
    if unit == "frames/s":
        return f"{value:.1f}" if value < 1000 else f"{value:,.0f}"  # 164,112 rather than 1.64e+05
    if not unit:
        return f"{value:.4f}"
    return f"{value:.4g}"


def arrow(higher_is_better: Any) -> str:
    return "↑" if bool(higher_is_better) else "↓"


def ci_text(lo: float, hi: float, unit: str | None) -> str:
    """'[30.10, 30.62]' ('' without an interval)."""
    return "" if pd.isna(lo) or pd.isna(hi) else f"[{fmt(lo, unit)}, {fmt(hi, unit)}]"


def tables(summary: pd.DataFrame, ci: bool = False) -> dict[str, dict[str, Any]]:
    """{dataset: {"metrics": [...], "rows": [{"method", cells: [(text, mark)]}]}}; ``mark``: '*'
    (significantly best), '=' (tied for best) or ''; ``ci``: the 95% interval after the mean."""
    out: dict[str, dict[str, Any]] = {}
    for ds, g in summary.groupby("dataset", sort=False):
        metrics = list(dict.fromkeys(g["metric"]))
        info = g.drop_duplicates("metric").set_index("metric")
        rows = []
        for method, mg in g.groupby("method", sort=False):
            cells = []
            by = mg.set_index("metric")
            for m in metrics:
                if m in by.index:
                    r = by.loc[m]
                    text = fmt(r["mean"], info.loc[m, "unit"])
                    interval = ci_text(r.get("ci_low"), r.get("ci_high"), info.loc[m, "unit"]) if ci else ""
                    text += f" {interval}" if interval else ""
                    if r["failed"]:
                        text += f" ({int(r['failed'])} failed)"
                    cells.append((text, str(r.get("mark") or "")))
                else:
                    cells.append(("", ""))
            n = int(mg["n"].max())
            rows.append({"method": method, "n": n, "cells": cells})
        out[ds] = {
            "metrics": [(m, arrow(info.loc[m, "higher_is_better"]), info.loc[m, "unit"]) for m in metrics],
            "rows": rows,
        }
    return out


def breakdowns(df: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """Per-class tables, {(dataset, family): classes x methods}, for corpus rows named
    ``family/class`` (``voc-ap50/dog``, ``voc-ap50-gain/dog``)."""
    rows = df[
        (df["scope"] == "dataset") & (df["status"] == "ok") & df["metric"].astype(str).str.contains("/", regex=False)
    ]
    if rows.empty:
        return {}
    rows = rows.assign(family=rows["metric"].str.split("/", n=1).str[0], cls=rows["metric"].str.split("/", n=1).str[1])
    out = {}
    for (ds, fam), g in rows.groupby(["dataset", "family"], sort=False):
        out[(ds, fam)] = g.pivot_table(index="cls", columns="method", values="value", aggfunc="mean", sort=False)
    return out


def breakdowns_markdown(
    df: pd.DataFrame, families: tuple[str, ...] = ("voc-ap50-gain", "voc-ap50", "ap50-gain")
) -> str:
    lines = []
    for (ds, fam), t in breakdowns(df).items():
        if fam not in families:
            continue
        lines.append(f"### {md_escape(ds)}: {md_escape(fam)} per class\n")
        lines.append("| class | " + " | ".join(md_escape(m) for m in t.columns) + " |")
        lines.append("|---|" + "---:|" * len(t.columns))
        for cls, r in t.iterrows():
            lines.append(f"| {md_escape(cls)} | " + " | ".join(fmt(v, "") for v in r) + " |")
        lines.append("")
    return "\n".join(lines)


def to_markdown(summary: pd.DataFrame) -> str:
    lines = []
    for ds, t in tables(summary, ci=True).items():
        lines.append(f"## {md_escape(ds)}\n")
        lines.append("| method | n | " + " | ".join(f"{md_escape(m)} {a}" for m, a, _ in t["metrics"]) + " |")
        lines.append("|---|---:|" + "---:|" * len(t["metrics"]))
        for r in t["rows"]:
            cells = [f"**{c}** {md_escape(mark)}" if mark else c for c, mark in r["cells"]]
            lines.append(f"| {md_escape(r['method'])} | {r['n']} | " + " | ".join(cells) + " |")
        verdict = best_line(summary[summary["dataset"] == ds])
        lines += ["", md_escape(verdict), ""] if verdict else [""]
    lines.append(
        f"Mean over items (images, or clips for video; corpus metrics such as mAP are one value per data set) with its 95% "
        f"bootstrap interval{legend(summary, markdown=True)}; ↑/↓ = higher/lower is better; n = items scored{infinite_note(summary)}."
    )
    return "\n".join(lines) + "\n"


def legend(summary: pd.DataFrame, markdown: bool = False) -> str:
    """The marks' part of a table's legend ('' when no cell is marked)."""
    marks = set(summary["mark"]) if "mark" in summary.columns else set()
    star = "\\*" if markdown else "*"
    parts = []
    if "*" in marks:
        parts.append(
            f"{star} = best, significantly better than every other method (paired Wilcoxon, Holm-corrected, p ≤ 0.05)"
        )
    if "=" in marks:
        parts.append("= tied for best (not separable from the leader: a tie, or too few items to test)")
    return ("; " + ("**bold** = best or tied for best; " if markdown else "") + "; ".join(parts)) if parts else ""


_MD_SPECIAL = "\\`*_[]#|~"


def term(s: object) -> str:
    """A name from a run (a method, a data set, a metric) for the terminal: control characters
    shown as escapes (:func:`.errors.printable`), rich markup escaped."""
    from rich.markup import escape

    return escape(printable(s))


def md_escape(s: str) -> str:
    """A name as literal Markdown text, in a heading or a table cell: HTML is escaped as
    entities, Markdown syntax (emphasis, links, code, headings, table pipes) with
    backslashes, line breaks become spaces."""
    text = printable(" ".join(str(s).splitlines())).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "".join("\\" + c if c in _MD_SPECIAL else c for c in text)


def print_tables(summary: pd.DataFrame, console, ci: bool = False) -> None:
    escape = term
    from rich.table import Table

    style = {"*": "[bold green]{}*[/]", "=": "[bold]{}=[/]"}
    for ds, t in tables(summary, ci=ci).items():
        table = Table(title=escape(ds), title_justify="left")
        table.add_column("method")
        table.add_column("n", justify="right")
        for m, a, _ in t["metrics"]:
            table.add_column(f"{escape(m)} {a}", justify="right")
        for r in t["rows"]:
            table.add_row(
                escape(r["method"]),
                str(r["n"]),
                *[style[mark].format(escape(c)) if mark else escape(c) for c, mark in r["cells"]],
            )
        console.print(table)
        verdict = best_line(summary[summary["dataset"] == ds])
        if verdict:
            console.print(escape(verdict), soft_wrap=True)
    interval = " with its 95% bootstrap interval" if ci else ""
    console.print(
        f"mean over items (clips for video){interval}{legend(summary)}; ↑/↓ higher/lower is better{infinite_note(summary)}"
    )


def infinite_note(summary: pd.DataFrame) -> str:
    """The legend's word on infinite means ('' when there are none): an ``inf`` is no time
    measured, a method that does no work (``identity``), not the fastest; never marked best."""
    if summary.empty or not np.isinf(summary["mean"].astype(float)).any():
        return ""
    return "; inf = no time measured (a method that does no work, e.g. identity): never marked best"


def best_line(summary: pd.DataFrame) -> str:
    """One data set's verdicts, e.g. 'best: ssim on psnr, ssim; tie on niqe: gan = ssim (Holm p
    0.31; about 85 items ...); too few items on fps: gan = ssim (n=5: ...)' (empty with fewer
    than two methods). Columns with the same verdict, methods and reason share a segment."""
    if summary["method"].nunique() < 2:
        return ""
    segments: dict[tuple[str, str, str], list[str]] = {}
    for metric, g in summary.groupby("metric", sort=False):
        star, tied = g[g["mark"] == "*"], g[g["mark"] == "="]
        note = next((n for n in g.get("significance_note", pd.Series(dtype=str)) if isinstance(n, str) and n), "")
        if len(star):
            segments.setdefault(("best", str(star["method"].iloc[0]), ""), []).append(str(metric))
        elif len(tied):
            kind, _, why = note.partition(": ")
            segments.setdefault(
                (kind if kind in ("tie", "too few items") else "tie", " = ".join(map(str, tied["method"])), why), []
            ).append(str(metric))
        elif note.startswith("not tested"):
            leader = g[g["leader"]]["method"] if "leader" in g.columns else []
            segments.setdefault(
                ("not tested", ", ".join(map(str, leader)), note.removeprefix("not tested: ")), []
            ).append(str(metric))
    if not segments:
        return ""
    out = []
    for (kind, methods, why), metrics in segments.items():
        if kind == "best":
            out.append(f"{methods} on {', '.join(metrics)}")
        elif kind == "not tested":
            out.append(f"not tested on {', '.join(metrics)} ({why}; highest mean: {methods})")
        else:
            out.append(f"{kind} on {', '.join(metrics)}: {methods}" + (f" ({why})" if why else ""))
    return "best: " + "; ".join(out)


def write(
    summary: pd.DataFrame,
    out_dir: Path,
    rows: pd.DataFrame | None = None,
    notes: list[str] = (),
    bd=None,
    sections: list[str] = (),
) -> tuple[Path, Path]:
    """``leaderboard.md`` and ``leaderboard.csv``; with ``bd`` (:class:`.bdrate.BDResult`) and a
    sweep in it, its section in the Markdown and ``bdrate.csv`` beside them; ``sections``: more
    Markdown sections (the paired comparisons, the agreement with people) after the tables."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, csv = out_dir / "leaderboard.md", out_dir / "leaderboard.csv"
    extra = breakdowns_markdown(rows) if rows is not None else ""
    bd_text = bd_markdown(bd) if bd is not None else ""
    head = "".join(f"> **Incomplete**: {md_escape(n)}\n\n" for n in notes)
    more = "".join("\n" + x for x in sections if x)
    md.write_text(
        head + to_markdown(summary) + more + ("\n" + extra if extra else "") + ("\n" + bd_text if bd_text else "")
    )
    summary.to_csv(csv, index=False)
    if bd_text:
        bd.write_csv(out_dir / "bdrate.csv")
    return md, csv


# ----------------------------------------------------------------------------- BD-rate (reports.bdrate)
def bd_markdown(res) -> str:
    """The BD section of ``leaderboard.md`` and of a recipe's summary ('' with no sweep)."""
    sweeps = res.views()
    if not sweeps:
        return ""
    lines = [
        f"## Bits saved at equal quality: BD-rate against {md_escape(res.baseline)}\n",
        f"{md_escape(res.convention)}.\n",
    ]
    for s in sweeps:
        if s["summary"]:
            lines += [f"### {md_escape(s['title'])}\n", md_escape(s["summary"]) + "\n"]
            continue
        lines += [
            f"### {md_escape(s['title'])}\n",
            "| method | metric | BD-rate | BD-quality | points | overlap | note |",
            "|---|---|---:|---:|---:|---|---|",
        ]
        lines += [
            f"| {md_escape(r['method'])} | {md_escape(r['metric'])} | {r['bd_rate']} | {r['bd_quality']} | {r['points']} | {md_escape(r['overlap'])} | {md_escape(r['note'])} |"
            for r in s["rows"]
        ]
        if s["equal"]:
            lines += [
                "",
                f"Equal quality: the {md_escape(s['family'])} level alone that gives each method's quality at each level "
                f"(pchip on the baseline's curve) and the bits the method's input takes against it (negative: saved), "
                f"e.g. {md_escape(s['example'] or 'none inside the measured range')}.\n",
                "| method | metric | " + " | ".join(s["levels"]) + " |",
                "|---|---|" + "---|" * len(s["levels"]),
            ]
            lines += [
                f"| {md_escape(g['method'])} | {md_escape(g['metric'])} | "
                + " | ".join(map(md_escape, g["cells"]))
                + " |"
                for g in s["equal"]
            ]
        lines.append("")
    return "\n".join(lines) + "\n"


def print_bd(res, console) -> None:
    """The BD tables in the terminal (nothing with no sweep)."""
    escape = term
    from rich.table import Table

    sweeps = res.views()
    for s in sweeps:
        if s["summary"]:
            console.print(escape(f"BD-rate against {res.baseline}: {s['title']}: {s['summary']}"), soft_wrap=True)
            continue
        table = Table(title=escape(f"BD-rate against {res.baseline}: {s['title']}"), title_justify="left")
        for c, j in (
            ("method", "left"),
            ("metric", "left"),
            ("BD-rate", "right"),
            ("BD-quality", "right"),
            ("points", "right"),
            ("overlap", "left"),
            ("note", "left"),
        ):
            table.add_column(c, justify=j, overflow="fold")
        for r in s["rows"]:
            table.add_row(
                *(escape(str(r[k])) for k in ("method", "metric", "bd_rate", "bd_quality", "points", "overlap", "note"))
            )
        console.print(table)
        if s["equal"]:
            eq = Table(
                title=escape(
                    f"equal quality: the {s['family']} level alone of the same quality; the method's bits against it (negative: saved)"
                ),
                title_justify="left",
            )
            for c in ["method", "metric", *s["levels"]]:
                eq.add_column(escape(c))
            for g in s["equal"]:
                eq.add_row(escape(g["method"]), escape(g["metric"]), *map(escape, g["cells"]))
            console.print(eq)
            if s["example"]:
                console.print(escape(f"e.g. {s['example']}"))
    if sweeps:
        console.print(escape(res.convention))
