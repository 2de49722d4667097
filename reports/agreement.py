"""Agreement with people (issue 34, section 3): each metric's per-item values against a study's
per-item MOS (``bench study results``: metric ``mos``, same data set, method and item).

Per data set and metric: SRCC and KRCC on the raw values (signs as computed: a lower-is-better
metric such as NIQE that agrees with people has a negative SRCC/KRCC), PLCC after the VQEG
four-parameter logistic fit of MOS on the metric (the fit absorbs the direction, so agreement is
a positive PLCC either way), each with a 95% percentile bootstrap interval over items (an item
is resampled with all its methods' points; PLCC's fit held fixed on the resamples); and the
Kendall tau between the metric's method ranking (method means over the items every method has,
oriented by ``higher_is_better``) and the MOS ranking. A negative tau is flagged by name.
Speed metrics (``fps``) are left out: they do not describe a picture. Reads only rows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import curve_fit
from scipy.special import expit

from .sitedata import ITEM_SCOPES, SUBJECTIVE, metric_family

RESAMPLES = 2000
MIN_ITEMS, MIN_POINTS = 3, 4
COLUMNS = [
    "dataset",
    "metric",
    "higher_is_better",
    "n_items",
    "n_points",
    "srcc",
    "srcc_low",
    "srcc_high",
    "krcc",
    "krcc_low",
    "krcc_high",
    "plcc",
    "plcc_low",
    "plcc_high",
    "rank_tau",
    "flagged",
    "note",
]
POINT_COLUMNS = ["dataset", "metric", "method", "item_id", "value", "mos"]


def logistic(x, b1, b2, b3, b4):
    """VQEG's four-parameter logistic: (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2."""
    return (b1 - b2) * expit((np.asarray(x, float) - b3) / abs(b4)) + b2


def fit_logistic(x: np.ndarray, y: np.ndarray) -> tuple[str, np.ndarray]:
    """("logistic", b1..b4) of MOS ``y`` on metric ``x`` (the least-squares fit of a few starts);
    ("linear", [slope, intercept]) where every start fails. Starts from the data: the MOS range
    oriented by the sign of the correlation (b1 the right-hand asymptote), b3 the mean of x, b4
    a fraction or multiple of its spread; the last start widens the range (a near-linear curve)."""
    r, lo, hi, sd = np.corrcoef(x, y)[0, 1], float(np.min(y)), float(np.max(y)), float(np.std(x)) or 1.0
    b1, b2 = (lo, hi) if r < 0 else (hi, lo)
    best: tuple[float, np.ndarray] | None = None
    for p0 in (
        [b1, b2, np.mean(x), sd / 2],
        [b1, b2, np.median(x), sd * 2],
        [2 * b1 - b2, 2 * b2 - b1, np.mean(x), sd * 4],
    ):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p, _ = curve_fit(logistic, x, y, p0=p0, maxfev=10000)
        except (RuntimeError, ValueError, TypeError, ZeroDivisionError):
            continue
        pred = logistic(x, *p)
        sse = float(np.sum((pred - y) ** 2))
        if np.all(np.isfinite(p)) and np.isfinite(sse) and np.ptp(pred) > 0 and (best is None or sse < best[0]):
            best = (sse, p)
    return ("logistic", best[1]) if best is not None else ("linear", np.polyfit(x, y, 1))


def predict(kind: str, params, x) -> np.ndarray:
    """The fitted MOS at ``x``: the logistic, the linear fallback, or x itself (kind "none")."""
    return (
        logistic(x, *params)
        if kind == "logistic"
        else (np.polyval(params, x) if kind == "linear" else np.asarray(x, float))
    )


def correlations(x, y, fit: str = "logistic") -> dict[str, Any]:
    """SRCC, KRCC (raw) and PLCC of ``y`` (MOS) on the fitted ``x`` by scipy; ``fit``: "logistic"
    (with the linear fallback), "linear", or "none" (the plain Pearson of x and y)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    kind, params = (
        (fit, None) if fit == "none" else fit_logistic(x, y) if fit == "logistic" else ("linear", np.polyfit(x, y, 1))
    )
    pred = predict(kind, params, x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plcc = stats.pearsonr(pred, y).statistic if np.ptp(pred) > 0 else np.nan
        return {
            "srcc": float(stats.spearmanr(x, y).statistic),
            "krcc": float(stats.kendalltau(x, y).statistic),
            "plcc": float(plcc),
            "fit": kind,
            "params": params,
            "pred": pred,
        }


def _ranks(v: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each point's average rank (ties share one) in each weighted resample (B x n), and each
    resample's weight per distinct value (B x distinct values)."""
    uniq, inv = np.unique(v, return_inverse=True)
    b, g = w.shape[0], len(uniq)
    e = np.bincount((np.arange(b)[:, None] * g + inv).ravel(), weights=w.ravel(), minlength=b * g).reshape(b, g)
    return (np.cumsum(e, axis=1) - e)[:, inv] + (e[:, inv] + 1) / 2, e


