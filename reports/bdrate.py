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

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .sweeps import FAMILIES, bd_metrics, codec_label, curves, level_text, sweep_of  # noqa: F401  (the reports' names for them)

#: a number needs this many rate points per curve (the JVET/VCEG convention is 4)
MIN_POINTS = 4
INTERPOLATIONS = ("pchip", "cubic", "akima")
#: the reference package warns below this overlap; the note says so too
LOW_OVERLAP = 0.75
COLUMNS = [
    "dataset_base",
    "codec",
    "method",
    "baseline",
    "metric",
    "bd_rate_pct",
    "bd_quality",
    "points",
    "overlap",
    "interpolation",
    "note",
]


def convention(interpolation: str = "pchip") -> str:
    """The convention, said in every output that shows a BD figure."""
    from importlib import metadata

    try:
        version = metadata.version("bjontegaard")
    except metadata.PackageNotFoundError:
        version = "?"
    return (
        f"Bjøntegaard delta (VCEG-M33/JVET convention: log10 rate against quality, {interpolation} interpolation, "
        f"bjontegaard {version}); rate = the degraded input's (bpp or kbit/s); a negative BD-rate: bits saved at equal quality; "
        f"BD-quality: the method's mean gain at equal rate, in the metric's units; at least {MIN_POINTS} levels per curve"
    )


def _q(v: float, unit: str | None) -> str:
    return f"{v:.2f} dB" if unit == "dB" else f"{v:.4g}"


def _monotonic(pts: pd.DataFrame, col: str, who: str, metric: str, codec: str, sign: float) -> str | None:
    """Why the curve ``col`` of ``pts`` (sorted by rate) does not rise with the rate; None if it does."""
    q = sign * pts[col].to_numpy(dtype=float)
    for i in range(1, len(q)):
        if not q[i] > q[i - 1]:
            a, b = pts.iloc[i - 1], pts.iloc[i]
            verb = "stays at" if q[i] == q[i - 1] else ("falls" if sign > 0 else "rises")
            return (
                f"{who}'s {metric} curve is not monotonic: it {verb} from {_q(a[col], a['unit'])} at {level_text(codec, a['level'])} "
                f"to {_q(b[col], b['unit'])} at {level_text(codec, b['level'])} although the rate rises"
            )
    return None


def _refusal(pts: pd.DataFrame, method: str, baseline: str, metric: str, codec: str, sign: float) -> str | None:
    """Why no BD figure may be given for these points (sorted by rate); None: it may."""
    levels = ", ".join(level_text(codec, v) for v in pts["level"])
    if len(pts) < MIN_POINTS:
        return f"{len(pts)} rate point(s) ({levels or 'none'}); a BD figure needs at least {MIN_POINTS}"
    rates = pts["rate"].to_numpy(dtype=float)
    if not np.all(np.isfinite(rates)) or np.any(rates <= 0) or np.any(np.diff(rates) <= 0):
        return f"the rates of {levels} are not distinct and positive ({', '.join(f'{x:.4g}' for x in rates)})"
    bumps = [
        w
        for w in (
            _monotonic(pts, "anchor", baseline, metric, codec, sign),
            _monotonic(pts, "test", method, metric, codec, sign),
        )
        if w
    ]
    return "; ".join(bumps) or None


