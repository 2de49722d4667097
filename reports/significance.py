"""Is a lead real? Paired comparisons of methods over the items of one data set.

For each data set and metric (a *family*: one leaderboard column; rows of another crop border
or metric version, merged from other runs, form a family of their own and are never compared
across), over the items (images; for video the clips, never frames as if independent):

- every method against the baseline (``identity`` where the data set has it, else ``bicubic``,
  or ``--baseline``) and against the column's leader (highest mean, or lowest where lower is
  better): the mean per-item difference (a - b), its 95% paired percentile bootstrap interval
  (items resampled with replacement, the same resamples for every method of the family, seeded)
  and a two-sided Wilcoxon signed-rank p-value (``scipy.stats.wilcoxon`` with its defaults:
  zero differences dropped, ``zero_method="wilcox"``; exact null distribution up to 50 items
  without ties or zeros, with ties or zeros exhaustive permutations up to 13 items and the
  tie-corrected normal approximation above);
- Holm's step-down correction over the comparisons of one family;
- a verdict: ``better`` / ``worse`` (a against b, Holm-corrected p <= 0.05, direction from the
  signed ranks and the metric's direction), ``tie``, or ``too few items`` where the test could
  never reject at the corrected level: with n items the smallest two-sided Wilcoxon p is
  2 / 2**n, and Holm's first step needs p <= 0.05 / m over m comparisons (n = 5 never reaches
  0.05);
- for a tie, the items that would separate the observed mean difference at the observed
  per-item spread: n = ((z(1 - a/2m) + z(0.8)) * sd / |mean|)**2, a normal approximation
  labelled as such;
- rank confidence: the share of the bootstrap resamples in which each method has the best mean
  (``P(best)``; shared firsts split), over the items every method of the family scored.

A leader is marked ``*`` only when it is significantly better than every other method of the
column; otherwise the leader and every method not significantly worse than it are marked as
tied (``=``). Corpus metrics (one value per data set, e.g. mAP) have no items to compare and are
not tested: their leader gets no mark.

Reads only the rows of a run (never recomputes a score).
"""

from __future__ import annotations

import warnings
import zlib
from dataclasses import dataclass, field
from math import ceil, log2

import numpy as np
import pandas as pd

ALPHA = 0.05
RESAMPLES = 2000
SEED = 0
POWER = 0.8
ITEM_SCOPES = ("image", "clip")
PROTOCOL = ["crop_border", "metric_version"]
NEEDED = {"dataset", "method", "metric", "item_id", "scope", "status", "value", "higher_is_better"}
NOT_COMPARED = ("mos-raters",)  # a count of raters, not a quality
AUTO_BASELINES = ("identity", "bicubic")
COLUMNS = [
    "dataset",
    "metric",
    "method_a",
    "method_b",
    "n",
    "mean_diff",
    "ci_low",
    "ci_high",
    "p_wilcoxon",
    "p_holm",
    "verdict",
    "higher_is_better",
    "against",
    "n_needed",
    "note",
]
CONVENTION = (
    f"Paired over items (images; clips for video): mean difference a - b with its 95% paired percentile bootstrap "
    f"interval ({RESAMPLES:,} resamples of the items, seed {SEED}, the same resamples for every method of a column); "
    f"two-sided Wilcoxon signed-rank p (scipy.stats.wilcoxon: zero differences dropped; exact without ties up to "
    f"50 items, ties and zeros by permutation up to 13, else the tie-corrected normal approximation); Holm's correction "
    f"over the comparisons of one data set x metric; better/worse at Holm p <= {ALPHA}; 'too few items' where even "
    f"the smallest possible p (2/2^n) cannot pass Holm's level; n needed: normal approximation, {POWER:.0%} power at "
    f"Holm's first level. P(best): share of the resamples in which a method has the best mean."
)


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN entries are left out of the family and stay NaN)."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    out[order] = adj
    return out


def min_items(m: int, alpha: float = ALPHA) -> int:
    """The fewest items with which a two-sided Wilcoxon test can pass Holm's first level
    (alpha / m): 2 / 2**n <= alpha / m."""
    return max(1, ceil(log2(2 * max(m, 1) / alpha)))


