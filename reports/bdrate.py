"""Bjøntegaard-delta rate and quality: how many bits a method saves against a baseline
(``identity``: the plain codec) at equal quality, over a codec sweep (``live1-qf{10,...,50}``,
``vid4-crf{20,...,40}``, ``clips-x2-crf{...}``).

The numbers come from the ``bjontegaard`` package (the reference implementation of the
VCEG/JVET conventions: log10 rate against quality, the difference of the two curves'
integrals over the overlap; pchip interpolation by default, ``cubic`` the original VCEG-M33
fit). This module only chooses the points and refuses, with a note, where a number would mean
nothing: fewer than :data:`MIN_POINTS` rate points, two levels at the same rate, a curve whose
quality does not rise with the rate (which curve, where), quality ranges that do not overlap.

The rate of every point is the degraded input's (``bpp`` for images, ``bitrate_kbps`` for
video): enhancement changes nothing that is sent. Each method's curve is its mean quality per
level over the items both it and the baseline scored; the baseline's curve over the same items.
Reads only a run's rows; recomputes no score.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
import warnings
from typing import Any

import numpy as np
import pandas as pd

#: a number needs this many rate points per curve (the JVET/VCEG convention is 4)
MIN_POINTS = 4
INTERPOLATIONS = ("pchip", "cubic", "akima")
#: the metric families a BD figure is given for: full-reference and task metrics
FAMILIES = ("fidelity", "perceptual", "task")
#: the reference package warns below this overlap; the note says so too
LOW_OVERLAP = 0.75
COLUMNS = ["dataset_base", "codec", "method", "baseline", "metric", "bd_rate_pct", "bd_quality", "points", "overlap", "interpolation", "note"]
_SCOPES = ("image", "clip")
_RC = re.compile(r"^(?P<pre>[a-z0-9]*?)(?P<rc>qf|crf|qp|kbps)(?P<level>\d+(?:\.\d+)?)(?P<post>[a-z0-9]*)$")
_RC_LEVELLESS = re.compile(r"^(?P<pre>[a-z0-9]*?)(?P<rc>qf|crf|qp|kbps)(?P<post>(?:s\d{3})?[a-z]*)$")
_CODECS = {"qf": ("JPEG", "QF"), "crf": ("H.264", "CRF"), "qp": ("H.264", "QP"), "kbps": ("H.264", "kbit/s"),
           "hevccrf": ("HEVC", "CRF"), "hevcqp": ("HEVC", "QP"), "hevckbps": ("HEVC", "kbit/s"),
           "h265crf": ("HEVC", "CRF"), "h265qp": ("HEVC", "QP"), "h264crf": ("H.264", "CRF"), "h264qp": ("H.264", "QP")}


def convention(interpolation: str = "pchip") -> str:
    """The convention, said in every output that shows a BD figure."""
    from importlib import metadata

    try:
        version = metadata.version("bjontegaard")
    except metadata.PackageNotFoundError:
        version = "?"
    return (f"Bjøntegaard delta (VCEG-M33/JVET convention: log10 rate against quality, {interpolation} interpolation, "
            f"bjontegaard {version}); rate = the degraded input's (bpp or kbit/s); a negative BD-rate: bits saved at equal quality; "
            f"BD-quality: the method's mean gain at equal rate, in the metric's units; at least {MIN_POINTS} levels per curve")


def sweep_of(degradation: str) -> tuple[str, float] | None:
    """(codec, level) of a degradation chain with one codec stage: ``qf20`` -> ("qf", 20),
    ``x2-crf30`` -> ("x2-crf", 30); None for a chain without one (``x4``, ``none``)."""
    stages = str(degradation).split("-")
    hits = [(i, m) for i, s in enumerate(stages) if (m := _RC.match(s))]
    if len(hits) != 1:
        return None
    i, m = hits[0]
    codec = "-".join(stages[:i] + [m["pre"] + m["rc"] + m["post"]] + stages[i + 1:])
    return codec, float(m["level"])


def codec_label(codec: str) -> tuple[str, str]:
    """("JPEG", "QF") for ``qf``; other stages of a chain are named before it ("x2 + H.264", "CRF")."""
    stages = codec.split("-")
    hits = [(i, m) for i, s in enumerate(stages) if (m := _RC_LEVELLESS.match(s))]
    if len(hits) != 1:
        return codec, "level"
    i, m = hits[0]
    family, knob = _CODECS.get(m["pre"] + m["rc"], (m["pre"] + m["rc"], "level"))
    family += f" ({m['post']})" if m["post"] else ""
    return " + ".join(stages[:i] + [family] + stages[i + 1:]), knob


def level_text(codec: str, level: float) -> str:
    """``QF 10``, ``CRF 27``, ``2000 kbit/s``: a level as its codec names it (to the nearest integer)."""
    knob = codec_label(codec)[1]
    return f"{level:.0f} kbit/s" if knob == "kbit/s" else f"{knob} {level:.0f}"


def bd_metrics(df: pd.DataFrame) -> list[str]:
    """The metrics a BD figure is given for: full-reference and task metrics (not no-reference,
    temporal, speed or subjective ones), without per-class rows or gains over identity."""
    from .sitedata import metric_family

    names = [str(m) for m in dict.fromkeys(df["metric"].dropna())]
    return [m for m in names if "/" not in m and not m.endswith("-gain") and not m.startswith("qf-confusion") and metric_family(m) in FAMILIES]


def _rates(rows: pd.DataFrame) -> tuple[pd.Series, str] | None:
    """Per (dataset, item): the degraded input's rate, and its column; None where not recorded."""
    items = rows[rows["scope"].isin(_SCOPES)]
    for col in ("bitrate_kbps", "bpp"):
        if len(items) and items[col].notna().all():
            return items.groupby(["dataset", "item_id"])[col].mean(), col
    return None