def _bd_pair(pts: pd.DataFrame, method: str, baseline: str, interpolation: str) -> dict[str, Any]:
    """One BD row for the points of one method against the baseline on one metric."""
    import bjontegaard as bd

    first = pts.iloc[0]
    metric, codec, unit = first["metric"], first["codec"], first["unit"]
    sign = 1.0 if bool(first["higher_is_better"]) else -1.0
    row = {
        "dataset_base": first["dataset_base"],
        "codec": codec,
        "method": method,
        "baseline": baseline,
        "metric": metric,
        "bd_rate_pct": np.nan,
        "bd_quality": np.nan,
        "points": len(pts),
        "overlap": "none",
        "interpolation": interpolation,
        "note": "",
    }
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
            row["note"] = (
                f"no BD-rate: the quality ranges do not overlap ({baseline} {_q(ra[0], unit)}–{_q(ra[-1], unit)}, "
                f"{method} {_q(rt[0], unit)}–{_q(rt[-1], unit)}): no level of the codec alone reaches the method's quality, or the reverse"
            )
            return row
        row["bd_rate_pct"] = float(bd.bd_rate(r, qa, r, qt, method=interpolation, min_overlap=0))
    ends = sorted([sign * lo, sign * hi])
    share = (hi - lo) / (max(qa.max(), qt.max()) - min(qa.min(), qt.min()))
    row["overlap"] = f"{_q(ends[0], unit)}–{_q(ends[1], unit)} ({share:.0%})"
    notes = []
    if share < LOW_OVERLAP:
        notes.append(
            f"BD-rate over {share:.0%} of the joint {metric} range (the reference package warns below {LOW_OVERLAP:.0%})"
        )
    if pts["n"].nunique() > 1:  # an item failed at some level: the levels' means are over different items
        notes.append(f"items per level differ ({', '.join(str(int(n)) for n in pts['n'])})")
    row["note"] = "; ".join(notes)
    return row


def check_interpolation(interpolation: str) -> None:
    if interpolation not in INTERPOLATIONS:
        from ..errors import BenchError

        raise BenchError(f"BD interpolation {interpolation!r}: choose one of {', '.join(INTERPOLATIONS)}")