def wilcoxon_p(d: np.ndarray) -> tuple[float, float]:
    """(two-sided p, signed-rank direction: +1 when the positive differences outweigh, -1, or 0)."""
    from scipy.stats import rankdata, wilcoxon

    nz = d[d != 0]
    if len(nz) == 0:
        return 1.0, 0.0
    with warnings.catch_warnings():  # scipy warns for small n and ties: the p is still the one stated
        warnings.simplefilter("ignore")
        p = float(wilcoxon(d).pvalue)
    ranks = rankdata(np.abs(nz))
    return p, float(np.sign(ranks[nz > 0].sum() - ranks[nz < 0].sum()))


def items_needed(d: np.ndarray, m: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """Items that would separate the observed mean difference at the observed spread (normal
    approximation, ``power``, two-sided at Holm's first level alpha / m); inf with no difference."""
    from scipy.stats import norm

    if len(d) < 2:
        return float("nan")
    mean, sd = float(np.mean(d)), float(np.std(d, ddof=1))
    if mean == 0 or not np.isfinite(sd):
        return float("inf")
    z = norm.ppf(1 - alpha / (2 * max(m, 1))) + norm.ppf(power)
    return float(max(ceil((z * sd / abs(mean)) ** 2), min_items(m, alpha)))


@dataclass
class Significance:
    """What :func:`analyse` found: the pairs (``significance.csv``), per-cell marks and
    intervals, and one sentence per column that is not a clear win."""

    pairs: pd.DataFrame
    cells: pd.DataFrame  # dataset, metric, method, ci_low, ci_high, p_best, mark
    notes: dict[tuple[str, str], str] = field(default_factory=dict)  # (dataset, metric) -> why no '*'
    baselines: dict[str, str] = field(default_factory=dict)

    def write_csv(self, path) -> None:
        self.pairs.to_csv(path, index=False)

    def mark(self, dataset: str, metric: str, method: str) -> str:
        hit = self.cells[
            (self.cells["dataset"] == dataset) & (self.cells["metric"] == metric) & (self.cells["method"] == method)
        ]
        return str(hit["mark"].iloc[0]) if len(hit) else ""


class _Resampler:
    """Seeded bootstrap indices per (family, item count): every method of a family that scored
    the same items gets the same resamples."""

    def __init__(self, seed: int, resamples: int, key: str):
        self.seed, self.resamples, self.key = seed, resamples, zlib.crc32(key.encode("utf-8"))
        self._idx: dict[int, np.ndarray] = {}

    def __call__(self, n: int) -> np.ndarray:
        if n not in self._idx:
            self._idx[n] = np.random.default_rng([self.seed, self.key, n]).integers(0, n, (self.resamples, n))
        return self._idx[n]


def _percentile(x: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(x, [2.5, 97.5])
    return float(lo), float(hi)


def mean_ci(values: np.ndarray, idx: np.ndarray) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean over the resamples ``idx`` (resamples x n);
    none when a value is not finite (``identity``'s inf fps: no time measured) or there are fewer
    than two."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2 or not np.isfinite(values).all():
        return (float("nan"), float("nan"))
    return _percentile(values[idx].mean(axis=1))


def bootstrap_ci(values: np.ndarray, seed: int = SEED) -> tuple[float, float]:
    """:func:`mean_ci` of ``values`` alone (:data:`RESAMPLES` seeded resamples)."""
    return (
        mean_ci(values, _Resampler(seed, RESAMPLES, "")(len(values))) if len(values) else (float("nan"), float("nan"))
    )


def _baseline(methods: list[str], wanted: str | None) -> str | None:
    if wanted:
        return wanted if wanted in methods else None
    return next((b for b in AUTO_BASELINES if b in methods), None)


def _leader(means: pd.Series, hib: bool) -> str | None:
    finite = means[np.isfinite(means)]
    if len(finite) < 2:
        return None
    return str(finite.idxmax() if hib else finite.idxmin())


def _pairs(methods: list[str], baseline: str | None, leader: str | None) -> list[tuple[str, str, str]]:
    """(a, b, against) without repeats: each method against the baseline, then against the leader."""
    out, seen = [], set()
    for b, against in ((baseline, "baseline"), (leader, "leader")):
        if b is None:
            continue
        for a in methods:
            if a != b and frozenset((a, b)) not in seen:
                seen.add(frozenset((a, b)))
                out.append((a, b, against))
    return out


def _compare(wide: pd.DataFrame, a: str, b: str, rs: _Resampler) -> dict:
    both = wide[[a, b]].dropna()
    both = both[np.isfinite(both).all(axis=1)]
    d = (both[a] - both[b]).to_numpy(dtype=float)
    n = len(d)
    if n == 0:
        return {
            "n": 0,
            "mean_diff": np.nan,
            "ci_low": np.nan,
            "ci_high": np.nan,
            "p_wilcoxon": np.nan,
            "_dir": 0.0,
            "_d": d,
        }
    lo, hi = _percentile(d[rs(n)].mean(axis=1)) if n >= 2 else (np.nan, np.nan)
    p, direction = wilcoxon_p(d)
    return {
        "n": n,
        "mean_diff": float(d.mean()),
        "ci_low": lo,
        "ci_high": hi,
        "p_wilcoxon": p,
        "_dir": direction,
        "_d": d,
    }


def _verdicts(rows: list[dict], hib: bool, alpha: float) -> None:
    """Holm over the family, then each pair's verdict, n needed and note (in place)."""
    m = sum(1 for r in rows if r["n"] > 0)
    p_holm = holm(np.array([r["p_wilcoxon"] if r["n"] > 0 else np.nan for r in rows]))
    need = min_items(m, alpha)
    family_floor = min((2.0 / 2 ** r["n"] for r in rows if r["n"] > 0), default=1.0)
    for r, ph in zip(rows, p_holm):
        r["p_holm"], r["n_needed"], r["note"] = float(ph), np.nan, ""
        floor = 2.0 / 2 ** r["n"] if r["n"] else 1.0
        if r["n"] == 0:
            r["verdict"], r["note"] = "not tested", "no item with a finite value for both (inf: no time measured)"
        elif floor > alpha or family_floor > alpha / m:
            r["verdict"] = "too few items"
            r["n_needed"] = float(max(need, items_needed(r["_d"], m, alpha) if r["n"] >= 2 else need))
            r["note"] = (
                f"n={r['n']}: the smallest two-sided Wilcoxon p is 2/2^{r['n']} = {floor:.3g}, above Holm's first level "
                f"{alpha}/{m} = {alpha / m:.3g}; at least {need} items are needed"
            )
        elif ph <= alpha and r["_dir"] != 0:
            r["verdict"] = "better" if (r["_dir"] > 0) == hib else "worse"
        else:
            r["verdict"] = "tie"
            r["n_needed"] = items_needed(r["_d"], m, alpha)
            if np.isfinite(r["n_needed"]):
                r["note"] = (
                    f"about {int(r['n_needed'])} items would separate a mean difference of {r['mean_diff']:.4g} at "
                    f"its spread (sd {np.std(r['_d'], ddof=1):.3g}; normal approximation, {POWER:.0%} power)"
                )
            elif r["n"]:
                r["note"] = "no difference on any item" if not np.any(r["_d"]) else "mean difference 0"


def _p_best(wide: pd.DataFrame, hib: bool, rs: _Resampler) -> dict[str, float]:
    """Share of the resamples (items every method scored) in which each method's mean is best."""
    cols = [c for c in wide.columns if np.isfinite(wide[c]).any()]
    common = wide[cols].dropna()
    common = common[np.isfinite(common).all(axis=1)]
    if len(cols) < 2 or len(common) < 2:
        return {}
    means = common.to_numpy(dtype=float)[rs(len(common))].mean(axis=1)  # resamples x methods
    best = means.max(axis=1, keepdims=True) if hib else means.min(axis=1, keepdims=True)
    hits = means == best
    share = (hits / hits.sum(axis=1, keepdims=True)).mean(axis=0)
    return dict(zip(cols, map(float, share)))


def _family(
    ds: str,
    metric: str,
    g: pd.DataFrame,
    means: pd.Series,
    baseline: str | None,
    seed: int,
    resamples: int,
    alpha: float,
) -> tuple[list[dict], list[dict], str]:
    """One column: its pairs, its cells (CI, P(best), mark) and why it has no '*' ('' if it has one)."""
    hib = bool(g["higher_is_better"].iloc[0])
    wide = g.pivot_table(index="item_id", columns="method", values="value", aggfunc="mean", sort=False)
    methods = [m for m in dict.fromkeys(g["method"]) if m in wide.columns]
    rs = _Resampler(seed, resamples, f"{ds}\0{metric}")
    leader = _leader(means.reindex(methods), hib)
    rows = []
    for a, b, against in _pairs(methods, baseline, leader):
        rows.append(
            {
                "dataset": ds,
                "metric": metric,
                "method_a": a,
                "method_b": b,
                "higher_is_better": hib,
                "against": against,
                **_compare(wide, a, b, rs),
            }
        )
    _verdicts(rows, hib, alpha)
    pbest = _p_best(wide[methods], hib, rs)
    finite = means.reindex(methods)
    marks, why = _marks([m for m in methods if np.isfinite(finite[m])], leader, rows)
    cells = []
    for m in methods:
        v = wide[m].dropna().to_numpy(dtype=float)
        lo, hi = mean_ci(v, rs(len(v))) if len(v) else (np.nan, np.nan)
        cells.append(
            {
                "dataset": ds,
                "metric": metric,
                "method": m,
                "ci_low": lo,
                "ci_high": hi,
                "p_best": pbest.get(m, np.nan),
                "mark": marks.get(m, ""),
            }
        )
    for r in rows:
        r.pop("_d"), r.pop("_dir")
    return rows, cells, why


def _marks(methods: list[str], leader: str | None, rows: list[dict]) -> tuple[dict[str, str], str]:
    """'*' on a leader significantly better than every other method (of ``methods``: those with a
    finite mean), else '=' on the leader and every method not significantly worse than it; and
    the sentence that says why not '*'."""
    if leader is None:
        return {}, ""
    against = {}
    for r in rows:
        if r["method_a"] == leader and r["method_b"] in methods:
            against[r["method_b"]] = r
        elif r["method_b"] == leader and r["method_a"] in methods:
            flipped = {"better": "worse", "worse": "better"}.get(r["verdict"], r["verdict"])
            against[r["method_a"]] = {**r, "verdict": flipped}
    if against and all(r["verdict"] == "better" for r in against.values()):
        return {leader: "*"}, ""
    tied = [m for m, r in against.items() if r["verdict"] != "better"]
    marks = {leader: "=", **{m: "=" for m in tied}}
    few = [m for m in tied if against[m]["verdict"] == "too few items"]
    if few:
        return marks, f"too few items: {against[few[0]]['note']}"
    r = against[tied[0]]
    return marks, f"tie: Holm p {r['p_holm']:.3g} against the leader{'; ' + r['note'] if r['note'] else ''}"


def analyse(
    df: pd.DataFrame, baseline: str | None = None, seed: int = SEED, resamples: int = RESAMPLES, alpha: float = ALPHA
) -> Significance:
    """Every family of ``df``'s item rows (see the module's docstring). ``baseline``: the method
    every other one is compared with (default: ``identity``, else ``bicubic``, per data set)."""
    if df.empty or not NEEDED <= set(df.columns):  # rows that do not name their items cannot be paired
        return Significance(
            pd.DataFrame(columns=COLUMNS),
            pd.DataFrame(columns=["dataset", "metric", "method", "ci_low", "ci_high", "p_best", "mark"]),
        )
    ok = df[(df["status"] == "ok") & df["scope"].isin(ITEM_SCOPES)]
    ok = ok[~ok["metric"].astype(str).str.contains("/", regex=False) & ~ok["metric"].isin(NOT_COMPARED)]
    pairs, cells, notes, baselines = [], [], {}, {}
    for ds, dg in ok.groupby("dataset", sort=False):
        base = _baseline(list(dict.fromkeys(dg["method"])), baseline)
        if base:
            baselines[str(ds)] = base
        for metric, g in dg.groupby("metric", sort=False):
            cols = [c for c in PROTOCOL if c in g.columns]
            if cols and len(g[cols].astype(str).drop_duplicates()) > 1:
                notes[(str(ds), str(metric))] = (
                    "not tested: its methods were scored under different crop borders or metric "
                    "versions (report those runs apart)"
                )
                continue
            means = g.groupby("method", sort=False)["value"].mean()
            rows, c, why = _family(str(ds), str(metric), g, means, base, seed, resamples, alpha)
            pairs += rows
            cells += c
            if why:
                notes[(str(ds), str(metric))] = why
    return Significance(
        pd.DataFrame(pairs, columns=COLUMNS),
        pd.DataFrame(cells, columns=["dataset", "metric", "method", "ci_low", "ci_high", "p_best", "mark"]),
        notes,
        baselines,
    )
