"""The paired comparisons of :mod:`.significance` as text: the ``leaderboard.md`` section, the
terminal table (``bench report --ci``) and the rank-confidence lines."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .leaderboard import md_escape
from .significance import CONVENTION, Significance

HEAD = ["method a", "method b", "against", "n", "mean a − b", "95% CI", "p (Wilcoxon)", "p (Holm)", "verdict", "note"]


def _num(v: float, digits: int = 4) -> str:
    return "—" if pd.isna(v) else f"{v:.{digits}g}"


def _p(v: float) -> str:
    return "—" if pd.isna(v) else (f"{v:.2e}" if v < 1e-3 else f"{v:.3f}")


def _cells(r) -> list[str]:
    ci = "" if pd.isna(r.ci_low) else f"[{_num(r.ci_low)}, {_num(r.ci_high)}]"
    return [
        str(r.method_a),
        str(r.method_b),
        str(r.against),
        str(int(r.n)),
        _num(r.mean_diff),
        ci,
        _p(r.p_wilcoxon),
        _p(r.p_holm),
        str(r.verdict),
        str(r.note or ""),
    ]


def p_best_lines(sig: Significance, dataset: str) -> list[str]:
    """'psnr: ssim 0.97, gan 0.03' per metric of ``dataset`` (methods with no share left out)."""
    out = []
    cells = sig.cells[sig.cells["dataset"] == dataset]
    for metric, g in cells.groupby("metric", sort=False):
        g = g[g["p_best"].notna()].sort_values("p_best", ascending=False)
        if len(g) >= 2:
            out.append(f"{metric}: " + ", ".join(f"{m} {p:.2f}" for m, p in zip(g["method"], g["p_best"])))
    return out


def markdown(sig: Significance) -> str:
    """'## Is the lead real? Paired comparisons' with a table per data set and metric ('' with none)."""
    if sig.pairs.empty:
        return ""
    lines = ["## Is the lead real? Paired comparisons\n", md_escape(CONVENTION) + "\n"]
    for ds, dg in sig.pairs.groupby("dataset", sort=False):
        base = sig.baselines.get(str(ds))
        lines.append(
            f"### {md_escape(ds)}"
            + (f" (baseline: {md_escape(base)})" if base else " (no baseline method: against the leader only)")
            + "\n"
        )
        lines += ["| metric | " + " | ".join(HEAD) + " |", "|---|" + "---|" * len(HEAD)]
        for r in dg.itertuples():
            lines.append(f"| {md_escape(r.metric)} | " + " | ".join(md_escape(c) for c in _cells(r)) + " |")
        pb = p_best_lines(sig, str(ds))
        if pb:
            lines += [
                "",
                "P(best), the share of the resamples in which each method has the best mean: "
                + md_escape("; ".join(pb))
                + ".",
            ]
        lines.append("")
    return "\n".join(lines) + "\n"


def print_pairs(sig: Significance, console) -> None:
    """The comparisons in the terminal, one table per data set, then the convention."""
    from rich.table import Table

    from .leaderboard import term as escape

    if sig.pairs.empty:
        return
    for ds, dg in sig.pairs.groupby("dataset", sort=False):
        t = Table(
            title=escape(f"{ds}: paired comparisons (baseline {sig.baselines.get(str(ds), 'none')})"),
            title_justify="left",
        )
        for c in ["metric", *HEAD[:-1]]:  # the notes are in the verdict lines and leaderboard.md
            t.add_column(
                escape(c),
                overflow="fold",
                justify="right" if c in ("n", "mean a − b", "p (Wilcoxon)", "p (Holm)") else "left",
            )
        for r in dg.itertuples():
            t.add_row(escape(str(r.metric)), *map(escape, _cells(r)[:-1]))
        console.print(t)
        pb = p_best_lines(sig, str(ds))
        if pb:
            console.print(escape("P(best): " + "; ".join(pb)), soft_wrap=True)
    console.print(escape(CONVENTION), soft_wrap=True)


def diff_frame(sig: Significance) -> pd.DataFrame:
    """Each method's difference from its data set's baseline, with its interval (the site's plot)."""
    p = sig.pairs
    if p.empty:
        return p
    return p[(p["against"] == "baseline") & np.isfinite(p["mean_diff"].astype(float))].reset_index(drop=True)