def compute(
    df: pd.DataFrame, baseline: str = "identity", interpolation: str = "pchip", pts: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The BD table (:data:`COLUMNS`): per data-set base, codec, metric and method against
    ``baseline``; a refused figure is NaN with its ``note``. ``pts``: :func:`curves`'s, if made."""
    check_interpolation(interpolation)
    pts = curves(df, baseline) if pts is None else pts
    rows = []
    if pts.empty:
        return pd.DataFrame(columns=COLUMNS)
    for (base, codec, metric, method), g in pts.groupby(
        ["dataset_base", "codec", "metric", "method"], sort=False, dropna=False
    ):
        if g["missing_baseline"].any():
            rows.append(
                {
                    "dataset_base": base,
                    "codec": codec,
                    "method": method,
                    "baseline": baseline,
                    "metric": metric,
                    "bd_rate_pct": np.nan,
                    "bd_quality": np.nan,
                    "points": 0,
                    "overlap": "none",
                    "interpolation": interpolation,
                    "note": f"the baseline {baseline!r} was not run on this sweep (choose another with --baseline)",
                }
            )
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
    return float(np.interp(log_rate, lr, g["level"].to_numpy(float))), float(10**log_rate)


def equal_quality(pts: pd.DataFrame, bd: pd.DataFrame) -> pd.DataFrame:
    """For each method and level of a sweep whose BD figure was given: the plain-codec level
    of the same quality ("ssim at QF 10 matches JPEG at QF 17"), its rate and the bits saved."""
    cols = [
        "dataset_base",
        "codec",
        "method",
        "metric",
        "level",
        "quality",
        "rate",
        "rate_unit",
        "matched_level",
        "matched_rate",
        "saved_pct",
        "cell",
        "text",
    ]
    good = bd[bd["bd_quality"].notna()][["dataset_base", "codec", "method", "metric"]]
    if pts.empty or good.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for (base, codec, metric, method), g in pts.merge(good, on=["dataset_base", "codec", "method", "metric"]).groupby(
        ["dataset_base", "codec", "metric", "method"], sort=False
    ):
        g = g.sort_values("rate").reset_index(drop=True)
        sign = 1.0 if bool(g["higher_is_better"].iloc[0]) else -1.0
        family = codec_label(codec)[0]
        for p in g.itertuples():
            m = _match(g, p.test, sign)
            head = f"{method} at {level_text(codec, p.level)}: {metric} {_q(p.test, p.unit)}"
            if isinstance(m, str):
                ends = g["level"].iloc[-1] if m.startswith("better") else g["level"].iloc[0]
                cell = f"{'beyond' if m.startswith('better') else 'below'} {level_text(codec, ends)}"
                rows.append(
                    [
                        base,
                        codec,
                        method,
                        metric,
                        p.level,
                        p.test,
                        p.rate,
                        p.rate_unit,
                        np.nan,
                        np.nan,
                        np.nan,
                        cell,
                        f"{head}, {m}",
                    ]
                )
                continue
            lvl, rate = m
            saved = 100 * (1 - p.rate / rate)
            text = (
                f"{head} matches {family} at {level_text(codec, lvl)} ({rate:.3g} {p.rate_unit} instead of {p.rate:.3g}: "
                f"{abs(saved):.0f}% {'fewer' if saved >= 0 else 'more'} bits)"
            )
            cell = f"{level_text(codec, lvl)} ({-saved:+.0f}% bits)"
            rows.append(
                [base, codec, method, metric, p.level, p.test, p.rate, p.rate_unit, lvl, rate, saved, cell, text]
            )
    return pd.DataFrame(rows, columns=cols)


def write_csv(bd: pd.DataFrame, path) -> None:
    """``bdrate.csv``: :data:`COLUMNS`, one row per (base, codec, method, metric)."""
    bd.to_csv(path, index=False, float_format="%.6g")


def _cells(r: Any) -> tuple[str, str]:
    """A BD row's figures as text: ('-20.6%', '+1.16 dB'); '—' where refused."""
    from .leaderboard import fmt

    rate = "—" if pd.isna(r.bd_rate_pct) else f"{r.bd_rate_pct:+.1f}%"
    unit = r._asdict().get("unit")  # a row of itertuples: the unit column where the table has one
    quality = (
        "—"
        if pd.isna(r.bd_quality)
        else ("+" if r.bd_quality >= 0 else "") + fmt(r.bd_quality, unit) + (" dB" if unit == "dB" else "")
    )
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
            rows.append(
                {
                    "method": r.method,
                    "metric": r.metric,
                    "bd_rate": rate,
                    "bd_quality": quality,
                    "points": int(r.points),
                    "overlap": r.overlap,
                    "note": r.note or "",
                    "value": r.bd_rate_pct,
                }
            )
        eq = res.equal[(res.equal["dataset_base"] == base) & (res.equal["codec"] == codec)]
        levels = sorted(eq["level"].unique())
        grid = [
            {"method": m, "metric": x, "cells": [next(iter(g[g["level"] == lv]["cell"]), "") for lv in levels]}
            for (m, x), g in eq.groupby(["method", "metric"], sort=False)
        ]
        example = next((s for s in eq["text"] if "matches" in s), "")
        swept = res.points[(res.points["dataset_base"] == base) & (res.points["codec"] == codec)]["level"].dropna()
        span = (
            f"{level_text(codec, swept.min())}–{level_text(codec, swept.max()).split(' ')[-1]}"
            if len(swept)
            else "(no baseline)"
        )
        notes = {r["note"] for r in rows}
        few = (
            len(notes) == 1
            and f"a BD figure needs at least {MIN_POINTS}" in next(iter(notes))
            and all(r["bd_rate"] == "—" for r in rows)
        )
        summary = f"no BD figure for its {len(rows)} method/metric pair(s): {next(iter(notes))}" if few else ""
        out.append(
            {
                "base": base,
                "codec": codec,
                "key": f"{base}/{codec}",
                "title": f"{base}, {codec_label(codec)[0]} {span}",
                "family": codec_label(codec)[0],
                "rows": [] if few else rows,
                "summary": summary,
                "levels": [level_text(codec, v) for v in levels],
                "equal": grid,
                "example": example,
            }
        )
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