def _wpearson(a: np.ndarray, c: np.ndarray, w: np.ndarray) -> np.ndarray:
    n = w.sum(1, keepdims=True)
    da, dc = a - (w * a).sum(1, keepdims=True) / n, c - (w * c).sum(1, keepdims=True) / n
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w * da * dc).sum(1) / np.sqrt((w * da * da).sum(1) * (w * dc * dc).sum(1))


def weighted_stats(x: np.ndarray, y: np.ndarray, pred: np.ndarray, w: np.ndarray) -> np.ndarray:
    """SRCC, KRCC (tau-b) and PLCC (``pred`` against y) of each resample (B x 3), a resample
    given as each point's multiplicity ``w`` (B x n): the same numbers as scipy's on the points
    repeated, in a few array operations; NaN where x or y is constant in a resample."""
    w = np.asarray(w, float)
    rx, ex = _ranks(x, w)
    ry, ey = _ranks(y, w)
    s = np.sign(x[:, None] - x[None, :]) * np.sign(y[:, None] - y[None, :])
    n = w.sum(1)
    n0 = n * (n - 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        krcc = ((w @ s) * w).sum(1) / 2 / np.sqrt((n0 - (ex * (ex - 1) / 2).sum(1)) * (n0 - (ey * (ey - 1) / 2).sum(1)))
    out = np.stack(
        [_wpearson(rx, ry, w), krcc, _wpearson(np.broadcast_to(pred, w.shape), np.broadcast_to(y, w.shape), w)], axis=1
    )
    out[((ex > 0).sum(1) < 2) | ((ey > 0).sum(1) < 2)] = np.nan
    return out


def bootstrap(x, y, items, pred, seed: int, resamples: int) -> tuple[dict[str, tuple[float, float]], int]:
    """95% percentile intervals of SRCC, KRCC, PLCC over items (each drawn item with all its
    points; a seeded ``numpy.random.Generator``; the fit held fixed) and the number of
    degenerate resamples left out."""
    codes, uniq = pd.factorize(pd.Series(items))
    k = len(uniq)
    draws = np.random.default_rng(seed).integers(0, k, size=(resamples, k))
    counts = np.bincount((np.arange(resamples)[:, None] * k + draws).ravel(), minlength=resamples * k).reshape(
        resamples, k
    )
    out = weighted_stats(np.asarray(x, float), np.asarray(y, float), np.asarray(pred, float), counts[:, codes])
    ok = np.isfinite(out).all(axis=1)
    lo, hi = np.percentile(out[ok], [2.5, 97.5], axis=0) if ok.any() else (np.full(3, np.nan), np.full(3, np.nan))
    return {key: (float(lo[j]), float(hi[j])) for j, key in enumerate(("srcc", "krcc", "plcc"))}, int((~ok).sum())


def _order(means: pd.Series) -> str:
    return ", ".join(str(m) for m in means.sort_values(ascending=False, kind="stable").index)


def rank_agreement(pts: pd.DataFrame, hib: bool) -> tuple[float, str, str]:
    """Kendall tau between the oriented metric ranking and the MOS ranking of the methods (means
    over the items every method has), and the two orders; NaN with fewer than two methods."""
    methods = pts["method"].unique()
    per_item = pts.groupby("item_id")["method"].nunique()
    common = pts[pts["item_id"].isin(per_item.index[per_item == len(methods)])]
    if len(methods) < 2 or common.empty:
        return np.nan, "", ""
    means = common.groupby("method", sort=False)[["value", "mos"]].mean()
    metric = means["value"] * (1 if hib else -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tau = float(stats.kendalltau(metric.to_numpy(), means["mos"].to_numpy()).statistic)
    return tau, _order(metric), _order(means["mos"])


def pair_points(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[tuple[str, str], bool], list[str]]:
    """Each metric value paired with the MOS of its (data set, method, item): the points, each
    (data set, metric)'s ``higher_is_better``, and notes on what was left out."""
    notes: list[str] = []
    ok = df[(df["status"] == "ok") & df["scope"].isin(ITEM_SCOPES)]  # per image or clip, never frames
    mos = ok[ok["metric"] == "mos"]
    mos = mos.groupby(["dataset", "method", "item_id"], sort=False)["value"].mean().rename("mos").reset_index()
    if mos.empty:
        notes.append("no per-item MOS in these rows (the `bench study results` folder of a rating study)")
    rows = ok[~ok["metric"].isin(SUBJECTIVE) & ok["dataset"].isin(set(mos["dataset"]))]
    fams = {m: metric_family(str(m)) for m in rows["metric"].unique()}
    rows = rows[rows["metric"].map(fams) != "speed"]
    hib = {k: bool(g.iloc[0]) for k, g in rows.groupby(["dataset", "metric"], sort=False)["higher_is_better"]}
    keys = ["dataset", "metric", "method", "item_id"]
    vals = rows.groupby(keys, sort=False)["value"]
    if (vals.size() > 1).any():
        notes.append(
            "some (method, item) had more than one value of a metric (different crop borders or metric versions): their mean is used"
        )
    pts = vals.mean().reset_index().merge(mos, on=["dataset", "method", "item_id"], how="inner")
    bad = ~(np.isfinite(pts["value"].astype(float)) & np.isfinite(pts["mos"].astype(float)))
    if bad.any():
        notes.append(f"{int(bad.sum())} non-finite value(s) left out (e.g. PSNR of an unchanged picture)")
    return pts[~bad].reset_index(drop=True)[POINT_COLUMNS], hib, notes


def _one(pts: pd.DataFrame, hib: bool, seed: int, resamples: int) -> tuple[dict[str, Any], Any]:
    """The table row of one (data set, metric) and its fit (kind, params) or None."""
    x, y = pts["value"].to_numpy(float), pts["mos"].to_numpy(float)
    n_items = pts["item_id"].nunique()
    row: dict[str, Any] = {
        "higher_is_better": hib,
        "n_items": n_items,
        "n_points": len(pts),
        "flagged": False,
        "note": "",
    }
    row |= {c: np.nan for c in COLUMNS[5:15]}
    if n_items < MIN_ITEMS or len(pts) < MIN_POINTS or np.ptp(x) == 0 or np.ptp(y) == 0:
        why = "constant values" if n_items >= MIN_ITEMS and len(pts) >= MIN_POINTS else "too few points"
        row["note"] = (
            f"{why}: {n_items} item(s), {len(pts)} point(s); needs {MIN_ITEMS}+ items, {MIN_POINTS}+ points, values that vary"
        )
        return row, None
    c = correlations(x, y)
    ci, bad = bootstrap(x, y, pts["item_id"].to_numpy(), c["pred"], seed, resamples)
    row |= {k: c[k] for k in ("srcc", "krcc", "plcc")} | {
        f"{k}_{e}": v for k, (lo, hi) in ci.items() for e, v in (("low", lo), ("high", hi))
    }
    notes = ["the logistic fit failed: PLCC after a linear fit"] if c["fit"] == "linear" else []
    notes += [f"{bad} degenerate resample(s) (constant values) left out of the intervals"] if bad else []
    row["rank_tau"], m_order, p_order = rank_agreement(pts, hib)
    if row["rank_tau"] < 0:
        row["flagged"] = True
        row["flag"] = (
            f"{pts['metric'].iloc[0]} ranks the methods against the people on {pts['dataset'].iloc[0]}: "
            f"best first, it orders them {m_order}; the MOS orders them {p_order} (Kendall tau {row['rank_tau']:+.2f})"
        )
    row["note"] = "; ".join(notes)
    return row, (c["fit"], c["params"])


@dataclass
class AgreementResult:
    """The agreement table (:data:`COLUMNS`), the points behind it (:data:`POINT_COLUMNS`), the
    flags (one sentence per metric that ranks the methods against the people), each
    (data set, metric)'s fit (kind, params) for the scatter plots, and notes on the rows."""

    table: pd.DataFrame
    points: pd.DataFrame
    flags: list[str] = field(default_factory=list)
    fits: dict[tuple[str, str], tuple[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seed: int = 0
    resamples: int = RESAMPLES

    @property
    def convention(self) -> str:
        from .agreement_plots import convention

        return convention(self.resamples, self.seed)

    def curve(self, dataset: str, metric: str, x) -> np.ndarray:
        """The fitted MOS of (``dataset``, ``metric``) at ``x``."""
        kind, params = self.fits[(dataset, metric)]
        return predict(kind, params, x)

    def write_csv(self, path) -> None:
        """``agreement.csv``: :data:`COLUMNS`, one row per (data set, metric)."""
        self.table.to_csv(path, index=False, float_format="%.6g")

    def markdown(self) -> str:
        from .agreement_plots import markdown

        return markdown(self)

    def print(self, console) -> None:
        from .agreement_plots import print_table

        print_table(self, console)


def agreement(df: pd.DataFrame, seed: int = 0, resamples: int = RESAMPLES) -> AgreementResult:
    """The agreement of every metric in ``df`` (merged rows of runs and a study) with the MOS."""
    pts, hib, notes = pair_points(df)
    rows, flags, fits = [], [], {}
    for (ds, metric), g in pts.groupby(["dataset", "metric"], sort=False):
        row, fit = _one(g, hib[(ds, metric)], seed, resamples)
        if row.get("flag"):
            flags.append(row.pop("flag"))
        rows.append({"dataset": ds, "metric": metric} | row)
        if fit is not None:
            fits[(ds, metric)] = fit
    for (ds, metric), h in hib.items():  # a metric of the study's data set with no (method, item) in common
        if not ((pts["dataset"] == ds) & (pts["metric"] == metric)).any():
            rows.append(
                {
                    "dataset": ds,
                    "metric": metric,
                    "higher_is_better": h,
                    "n_items": 0,
                    "n_points": 0,
                    "flagged": False,
                    "note": "no (method, item) in common with the study",
                }
            )
    table = pd.DataFrame(rows, columns=COLUMNS).astype({"n_items": "int64", "n_points": "int64", "flagged": "bool"})
    return AgreementResult(table, pts, flags, fits, notes, seed, resamples)
