"""The site's paper tables (:mod:`.site`): tables in the reference study's form (NIQE/BRISQUE
with originals, captioning, AP gain per class), as Markdown and LaTeX files under
``SITE/tables``, with the leaderboard summary beside them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .leaderboard import fmt
from .sitedata import ITEM_SCOPES


def _undegraded(deg: pd.Series) -> pd.Series:
    return deg.fillna("").astype(str).isin(["", "none"])


def paper_tables(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Tables in the reference study's form. Each: a DataFrame with a 'row' column."""
    ok = df[df["status"] == "ok"]
    out: dict[str, pd.DataFrame] = {}

    def means(metrics: list[str], scopes) -> pd.DataFrame:
        r = ok[ok["metric"].isin(metrics) & ok["scope"].isin(scopes)]
        return (
            r.groupby(["base", "dataset", "degradation", "method", "metric"], sort=False)["value"]
            .mean()
            .unstack("metric")
            .reset_index()
        )

    # NIQE/BRISQUE with originals: per base, each degraded set x method, plus the undegraded reference
    nr = means(["niqe", "brisque"], ITEM_SCOPES)
    if not nr.empty:
        orig = _undegraded(nr["degradation"])
        nr = nr.assign(row=np.where(orig, "original", nr["dataset"] + " / " + nr["method"]))
        out["nr-with-originals"] = nr[["base", "row"] + [c for c in ("niqe", "brisque") if c in nr]].drop_duplicates(
            ["base", "row"]
        )

    # captioning: JPEG (identity on the degraded set), each method, originals (identity on the undegraded set)
    caps = [m for m in ("bleu4", "meteor", "rouge-l", "cider") if m in set(ok["metric"])]
    if caps:
        c = means(caps, ("dataset",))
        deg = ~_undegraded(c["degradation"])
        label = np.where(
            ~deg,
            "originals",
            np.where(c["method"] == "identity", c["dataset"] + " (no restoration)", c["dataset"] + " / " + c["method"]),
        )
        out["captioning"] = c.assign(row=label)[["base", "row"] + caps]

    # AP gain per class at each degradation
    g = ok[ok["metric"].astype(str).str.startswith("voc-ap50-gain/")]
    if not g.empty:
        t = g.assign(cls=g["metric"].str.split("/", n=1).str[1]).pivot_table(
            index=["dataset", "method"], columns="cls", values="value", sort=False
        )
        out["voc-ap50-gain"] = (
            (100 * t)
            .round(1)
            .reset_index()
            .assign(row=lambda x: x["dataset"] + " / " + x["method"])
            .drop(columns=["dataset", "method"])
        )
    return out


def to_markdown_table(t: pd.DataFrame) -> str:
    from .leaderboard import md_escape as esc

    cols = list(t.columns)
    lines = ["| " + " | ".join(esc(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for _, r in t.iterrows():
        lines.append("| " + " | ".join(esc(fmt(v, "") if isinstance(v, float) else v) for v in r) + " |")
    return "\n".join(lines) + "\n"


def to_latex_table(t: pd.DataFrame, caption: str) -> str:
    styler = (
        t.style.hide(axis="index").format(precision=4, escape="latex", na_rep="--").format_index(escape="latex", axis=1)
    )
    return styler.to_latex(caption=caption.replace("_", r"\_"), hrules=True)


def write_tables(site: Path, df: pd.DataFrame, bd=None, sig=None) -> list[dict[str, Any]]:
    """Write ``SITE/tables``: the leaderboard summary (Markdown), the paired comparisons of
    ``sig`` (:func:`.significance.analyse`; ``significance.csv`` and ``.md``), the BD-rate tables
    of ``bd`` (:class:`.bdrate.BDResult`; ``bdrate.csv`` and ``.md``, where there is a sweep) and
    each paper table as Markdown and LaTeX. Returns the paper tables as the index page shows them."""
    tables = []
    (site / "tables").mkdir(exist_ok=True)
    from .leaderboard import bd_markdown, summarize, to_markdown
    from .significance import analyse
    from .significance_view import markdown as significance_markdown

    sig = sig if sig is not None else analyse(df)
    (site / "tables" / "leaderboard.md").write_text(to_markdown(summarize(df, sig=sig)))
    sig.write_csv(site / "tables" / "significance.csv")
    (site / "tables" / "significance.md").write_text(significance_markdown(sig))
    if bd is not None and len(bd.table):
        bd.write_csv(site / "tables" / "bdrate.csv")
        (site / "tables" / "bdrate.md").write_text(bd_markdown(bd))
    for name, t in paper_tables(df).items():
        cols = ["row"] + [c for c in t.columns if c != "row"]
        t = t[cols]
        (site / "tables" / f"{name}.md").write_text(to_markdown_table(t))
        (site / "tables" / f"{name}.tex").write_text(to_latex_table(t, name))
        tables.append(
            {
                "name": name,
                "columns": cols,
                "rows": [[fmt(v, "") if isinstance(v, float) else v for v in r] for r in t.itertuples(index=False)],
                "md": f"tables/{name}.md",
                "tex": f"tables/{name}.tex",
            }
        )
    return tables
