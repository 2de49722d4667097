"""The statistics of subjective studies: MOS and DMOS with 95% intervals, BT.500 rater screening
plus the hidden-reference and repeat checks, Bradley-Terry scores, and the values as result rows."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BenchError
from .study_db import HIDDEN, get_study, now


def mean_ci(values: np.ndarray, bounds: tuple[float, float] | None = None) -> tuple[float, float | None, float | None]:
    """Mean and 95% interval (Student t; BT.500's 1.96 S/sqrt(N) for large N), clipped to ``bounds`` (the scale);
    no interval (None, None) under two values, where none can be estimated."""
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    if len(v) < 2:
        return (float(v.mean()) if len(v) else float("nan"), None, None)
    half = float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    lo, hi = float(v.mean() - half), float(v.mean() + half)
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return float(v.mean()), lo, hi


def bt500_screen(scores: dict[tuple[str, int], float]) -> dict[str, str]:
    """ITU-R BT.500 Annex 2 §2.3.1 observer screening over (rater, presentation) scores:
    {rater: reason} for the raters it rejects. Per presentation, the kurtosis beta2 decides
    whether the score distribution counts as normal (2..4: threshold 2 sigma, else
    sqrt(20) sigma); a rater is rejected when more than 5% of their scores lie outside and
    the outliers are not one-sided (|P-Q|/(P+Q) < 0.3)."""
    by_stim: dict[int, list[float]] = {}
    for (_, s), v in scores.items():
        by_stim.setdefault(s, []).append(v)
    limits = {}
    for s, vals in by_stim.items():
        v = np.array(vals)
        if len(v) < 2 or v.std(ddof=1) == 0:
            continue  # nothing to screen against
        m2, m4 = ((v - v.mean()) ** 2).mean(), ((v - v.mean()) ** 4).mean()
        beta2 = m4 / m2**2
        k = 2.0 if 2 <= beta2 <= 4 else np.sqrt(20)
        sd = v.std(ddof=1)
        limits[s] = (v.mean() + k * sd, v.mean() - k * sd)
    counts: dict[str, list[int]] = {}
    for (r, s), v in scores.items():
        c = counts.setdefault(r, [0, 0, 0])
        c[2] += 1
        if s in limits:
            c[0] += v >= limits[s][0]
            c[1] += v <= limits[s][1]
    out = {}
    for r, (p, q, n) in counts.items():
        if n and (p + q) / n > 0.05 and abs(p - q) / (p + q) < 0.3:
            out[r] = f"BT.500 screening: {p + q} of {n} scores outside the per-presentation limits (P={p}, Q={q})"
    return out


def bradley_terry(wins: list[tuple[str, str]], names: list[str], ridge: float = 1e-3) -> np.ndarray:
    """Maximum-likelihood Bradley-Terry log-strengths (mean 0) from (winner, loser) pairs;
    a small ridge keeps them finite when a method always wins."""
    from scipy.optimize import minimize

    idx = {n: i for i, n in enumerate(names)}
    w = np.array([idx[a] for a, _ in wins])
    l_ = np.array([idx[b] for _, b in wins])

    def nll(s):
        d = s[w] - s[l_]
        p = 1 / (1 + np.exp(-d))
        g = np.zeros_like(s)
        np.add.at(g, w, -(1 - p))
        np.add.at(g, l_, 1 - p)
        return float(np.logaddexp(0, -d).sum() + ridge * (s**2).sum()), g + 2 * ridge * s

    s = minimize(nll, np.zeros(len(names)), jac=True, method="L-BFGS-B").x
    return s - s.mean()


@dataclass
class Results:
    study: dict[str, Any]
    raters: dict[
        str, dict[str, Any]
    ]  # pseudonym (rater-N) -> {name (typed, for the operator only), answers, kept, reason, hidden, repeat}
    methods: list[dict[str, Any]]  # method rows (mos/dmos or bt) with intervals
    items: list[dict[str, Any]] = field(default_factory=list)  # per (method, item)
    notes: list[str] = field(default_factory=list)

    @property
    def kept(self) -> list[str]:
        return [r for r, d in self.raters.items() if d["kept"]]


def _answers(con: sqlite3.Connection, study: str) -> list[sqlite3.Row]:
    return con.execute(
        """SELECT a.rater, a.idx, a.value, t.role, t.stimulus, st.item_id, st.method, st.method_b
                          FROM answers a JOIN trials t ON t.study=a.study AND t.rater=a.rater AND t.idx=a.idx
                          JOIN stimuli st ON st.study=t.study AND st.id=t.stimulus WHERE a.study=?""",
        (study,),
    ).fetchall()


def _raters(con: sqlite3.Connection, study: str, rows: list[sqlite3.Row]) -> dict[str, dict[str, Any]]:
    """Every rater who answered (by id): pseudonym, typed name, answer count, kept (so far) and no reason."""
    known = {
        r["id"]: (f"rater-{r['seq']}", r["name"] or "anonymous")
        for r in con.execute("SELECT id, name, seq FROM raters WHERE study=?", (study,))
    }
    raters = {}
    for rid in dict.fromkeys(r["rater"] for r in rows):
        alias, name = known.get(rid, (f"rater-?{len(raters) + 1}", "?"))
        raters[rid] = {
            "pseudonym": alias,
            "name": name,
            "answers": sum(1 for r in rows if r["rater"] == rid),
            "kept": True,
            "reason": "",
        }
    return raters


def public_raters(res: Results) -> dict[str, dict[str, Any]]:
    """The raters as anyone may see them (the results API, the rows' manifest): by pseudonym, without the typed name."""
    return {alias: {k: v for k, v in d.items() if k != "name"} for alias, d in res.raters.items()}


def _check_repeats(
    s: dict[str, Any],
    raters: dict[str, dict[str, Any]],
    rows: list[sqlite3.Row],
    first: dict[tuple[str, int], float],
    reasons: dict[str, list[str]],
) -> None:
    """Repeat consistency of each rater (``repeat``: mean difference, DSIS, or agreement, pairwise), and the reason to drop them."""
    for rid in raters:
        pairs = [
            (first[(rid, r["stimulus"])], r["value"])
            for r in rows
            if r["rater"] == rid and r["role"] == "repeat" and (rid, r["stimulus"]) in first
        ]
        if not pairs:
            raters[rid]["repeat"] = None
            continue
        if s["protocol"] == "dsis":
            diff = float(np.mean([abs(a - b) for a, b in pairs]))
            raters[rid]["repeat"] = diff
            if diff > (1.0 if s["scale"] == 5 else 20.0):
                reasons.setdefault(rid, []).append(
                    f"repeated trials differ by {diff:.2f} on average (limit {1 if s['scale'] == 5 else 20})"
                )
        else:
            agree = float(np.mean([a == b for a, b in pairs]))
            raters[rid]["repeat"] = agree
            if len(pairs) >= 2 and agree < 0.5:
                reasons.setdefault(rid, []).append(f"agrees with themself on {agree:.0%} of repeated trials (< 50%)")


def _check_hidden(
    s: dict[str, Any],
    raters: dict[str, dict[str, Any]],
    rows: list[sqlite3.Row],
    first: dict[tuple[str, int], float],
    reasons: dict[str, list[str]],
) -> None:
    """Each rater's mean answer to the hidden reference (``hidden``); a DSIS rater grading it low is a reason to drop them."""
    for rid in raters:
        h = [
            v
            for (r, st), v in first.items()
            if r == rid and st in {x["stimulus"] for x in rows if x["method"] == HIDDEN}
        ]
        if not h:
            raters[rid]["hidden"] = None
            continue
        if s["protocol"] == "dsis":
            raters[rid]["hidden"] = float(np.mean(h))
            limit = 4.0 if s["scale"] == 5 else 60.0
            if np.mean(h) < limit:
                reasons.setdefault(rid, []).append(
                    f"graded the unimpaired hidden reference {np.mean(h):.2f} on average (below {limit:g})"
                )
        else:  # a = reference in a hidden-reference pair: value 1 = the reference won
            raters[rid]["hidden"] = float(np.mean(h))


def _screen(raters: dict[str, dict[str, Any]], reasons: dict[str, list[str]], screen: bool) -> None:
    """Drop the raters with reasons (never the last one; none without ``screen``), noting why."""
    if screen:
        for rid, why in reasons.items():
            if len(raters) - sum(not d["kept"] for d in raters.values()) > 1:
                raters[rid]["kept"], raters[rid]["reason"] = False, "; ".join(why)
            else:
                raters[rid]["reason"] = "; ".join(why) + " (kept: the last rater)"
    else:
        for rid, why in reasons.items():
            raters[rid]["reason"] = "; ".join(why) + " (kept: --no-screen)"


def _dsis_scores(res: Results, rows: list[sqlite3.Row], kept: set[str]) -> None:
    """MOS and DMOS with intervals per method and per (method, item), from the kept raters' first answers."""
    s = res.study
    main = [r for r in rows if r["role"] != "repeat" and r["rater"] in kept]
    hidden = {(r["rater"], r["item_id"]): r["value"] for r in main if r["method"] == HIDDEN}
    top = float(s["scale"])
    scale = (1.0 if s["scale"] == 5 else 0.0, top)  # intervals are clipped to the grades' range
    span = (scale[0] - top, top - scale[0])  # DMOS: reference grade minus grade
    for m in s["config"]["methods"] + [HIDDEN]:
        mr = [r for r in main if r["method"] == m]
        if not mr:
            continue
        mos = mean_ci(np.array([r["value"] for r in mr]), scale)
        d = np.array([hidden.get((r["rater"], r["item_id"]), top) - r["value"] for r in mr])
        dmos = mean_ci(d, span)
        res.methods.append(
            {
                "method": m,
                "mos": mos[0],
                "mos_lo": mos[1],
                "mos_hi": mos[2],
                "dmos": dmos[0],
                "dmos_lo": dmos[1],
                "dmos_hi": dmos[2],
                "n": len(mr),
                "raters": len({r["rater"] for r in mr}),
            }
        )
        for item in dict.fromkeys(r["item_id"] for r in mr):
            ir = [r for r in mr if r["item_id"] == item]
            a, lo, hi = mean_ci(np.array([r["value"] for r in ir]), scale)
            dd = mean_ci(np.array([hidden.get((r["rater"], item), top) - r["value"] for r in ir]), span)
            res.items.append(
                {
                    "method": m,
                    "item_id": item,
                    "mos": a,
                    "mos_lo": lo,
                    "mos_hi": hi,
                    "dmos": dd[0],
                    "dmos_lo": dd[1],
                    "dmos_hi": dd[2],
                    "raters": len(ir),
                }
            )
    res.notes.append(
        "MOS: mean grade of the kept raters; DMOS: hidden-reference grade minus grade, per rater and item (lower is better); "
        "95% Student-t intervals over all grades, clipped to the scale; none (null) under two grades"
    )


def _pairwise_scores(res: Results, study: str, rows: list[sqlite3.Row], kept: set[str], boot: int, seed: int) -> None:
    """Bradley-Terry scores per method with bootstrap intervals, from the kept raters' first answers."""
    methods = res.study["config"]["methods"]
    wins = [
        ((r["method"], r["method_b"]) if r["value"] == 1 else (r["method_b"], r["method"]))
        for r in rows
        if r["role"] != "repeat" and r["rater"] in kept and r["method"] != HIDDEN
    ]
    if not wins:
        raise BenchError(f"study {study!r}: no pairwise answers from kept raters yet")
    est = bradley_terry(wins, methods)
    rng = np.random.default_rng(seed)
    bs = np.array(
        [bradley_terry([wins[i] for i in rng.integers(0, len(wins), len(wins))], methods) for _ in range(boot)]
    )
    lo, hi = np.percentile(bs, [2.5, 97.5], axis=0)
    for i, m in enumerate(methods):
        won = sum(1 for a, _ in wins if a == m)
        played = sum(1 for a, b in wins if m in (a, b))
        res.methods.append(
            {
                "method": m,
                "bt": float(est[i]),
                "bt_lo": float(lo[i]),
                "bt_hi": float(hi[i]),
                "wins": won,
                "n": played,
                "raters": len(kept),
            }
        )
    res.notes.append(
        f"Bradley-Terry log-strengths (mean 0; +1 = e:1 odds), maximum likelihood; 95% percentile bootstrap over "
        f"{len(wins)} answers ({boot} resamples)"
    )


def results(con: sqlite3.Connection, study: str, screen: bool = True, boot: int = 1000, seed: int = 0) -> Results:
    """The study's values after rater screening: MOS/DMOS (DSIS) or Bradley-Terry scores (pairwise), each with a 95% interval."""
    s = get_study(con, study)
    rows = _answers(con, study)
    raters = _raters(con, study, rows)
    if not rows:
        raise BenchError(f"study {study!r} has no answers yet; raters open /study/{study} in `bench serve`")
    first = {(r["rater"], r["stimulus"]): r["value"] for r in rows if r["role"] != "repeat"}
    reasons: dict[str, list[str]] = {}
    _check_repeats(s, raters, rows, first, reasons)
    _check_hidden(s, raters, rows, first, reasons)
    if s["protocol"] == "dsis":
        for rid, why in bt500_screen({k: v for k, v in first.items()}).items():
            reasons.setdefault(rid, []).append(why)
    _screen(raters, reasons, screen)
    kept = {r for r, d in raters.items() if d["kept"]}
    res = Results(study=s, raters={d.pop("pseudonym"): d for d in raters.values()}, methods=[])
    if s["protocol"] == "dsis":
        _dsis_scores(res, rows, kept)
    else:
        _pairwise_scores(res, study, rows, kept, boot, seed)
    return res


def write_rows(res: Results, runs_dir: Path) -> Path:
    """The study's values as an ordinary run: ``RUNS_DIR/study-NAME/`` (scores, manifest)."""
    from benchmark.run.results import bench_version, to_frame, write_manifest, write_scores

    s = res.study
    run_id = f"study-{s['name']}"
    rows = study_rows(res, run_id)
    out = Path(runs_dir) / run_id
    write_scores(out, to_frame(rows))
    write_manifest(
        out,
        {
            "run_id": run_id,
            "started": now(),
            "status": "complete",
            "command": ["bench", "study", "results", s["name"]],
            "rows": len(rows),
            "bench": bench_version(),
            "study": {k: s[k] for k in ("name", "protocol", "scale", "run_id", "dataset")},
            "raters": public_raters(res),
            "kept": len(res.kept),
        },
    )
    return out


def study_rows(res: Results, run_id: str) -> list[dict[str, Any]]:
    """The study's tidy rows: MOS and DMOS per item (DSIS) or each method's Bradley-Terry score
    (pairwise), and the raters behind each method."""
    from benchmark.run.results import make_row, no_values

    s = res.study
    base = no_values(
        run_id=run_id,
        dataset=s["dataset"],
        base=s["base"],
        degradation=s["degradation"],
        method_version="study",
        metric_version="1",
        crop_border=0,
        status="ok",
        error=None,
        frame=-1,
    )
    unit = "1-5" if s["scale"] == 5 else "0-100"
    rows = []
    if s["protocol"] == "dsis":
        for it in res.items:
            if it["method"] == HIDDEN:
                continue
            for metric, hib in (("mos", True), ("dmos", False)):
                rows.append(
                    make_row(
                        **base,
                        item_id=it["item_id"],
                        scope="image",
                        method=it["method"],
                        metric=metric,
                        value=it[metric],
                        higher_is_better=hib,
                        unit=unit,
                    )
                )
    else:
        for m in res.methods:
            rows.append(
                make_row(
                    **base,
                    item_id="*",
                    scope="dataset",
                    method=m["method"],
                    metric="bt-score",
                    value=m["bt"],
                    higher_is_better=True,
                    unit="log-odds",
                )
            )
    for m in res.methods:
        if m["method"] != HIDDEN:
            rows.append(
                make_row(
                    **base,
                    item_id="*",
                    scope="dataset",
                    method=m["method"],
                    metric="mos-raters",
                    value=float(m["raters"]),
                    higher_is_better=True,
                    unit="raters",
                )
            )
    return rows
