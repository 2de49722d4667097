"""Cost in reports (issue 35), from a run's rows only (nothing is measured again here): which rows
are cost rows, the cost table per data set (params, GMACs per frame and per output megapixel,
peak MiB, p50/p95 ms, the device), and quality against cost with the Pareto front marked.

The cost rows are ``scope=dataset`` rows of the metrics in :data:`COST_METRICS`
(docs/cost.md); a ``status="not applicable"`` row is no failure: its reason is in ``error``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..metrics.cost import COST_METRICS as _METRICS
from ..metrics.cost import NOT_APPLICABLE

COST_METRICS: tuple[str, ...] = tuple(m.name for m in _METRICS)
ITEM_SCOPES = ("image", "clip")
#: the cost table's columns: (metric, column, scale to its unit)
TABLE = (
    ("params", "params", 1.0),
    ("macs", "GMACs/frame", 1e-9),
    ("macs-per-mp", "GMACs/MP", 1e-9),
    ("peak-mem", "peak MiB", 1.0),
    ("latency-p50", "p50 ms", 1.0),
    ("latency-p95", "p95 ms", 1.0),
)


def is_cost(df: pd.DataFrame) -> pd.Series:
    """True on the cost rows (to keep out of quality tables, significance tests and failure counts)."""
    return df["metric"].isin(COST_METRICS)


def is_not_applicable(df: pd.DataFrame) -> pd.Series:
    """True on rows whose figure does not apply (not a failure: do not count them as failed)."""
    return df["status"] == NOT_APPLICABLE


def cost_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, method), in the rows' order: ``params``, ``GMACs/frame``,
    ``GMACs/MP``, ``peak MiB``, ``p50 ms``, ``p95 ms`` (NaN where not applicable or failed),
    ``device`` (from the units of the time and memory rows) and ``notes`` (each figure that is
    missing and why: ``params, GMACs/frame, GMACs/MP: no network ...``). Empty without cost rows."""
    rows = df[is_cost(df) & (df["scope"] == "dataset")]
    out = []
    for (dataset, method), g in rows.groupby(["dataset", "method"], sort=False):
        by = {r.metric: r for r in g.itertuples(index=False)}
        rec: dict = {"dataset": dataset, "method": method}
        missing: dict[str, list[str]] = {}
        for metric, col, scale in TABLE:
            r = by.get(metric)
            ok = r is not None and r.status == "ok"
            rec[col] = float(r.value) * scale if ok else np.nan
            if not ok:
                why = "no row" if r is None else f"{'' if r.status == NOT_APPLICABLE else 'error: '}{r.error}"
                missing.setdefault(why, []).append(col)
        devices = {
            str(by[m].unit).partition("@")[2] for m in ("peak-mem", "latency-p50") if m in by and by[m].status == "ok"
        }
        rec["device"] = ", ".join(sorted(d for d in devices if d))
        rec["notes"] = "; ".join(f"{', '.join(cols)}: {why}" for why, cols in missing.items())
        out.append(rec)
    return pd.DataFrame(out, columns=["dataset", "method", *(c for _, c, _ in TABLE), "device", "notes"])


def pareto_front(quality: pd.Series, cost: pd.Series, higher_is_better: bool = True) -> pd.Series:
    """True where no other point is at least as good in quality and at most as costly, and
    strictly better in one of them (NaN points are never on the front)."""
    q = quality.astype(float).to_numpy() * (1 if higher_is_better else -1)
    c = cost.astype(float).to_numpy()
    ok = np.isfinite(q) & np.isfinite(c)
    front = np.zeros(len(q), dtype=bool)
    for i in np.flatnonzero(ok):
        dominated = ok & (q >= q[i]) & (c <= c[i]) & ((q > q[i]) | (c < c[i]))
        front[i] = not dominated.any()
    return pd.Series(front, index=quality.index)


def quality_vs_cost(df: pd.DataFrame, quality: str, cost: str) -> pd.DataFrame:
    """Per (dataset, method): the mean of ``quality`` over items (``scope`` image or clip, status
    ok: the leaderboard's mean), the ``cost`` figure (a cost metric's value, in its row's unit),
    and ``pareto``: on the front of that data set (quality's own direction, lower cost better).
    Methods without the cost figure (not applicable) get NaN and are never on the front."""
    ok = df[df["status"] == "ok"]
    q = (
        ok[(ok["metric"] == quality) & ok["scope"].isin(ITEM_SCOPES)]
        .groupby(["dataset", "method"], sort=False)["value"]
        .mean()
    )
    c = ok[(ok["metric"] == cost) & (ok["scope"] == "dataset")].set_index(["dataset", "method"])["value"]
    hib = df.loc[df["metric"] == quality, "higher_is_better"]
    out = pd.DataFrame({"quality": q}).join(c.rename("cost"), how="left").reset_index()
    out["pareto"] = False
    for _, g in out.groupby("dataset", sort=False):
        out.loc[g.index, "pareto"] = pareto_front(g["quality"], g["cost"], bool(hib.iloc[0]) if len(hib) else True)
    return out