def _item_points(r: pd.DataFrame, rate: pd.Series, baseline: str) -> pd.DataFrame:
    """Per method, metric and level: mean quality of the method and of the baseline over their
    common items, and the mean rate of those items."""
    piv = r.pivot_table(index=["metric", "level", "dataset", "item_id"], columns="method", values="value", aggfunc="mean")
    if baseline not in piv.columns:
        return pd.DataFrame()
    piv = piv.join(rate.rename("rate"), on=["dataset", "item_id"])
    out = []
    for method in [m for m in piv.columns if m not in (baseline, "rate")]:
        both = piv[piv[method].notna() & piv[baseline].notna()]
        g = both.groupby(["metric", "level"]).agg(test=(method, "mean"), anchor=(baseline, "mean"), rate=("rate", "mean"), n=(method, "size"))
        out.append(g.reset_index().assign(method=method))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def _corpus_points(r: pd.DataFrame, rate: pd.Series, baseline: str) -> pd.DataFrame:
    """Corpus metrics (mAP ...): one value per level and method; the rate over all the set's items."""
    per_set = rate.groupby(level="dataset").agg(["mean", "size"])
    piv = r.pivot_table(index=["metric", "level", "dataset"], columns="method", values="value", aggfunc="mean")
    if baseline not in piv.columns:
        return pd.DataFrame()
    out = []
    for method in [m for m in piv.columns if m != baseline]:
        both = piv[piv[method].notna() & piv[baseline].notna()].reset_index()
        both = both.join(per_set, on="dataset")
        out.append(pd.DataFrame({"metric": both["metric"], "level": both["level"], "test": both[method], "anchor": both[baseline],
                                 "rate": both["mean"], "n": both["size"], "method": method}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def curves(df: pd.DataFrame, baseline: str = "identity") -> pd.DataFrame:
    """The points of every sweep: one row per (dataset_base, codec, metric, method, level) with
    the method's (``test``) and the baseline's (``anchor``) mean quality over their common
    items, the mean rate of those items (``rate``, ``rate_unit``), ``n`` items, the metric's
    direction and unit. Sweeps without a baseline have rows with ``method`` = None."""
    ok = df[(df["status"] == "ok")]
    metrics = bd_metrics(ok)
    sw = {d: sweep_of(d) for d in ok["degradation"].dropna().unique()}
    ok = ok[ok["degradation"].map(lambda d: sw.get(d) is not None)]
    if ok.empty or not metrics:
        return pd.DataFrame()
    ok = ok.assign(codec=ok["degradation"].map(lambda d: sw[d][0]), level=ok["degradation"].map(lambda d: sw[d][1]))
    meta = ok.drop_duplicates("metric").set_index("metric")[["higher_is_better", "unit"]].fillna({"unit": ""})
    out = []
    for (base, codec), g in ok.groupby(["base", "codec"], sort=False):
        if g["level"].nunique() < 2:
            continue
        rated = _rates(g[g["method"] == baseline] if (g["method"] == baseline).any() else g)
        if rated is None:  # not a codec (no bits recorded): no rate axis
            continue
        rate, col = rated
        r = g[g["metric"].isin(metrics)]
        pts = pd.concat([_item_points(r[r["scope"].isin(_SCOPES)], rate, baseline),
                         _corpus_points(r[r["scope"] == "dataset"], rate, baseline)], ignore_index=True)
        if pts.empty:
            others = [m for m in dict.fromkeys(g["method"]) if m != baseline]
            pts = pd.DataFrame([{"metric": x, "level": np.nan, "method": m, "test": np.nan, "anchor": np.nan, "rate": np.nan, "n": 0}
                                for m in others for x in dict.fromkeys(r["metric"])])
            pts["missing_baseline"] = True
        out.append(pts.assign(dataset_base=base, codec=codec, rate_unit={"bpp": "bpp", "bitrate_kbps": "kbit/s"}[col]))
    if not out:
        return pd.DataFrame()
    res = pd.concat(out, ignore_index=True).join(meta, on="metric")
    if "missing_baseline" not in res:
        res["missing_baseline"] = False
    res["missing_baseline"] = res["missing_baseline"].fillna(False).astype(bool)
    order = {m: i for i, m in enumerate(dict.fromkeys(df["method"]))}  # methods and metrics as the run lists them
    morder = {m: i for i, m in enumerate(metrics)}
    res = res.assign(_m=res["method"].map(order), _x=res["metric"].map(morder))
    return res.sort_values(["dataset_base", "codec", "_x", "_m", "rate"], kind="stable").drop(columns=["_m", "_x"]).reset_index(drop=True)


def _q(v: float, unit: str | None) -> str:
    return f"{v:.2f} dB" if unit == "dB" else f"{v:.4g}"


def _monotonic(pts: pd.DataFrame, col: str, who: str, metric: str, codec: str, sign: float) -> str | None:
    """Why the curve ``col`` of ``pts`` (sorted by rate) does not rise with the rate; None if it does."""
    q = sign * pts[col].to_numpy(dtype=float)
    for i in range(1, len(q)):
        if not q[i] > q[i - 1]:
            a, b = pts.iloc[i - 1], pts.iloc[i]
            verb = "stays at" if q[i] == q[i - 1] else ("falls" if sign > 0 else "rises")
            return (f"{who}'s {metric} curve is not monotonic: it {verb} from {_q(a[col], a['unit'])} at {level_text(codec, a['level'])} "
                    f"to {_q(b[col], b['unit'])} at {level_text(codec, b['level'])} although the rate rises")
    return None


def _refusal(pts: pd.DataFrame, method: str, baseline: str, metric: str, codec: str, sign: float) -> str | None:
    """Why no BD figure may be given for these points (sorted by rate); None: it may."""
    levels = ", ".join(level_text(codec, v) for v in pts["level"])
    if len(pts) < MIN_POINTS:
        return f"{len(pts)} rate point(s) ({levels or 'none'}); a BD figure needs at least {MIN_POINTS}"
    rates = pts["rate"].to_numpy(dtype=float)
    if not np.all(np.isfinite(rates)) or np.any(rates <= 0) or np.any(np.diff(rates) <= 0):
        return f"the rates of {levels} are not distinct and positive ({', '.join(f'{x:.4g}' for x in rates)})"
    bumps = [w for w in (_monotonic(pts, "anchor", baseline, metric, codec, sign), _monotonic(pts, "test", method, metric, codec, sign)) if w]
    return "; ".join(bumps) or None


def _bd_pair(pts: pd.DataFrame, method: str, baseline: str, interpolation: str) -> dict[str, Any]:
    """One BD row for the points of one method against the baseline on one metric."""
    import bjontegaard as bd

    first = pts.iloc[0]
    metric, codec, unit = first["metric"], first["codec"], first["unit"]
    sign = 1.0 if bool(first["higher_is_better"]) else -1.0
    row = {"dataset_base": first["dataset_base"], "codec": codec, "method": method, "baseline": baseline, "metric": metric,
           "bd_rate_pct": np.nan, "bd_quality": np.nan, "points": len(pts), "overlap": "none", "interpolation": interpolation, "note": ""}
    why = _refusal(pts, method, baseline, metric, codec, sign)
    if why:
        row["note"] = why
        return row
    r, qa, qt = pts["rate"].to_numpy(float), sign * pts["anchor"].to_numpy(float), sign * pts["test"].to_numpy(float)
    with warnings.catch_warnings():  # the overlap is judged and said below
        warnings.simplefilter("ignore")
        row["bd_quality"] = sign * float(bd.bd_psnr(r, qa, r, qt, method=interpolation, min_overlap=0))
        lo, hi = max(qa.min(), qt.min()), min(qa.max(), qt.max())
        if hi <= lo:
            ra, rt = sorted(sign * qa), sorted(sign * qt)
            row["note"] = (f"no BD-rate: the quality ranges do not overlap ({baseline} {_q(ra[0], unit)}–{_q(ra[-1], unit)}, "
                           f"{method} {_q(rt[0], unit)}–{_q(rt[-1], unit)}): no level of the codec alone reaches the method's quality, or the reverse")
            return row
        row["bd_rate_pct"] = float(bd.bd_rate(r, qa, r, qt, method=interpolation, min_overlap=0))
    ends = sorted([sign * lo, sign * hi])
    share = (hi - lo) / (max(qa.max(), qt.max()) - min(qa.min(), qt.min()))
    row["overlap"] = f"{_q(ends[0], unit)}–{_q(ends[1], unit)} ({share:.0%})"
    notes = []
    if share < LOW_OVERLAP:
        notes.append(f"BD-rate over {share:.0%} of the joint {metric} range (the reference package warns below {LOW_OVERLAP:.0%})")
    if pts["n"].nunique() > 1:  # an item failed at some level: the levels' means are over different items
        notes.append(f"items per level differ ({', '.join(str(int(n)) for n in pts['n'])})")
    row["note"] = "; ".join(notes)
    return row


def check_interpolation(interpolation: str) -> None:
    if interpolation not in INTERPOLATIONS:
        from ..errors import BenchError

        raise BenchError(f"BD interpolation {interpolation!r}: choose one of {', '.join(INTERPOLATIONS)}")


def compute(df: pd.DataFrame, baseline: str = "identity", interpolation: str = "pchip", pts: pd.DataFrame | None = None) -> pd.DataFrame:
    """The BD table (:data:`COLUMNS`): per data-set base, codec, metric and method against
    ``baseline``; a refused figure is NaN with its ``note``. ``pts``: :func:`curves`'s, if made."""
    check_interpolation(interpolation)
    pts = curves(df, baseline) if pts is None else pts
    rows = []
    if pts.empty:
        return pd.DataFrame(columns=COLUMNS)
    for (base, codec, metric, method), g in pts.groupby(["dataset_base", "codec", "metric", "method"], sort=False, dropna=False):
        if g["missing_baseline"].any():
            rows.append({"dataset_base": base, "codec": codec, "method": method, "baseline": baseline, "metric": metric, "bd_rate_pct": np.nan,
                         "bd_quality": np.nan, "points": 0, "overlap": "none", "interpolation": interpolation,
                         "note": f"the baseline {baseline!r} was not run on this sweep (choose another with --baseline)"})
            continue
        rows.append(_bd_pair(g.sort_values("rate").reset_index(drop=True), str(method), baseline, interpolation))
    return pd.DataFrame(rows, columns=COLUMNS)


def _match(g: pd.DataFrame, q: float, sign: float) -> tuple[float, float] | str:
    """The baseline's (level, rate) of quality ``q`` on its curve ``g`` (sorted by rate,
    monotonic): log rate against quality by pchip (monotone, through every point), the level
    linear in log rate between the two measured levels around it; a reason if outside the curve."""
    from scipy.interpolate import PchipInterpolator

    qa, lr = sign * g["anchor"].to_numpy(float), np.log10(g["rate"].to_numpy(float))
    x = sign * q
    codec = g["codec"].iloc[0]
    if x > qa.max() + 1e-12:
        return f"better than the codec alone at its best measured level ({level_text(codec, g['level'].iloc[-1])})"
    if x < qa.min() - 1e-12:
        return f"worse than the codec alone at its lowest measured level ({level_text(codec, g['level'].iloc[0])})"
    log_rate = float(PchipInterpolator(qa, lr)(x))
    return float(np.interp(log_rate, lr, g["level"].to_numpy(float))), float(10 ** log_rate)


def equal_quality(pts: pd.DataFrame, bd: pd.DataFrame) -> pd.DataFrame:
    """For each method and level of a sweep whose BD figure was given: the plain-codec level
    of the same quality ("ssim at QF 10 matches JPEG at QF 17"), its rate and the bits saved."""
    cols = ["dataset_base", "codec", "method", "metric", "level", "quality", "rate", "rate_unit", "matched_level", "matched_rate", "saved_pct", "cell", "text"]
    good = bd[bd["bd_quality"].notna()][["dataset_base", "codec", "method", "metric"]]
    if pts.empty or good.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for (base, codec, metric, method), g in pts.merge(good, on=["dataset_base", "codec", "method", "metric"]).groupby(
            ["dataset_base", "codec", "metric", "method"], sort=False):
        g = g.sort_values("rate").reset_index(drop=True)
        sign = 1.0 if bool(g["higher_is_better"].iloc[0]) else -1.0
        family = codec_label(codec)[0]
        for p in g.itertuples():
            m = _match(g, p.test, sign)
            head = f"{method} at {level_text(codec, p.level)}: {metric} {_q(p.test, p.unit)}"
            if isinstance(m, str):
                ends = g["level"].iloc[-1] if m.startswith("better") else g["level"].iloc[0]
                cell = f"{'beyond' if m.startswith('better') else 'below'} {level_text(codec, ends)}"
                rows.append([base, codec, method, metric, p.level, p.test, p.rate, p.rate_unit, np.nan, np.nan, np.nan, cell, f"{head}, {m}"])
                continue
            lvl, rate = m
            saved = 100 * (1 - p.rate / rate)
            text = (f"{head} matches {family} at {level_text(codec, lvl)} ({rate:.3g} {p.rate_unit} instead of {p.rate:.3g}: "
                    f"{abs(saved):.0f}% {'fewer' if saved >= 0 else 'more'} bits)")
            cell = f"{level_text(codec, lvl)} ({-saved:+.0f}% bits)"
            rows.append([base, codec, method, metric, p.level, p.test, p.rate, p.rate_unit, lvl, rate, saved, cell, text])
    return pd.DataFrame(rows, columns=cols)


def write_csv(bd: pd.DataFrame, path) -> None:
    """``bdrate.csv``: :data:`COLUMNS`, one row per (base, codec, method, metric)."""
    bd.to_csv(path, index=False, float_format="%.6g")


def _cells(r: Any) -> tuple[str, str]:
    """A BD row's figures as text: ('-20.6%', '+1.16 dB'); '—' where refused."""
    from .leaderboard import fmt

    rate = "—" if pd.isna(r.bd_rate_pct) else f"{r.bd_rate_pct:+.1f}%"
    unit = r._asdict().get("unit")  # a row of itertuples: the unit column where the table has one
    quality = "—" if pd.isna(r.bd_quality) else ("+" if r.bd_quality >= 0 else "") + fmt(r.bd_quality, unit) + (" dB" if unit == "dB" else "")
    return rate, quality


def views(res: "BDResult") -> list[dict[str, Any]]:
    """Per sweep: its title, BD rows (method, metric, figures, points, overlap, note) and the
    equal-quality table (method, metric, one cell per level) with an example sentence. A sweep
    with too few levels for any figure has no rows but one ``summary`` sentence instead."""
    units = res.points.drop_duplicates("metric").set_index("metric")["unit"].to_dict() if not res.points.empty else {}
    out = []
    for base, codec in res.sweeps():
        t = res.table[(res.table["dataset_base"] == base) & (res.table["codec"] == codec)]
        rows = []
        for r in t.assign(unit=t["metric"].map(units)).itertuples():
            rate, quality = _cells(r)
            rows.append({"method": r.method, "metric": r.metric, "bd_rate": rate, "bd_quality": quality, "points": int(r.points),
                         "overlap": r.overlap, "note": r.note or "", "value": r.bd_rate_pct})
        eq = res.equal[(res.equal["dataset_base"] == base) & (res.equal["codec"] == codec)]
        levels = sorted(eq["level"].unique())
        grid = [{"method": m, "metric": x, "cells": [next(iter(g[g["level"] == lv]["cell"]), "") for lv in levels]}
                for (m, x), g in eq.groupby(["method", "metric"], sort=False)]
        example = next((s for s in eq["text"] if "matches" in s), "")
        swept = res.points[(res.points["dataset_base"] == base) & (res.points["codec"] == codec)]["level"].dropna()
        span = f"{level_text(codec, swept.min())}–{level_text(codec, swept.max()).split(' ')[-1]}" if len(swept) else "(no baseline)"
        notes = {r["note"] for r in rows}
        few = len(notes) == 1 and f"a BD figure needs at least {MIN_POINTS}" in next(iter(notes)) and all(r["bd_rate"] == "—" for r in rows)
        summary = f"no BD figure for its {len(rows)} method/metric pair(s): {next(iter(notes))}" if few else ""
        out.append({"base": base, "codec": codec, "key": f"{base}/{codec}", "title": f"{base}, {codec_label(codec)[0]} {span}",
                    "family": codec_label(codec)[0], "rows": [] if few else rows, "summary": summary,
                    "levels": [level_text(codec, v) for v in levels], "equal": grid, "example": example})
    return out


@dataclass
class BDResult:
    """Everything a report shows of the BD analysis: the sweeps' points (:func:`curves`), the
    BD table (:func:`compute`), the equal-quality levels (:func:`equal_quality`)."""

    points: pd.DataFrame
    table: pd.DataFrame
    equal: pd.DataFrame
    baseline: str = "identity"
    interpolation: str = "pchip"

    @property
    def convention(self) -> str:
        return convention(self.interpolation)

    def write_csv(self, path) -> None:
        write_csv(self.table, path)

    def views(self) -> list[dict[str, Any]]:
        return views(self)

    def sweeps(self) -> list[tuple[str, str]]:
        """(dataset_base, codec) of every sweep with a BD row, in table order."""
        return list(dict.fromkeys(zip(self.table["dataset_base"], self.table["codec"])))


def analyse(df: pd.DataFrame, baseline: str = "identity", interpolation: str = "pchip") -> BDResult:
    """The BD analysis of a run's rows (empty tables where no sweep has enough levels to plot)."""
    pts = curves(df, baseline)
    table = compute(df, baseline, interpolation, pts=pts)
    return BDResult(pts, table, equal_quality(pts, table), baseline, interpolation)
