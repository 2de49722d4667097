"""Subjective studies: DSIS (ITU-R BT.500) and pairwise preference, stored in SQLite.

A study is built from a run's outputs (``bench study create RUN``): the chosen items'
reference and each method's output are copied, under generated names, into
``RUNS_DIR/.studies/NAME/``; the study, its stimuli, every rater's randomised trial list
and every answer live in one SQLite file beside the runs (``RUNS_DIR/studies.sqlite``,
WAL mode), written the moment an answer is given, so a rater can stop and resume.

DSIS (double-stimulus impairment scale): the reference is shown, then the impaired
version; the rater grades the impairment on the 5-level scale (5 imperceptible ...
1 very annoying), or on a continuous 0-100 scale with the same labels. Each item also
comes once with the reference itself as the "impaired" picture (hidden reference), and
a few trials come twice (repeats), to check raters.

Pairwise: two methods' outputs of one item side by side (sides randomised); the rater
picks the better one. Repeated trials check consistency; one trial per item pairs the
reference with a method (hidden reference).

Statistics (:func:`results`): MOS and DMOS per method and per (method, item) with 95%
Student-t intervals; BT.500 Annex 2 rater screening (kurtosis-based outlier counts) plus
the hidden-reference and repeat checks; Bradley-Terry scores (maximum likelihood) with
95% bootstrap intervals for pairwise studies. :func:`write_rows` turns them into ordinary
result rows (metric ``mos``, higher is better; ``dmos``, lower is better; ``bt-score``;
``mos-raters``: how many raters stand behind the values) in ``RUNS_DIR/study-NAME/``.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BenchError

DB_NAME = "studies.sqlite"
MEDIA_DIR = ".studies"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
PROTOCOLS = ("dsis", "pairwise")
HIDDEN = "(hidden reference)"
REFERENCE = "reference"
DSIS_LABELS = {5: "imperceptible", 4: "perceptible, but not annoying", 3: "slightly annoying", 2: "annoying", 1: "very annoying"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS studies(name TEXT PRIMARY KEY, protocol TEXT NOT NULL, scale INTEGER NOT NULL, run_dir TEXT,
    run_id TEXT, dataset TEXT, base TEXT, degradation TEXT, created TEXT, config TEXT);
CREATE TABLE IF NOT EXISTS stimuli(study TEXT NOT NULL, id INTEGER NOT NULL, item_id TEXT NOT NULL, method TEXT NOT NULL,
    method_b TEXT, ref TEXT, a TEXT NOT NULL, b TEXT, PRIMARY KEY(study, id));
CREATE TABLE IF NOT EXISTS raters(study TEXT NOT NULL, id TEXT NOT NULL, name TEXT, created TEXT, PRIMARY KEY(study, id));
CREATE TABLE IF NOT EXISTS trials(study TEXT NOT NULL, rater TEXT NOT NULL, idx INTEGER NOT NULL, stimulus INTEGER NOT NULL,
    role TEXT NOT NULL, swap INTEGER NOT NULL, PRIMARY KEY(study, rater, idx));
CREATE TABLE IF NOT EXISTS answers(study TEXT NOT NULL, rater TEXT NOT NULL, idx INTEGER NOT NULL, value REAL NOT NULL,
    answered TEXT NOT NULL, PRIMARY KEY(study, rater, idx));
"""


def connect(runs_dir: Path) -> sqlite3.Connection:
    """The studies database beside the runs (created on first use), in WAL mode."""
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(runs_dir / DB_NAME, timeout=10, check_same_thread=False, isolation_level=None)
    con.row_factory = sqlite3.Row
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.executescript(SCHEMA)
    return con


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name or ""):
        raise BenchError(f"study name {name!r}: use 1-64 letters, digits, '-' or '_' (starting with a letter or digit)")
    return name


def _now() -> str:
    from ..results import now_utc

    return now_utc()


# ----------------------------------------------------------------------------- create
def _first_frame(cache_dir: str, key: str | None) -> Path | None:
    from ..cache import frames_dir

    if not key:
        return None
    p = frames_dir(cache_dir, key) / "000000.png"
    return p if p.is_file() else None


def create(run_dir: Path, protocol: str = "dsis", methods: list[str] | None = None, items: int | None = None, name: str | None = None,
           scale: int = 5, dataset: str | None = None, repeats: int | None = None, seed: int = 0) -> dict[str, Any]:
    """Build a study from the image items of one data set of ``run_dir`` (its ``artifacts.json``)."""
    from ..imaging import read_image, write_png
    from ..results import read_scores

    run_dir = Path(run_dir)
    if protocol not in PROTOCOLS:
        raise BenchError(f"--protocol {protocol!r}: choose one of {', '.join(PROTOCOLS)}")
    if scale not in (5, 100):
        raise BenchError(f"--scale {scale}: use 5 (the 5-level impairment scale) or 100 (the continuous 0-100 variant)")
    art_path = run_dir / "artifacts.json"
    if not art_path.is_file():
        raise BenchError(f"{run_dir}: no artifacts.json (not a run directory of `bench run`?)")
    art = json.loads(art_path.read_text())
    manifest = json.loads((run_dir / "manifest.json").read_text()) if (run_dir / "manifest.json").exists() else {}
    images = [a for a in art["items"] if a.get("kind") == "image" and a.get("outputs")]
    if not images:
        raise BenchError(f"{run_dir}: no image items with method outputs (studies show still images; video items are not supported)")
    datasets = list(dict.fromkeys(a["dataset"] for a in images))
    ds = dataset or datasets[0]
    if ds not in datasets:
        raise BenchError(f"--dataset {ds!r}: the run has image outputs for {', '.join(datasets)}")
    chosen = [a for a in images if a["dataset"] == ds]
    have = list(dict.fromkeys(m for a in chosen for m in a["outputs"]))
    methods = methods or have
    missing = [m for m in methods if m not in have]
    if missing:
        raise BenchError(f"--methods: {', '.join(missing)} not in run {run_dir.name} for {ds}; it has {', '.join(have)}")
    if protocol == "pairwise" and len(methods) < 2:
        raise BenchError("a pairwise study needs at least two methods (--methods a,b)")
    chosen = [a for a in chosen if all(m in a["outputs"] for m in methods)]
    rng = np.random.default_rng(seed)
    if items is not None and items < len(chosen):
        chosen = [chosen[i] for i in sorted(rng.choice(len(chosen), items, replace=False))]
    name = check_name(name or f"{run_dir.name}-{protocol}")
    con = connect(run_dir.parent)
    if con.execute("SELECT 1 FROM studies WHERE name=?", (name,)).fetchone():
        raise BenchError(f"study {name!r} exists already in {run_dir.parent / DB_NAME}; pick another --name")
    media = run_dir.parent / MEDIA_DIR / name
    media.mkdir(parents=True, exist_ok=True)
    files: dict[tuple[str, str], str] = {}

    def stash(item_id: str, label: str, src: Path | None, source: str | None = None) -> str:
        if (item_id, label) in files:
            return files[(item_id, label)]
        fn = f"{secrets.token_hex(8)}.png"
        if src is not None:
            shutil.copyfile(src, media / fn)
        elif source and Path(source).is_file():
            write_png(media / fn, read_image(source))
        else:
            raise BenchError(f"item {item_id}: the {label} image is not in the cache any more; rerun `bench run` for {run_dir}")
        files[(item_id, label)] = fn
        return fn

    rows = read_scores(run_dir)
    meta = rows[rows["dataset"] == ds].iloc[0] if (rows["dataset"] == ds).any() else None
    stimuli = []
    try:
        for a in chosen:
            ref = stash(a["item_id"], REFERENCE, _first_frame(art["cache_dir"], a.get("reference")), a.get("source"))
            outs = {m: stash(a["item_id"], m, _first_frame(art["cache_dir"], a["outputs"][m])) for m in methods}
            if protocol == "dsis":
                stimuli += [(a["item_id"], m, None, ref, outs[m], None) for m in methods]
                stimuli.append((a["item_id"], HIDDEN, None, ref, ref, None))
            else:
                stimuli += [(a["item_id"], m1, m2, ref, outs[m1], outs[m2]) for m1, m2 in itertools.combinations(methods, 2)]
                m = methods[int(rng.integers(len(methods)))]
                stimuli.append((a["item_id"], HIDDEN, m, ref, ref, outs[m]))
    except BenchError:
        shutil.rmtree(media, ignore_errors=True)
        raise
    n_test = sum(1 for s in stimuli if s[1] != HIDDEN)
    repeats = max(1, round(0.1 * n_test)) if repeats is None else repeats
    cfg = {"methods": methods, "items": [a["item_id"] for a in chosen], "repeats": min(repeats, n_test), "seed": seed}
    with con:
        con.execute("BEGIN")
        con.execute("INSERT INTO studies VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (name, protocol, scale if protocol == "dsis" else 0, str(run_dir.resolve()), str(manifest.get("run_id") or run_dir.name), ds,
                     None if meta is None else str(meta["base"]), None if meta is None else str(meta["degradation"]), _now(), json.dumps(cfg)))
        con.executemany("INSERT INTO stimuli VALUES (?,?,?,?,?,?,?,?)", [(name, i, *s) for i, s in enumerate(stimuli)])
    con.close()
    return {"name": name, "protocol": protocol, "scale": scale, "dataset": ds, "methods": methods, "items": cfg["items"],
            "stimuli": len(stimuli), "trials_per_rater": len(stimuli) + cfg["repeats"], "db": str(run_dir.parent / DB_NAME), "media": str(media)}


# ----------------------------------------------------------------------------- rating
def get_study(con: sqlite3.Connection, name: str) -> dict[str, Any]:
    r = con.execute("SELECT * FROM studies WHERE name=?", (name,)).fetchone()
    if r is None:
        known = [x[0] for x in con.execute("SELECT name FROM studies ORDER BY created")]
        raise BenchError(f"no study {name!r}" + (f"; known: {', '.join(known)}" if known else "; create one with `bench study create RUN`"))
    out = dict(r)
    out["config"] = json.loads(out["config"] or "{}")
    return out


def list_studies(con: sqlite3.Connection) -> list[dict[str, Any]]:
    out = []
    for r in con.execute("SELECT name, protocol, scale, dataset, created, config FROM studies ORDER BY created"):
        d = dict(r)
        d["config"] = json.loads(d["config"] or "{}")
        d["raters"] = con.execute("SELECT COUNT(*) FROM raters WHERE study=?", (d["name"],)).fetchone()[0]
        d["answers"] = con.execute("SELECT COUNT(*) FROM answers WHERE study=?", (d["name"],)).fetchone()[0]
        out.append(d)
    return out


def add_rater(con: sqlite3.Connection, study: str, name: str | None = None) -> str:
    """A new rater with a randomised trial list (or the existing rater of that name: resume).
    Repeats are placed in the second half, never right after their first showing."""
    get_study(con, study)
    name = (name or "").strip()[:64] or None
    if name:
        r = con.execute("SELECT id FROM raters WHERE study=? AND name=?", (study, name)).fetchone()
        if r:
            return r[0]
    rid = secrets.token_hex(8)
    cfg = get_study(con, study)["config"]
    ids = [r[0] for r in con.execute("SELECT id FROM stimuli WHERE study=? ORDER BY id", (study,))]
    hidden = {r[0] for r in con.execute("SELECT id FROM stimuli WHERE study=? AND method=?", (study, HIDDEN))}
    rng = np.random.default_rng(int(rid, 16))
    order = [int(i) for i in rng.permutation(ids)]
    tests = [i for i in order if i not in hidden]
    reps = [int(i) for i in rng.choice(tests, min(cfg.get("repeats", 0), len(tests)), replace=False)] if tests else []
    trials = [(i, "hidden-reference" if i in hidden else "test") for i in order]
    for s in reps:
        first = next(k for k, (i, _) in enumerate(trials) if i == s)
        lo = max(first + 2, len(trials) // 2)
        trials.insert(int(rng.integers(lo, len(trials) + 1)) if lo <= len(trials) else len(trials), (s, "repeat"))
    with con:
        con.execute("BEGIN")
        con.execute("INSERT INTO raters VALUES (?,?,?,?)", (study, rid, name, _now()))
        con.executemany("INSERT INTO trials VALUES (?,?,?,?,?,?)",
                        [(study, rid, k, s, role, int(rng.integers(2))) for k, (s, role) in enumerate(trials)])
    return rid


def next_trial(con: sqlite3.Connection, study: str, rater: str) -> dict[str, Any]:
    """The rater's first unanswered trial (what the page shows), or ``{"done": True}``."""
    s = get_study(con, study)
    if not con.execute("SELECT 1 FROM raters WHERE study=? AND id=?", (study, rater)).fetchone():
        raise BenchError(f"study {study!r}: unknown rater {rater!r}; start again from /study/{study}")
    total = con.execute("SELECT COUNT(*) FROM trials WHERE study=? AND rater=?", (study, rater)).fetchone()[0]
    r = con.execute("""SELECT t.idx, t.swap, st.ref, st.a, st.b FROM trials t JOIN stimuli st ON st.study=t.study AND st.id=t.stimulus
                       WHERE t.study=? AND t.rater=? AND t.idx NOT IN (SELECT idx FROM answers WHERE study=? AND rater=?)
                       ORDER BY t.idx LIMIT 1""", (study, rater, study, rater)).fetchone()
    answered = con.execute("SELECT COUNT(*) FROM answers WHERE study=? AND rater=?", (study, rater)).fetchone()[0]
    base = {"protocol": s["protocol"], "scale": s["scale"], "total": total, "answered": answered}
    if r is None:
        return {**base, "done": True}
    url = f"/api/study/{study}/media/"
    if s["protocol"] == "dsis":  # the page never learns which method it shows
        return {**base, "done": False, "trial": r["idx"], "reference": url + r["ref"], "impaired": url + r["a"]}
    left, right = (r["b"], r["a"]) if r["swap"] else (r["a"], r["b"])
    return {**base, "done": False, "trial": r["idx"], "left": url + left, "right": url + right}


def answer(con: sqlite3.Connection, study: str, rater: str, trial: int, value: float) -> None:
    """Store one answer now. DSIS: the grade (1-5, or 0-100). Pairwise: 0 = left, 1 = right
    as shown; stored as 1 when the stimulus' first method (``a``) won."""
    s = get_study(con, study)
    t = con.execute("SELECT swap FROM trials WHERE study=? AND rater=? AND idx=?", (study, rater, trial)).fetchone()
    if t is None:
        raise BenchError(f"study {study!r}: rater {rater!r} has no trial {trial}")
    if s["protocol"] == "dsis":
        ok = value in (1, 2, 3, 4, 5) if s["scale"] == 5 else 0 <= value <= 100
        if not ok:
            raise BenchError(f"score {value}: this study uses the {'5-level scale (1-5)' if s['scale'] == 5 else 'continuous scale (0-100)'}")
        stored = float(value)
    else:
        if value not in (0, 1):
            raise BenchError(f"choice {value}: send 0 for the left picture or 1 for the right one")
        a_won = (value == 0) != bool(t["swap"])
        stored = 1.0 if a_won else 0.0
    try:
        with con:
            con.execute("INSERT INTO answers VALUES (?,?,?,?,?)", (study, rater, trial, stored, _now()))
    except sqlite3.IntegrityError:
        raise BenchError(f"study {study!r}: trial {trial} of rater {rater!r} is answered already (answers are final)") from None


# ----------------------------------------------------------------------------- statistics
def mean_ci(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% interval (Student t; BT.500's 1.96 S/sqrt(N) for large N)."""
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    if len(v) < 2:
        return (float(v.mean()) if len(v) else float("nan"), float("nan"), float("nan"))
    half = float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return float(v.mean()), float(v.mean() - half), float(v.mean() + half)


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
        beta2 = m4 / m2 ** 2
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
        return float(np.logaddexp(0, -d).sum() + ridge * (s ** 2).sum()), g + 2 * ridge * s

    s = minimize(nll, np.zeros(len(names)), jac=True, method="L-BFGS-B").x
    return s - s.mean()


@dataclass
class Results:
    study: dict[str, Any]
    raters: dict[str, dict[str, Any]]  # id -> {name, answers, kept, reason}
    methods: list[dict[str, Any]]  # method rows (mos/dmos or bt) with intervals
    items: list[dict[str, Any]] = field(default_factory=list)  # per (method, item)
    notes: list[str] = field(default_factory=list)

    @property
    def kept(self) -> list[str]:
        return [r for r, d in self.raters.items() if d["kept"]]


def _answers(con: sqlite3.Connection, study: str) -> list[sqlite3.Row]:
    return con.execute("""SELECT a.rater, a.idx, a.value, t.role, t.stimulus, st.item_id, st.method, st.method_b
                          FROM answers a JOIN trials t ON t.study=a.study AND t.rater=a.rater AND t.idx=a.idx
                          JOIN stimuli st ON st.study=t.study AND st.id=t.stimulus WHERE a.study=?""", (study,)).fetchall()


def results(con: sqlite3.Connection, study: str, screen: bool = True, boot: int = 1000, seed: int = 0) -> Results:
    s = get_study(con, study)
    rows = _answers(con, study)
    names = {r["id"]: r["name"] or "anonymous" for r in con.execute("SELECT id, name FROM raters WHERE study=?", (study,))}
    raters = {}
    for rid in dict.fromkeys(r["rater"] for r in rows):
        raters[rid] = {"name": names.get(rid, "?"), "answers": sum(1 for r in rows if r["rater"] == rid), "kept": True, "reason": ""}
    if not rows:
        raise BenchError(f"study {study!r} has no answers yet; raters open /study/{study} in `bench serve`")
    first = {(r["rater"], r["stimulus"]): r["value"] for r in rows if r["role"] != "repeat"}
    reasons: dict[str, list[str]] = {}
    # repeat consistency
    for rid in raters:
        pairs = [(first[(rid, r["stimulus"])], r["value"]) for r in rows if r["rater"] == rid and r["role"] == "repeat" and (rid, r["stimulus"]) in first]
        if not pairs:
            raters[rid]["repeat"] = None
            continue
        if s["protocol"] == "dsis":
            diff = float(np.mean([abs(a - b) for a, b in pairs]))
            raters[rid]["repeat"] = diff
            if diff > (1.0 if s["scale"] == 5 else 20.0):
                reasons.setdefault(rid, []).append(f"repeated trials differ by {diff:.2f} on average (limit {1 if s['scale'] == 5 else 20})")
        else:
            agree = float(np.mean([a == b for a, b in pairs]))
            raters[rid]["repeat"] = agree
            if len(pairs) >= 2 and agree < 0.5:
                reasons.setdefault(rid, []).append(f"agrees with themself on {agree:.0%} of repeated trials (< 50%)")
    # hidden reference
    for rid in raters:
        h = [v for (r, st), v in first.items() if r == rid and st in {x["stimulus"] for x in rows if x["method"] == HIDDEN}]
        if not h:
            raters[rid]["hidden"] = None
            continue
        if s["protocol"] == "dsis":
            raters[rid]["hidden"] = float(np.mean(h))
            limit = 4.0 if s["scale"] == 5 else 60.0
            if np.mean(h) < limit:
                reasons.setdefault(rid, []).append(f"graded the unimpaired hidden reference {np.mean(h):.2f} on average (below {limit:g})")
        else:  # a = reference in a hidden-reference pair: value 1 = the reference won
            raters[rid]["hidden"] = float(np.mean(h))
    if s["protocol"] == "dsis":
        for rid, why in bt500_screen({k: v for k, v in first.items()}).items():
            reasons.setdefault(rid, []).append(why)
    if screen:
        for rid, why in reasons.items():
            if len(raters) - sum(not d["kept"] for d in raters.values()) > 1:
                raters[rid]["kept"], raters[rid]["reason"] = False, "; ".join(why)
            else:
                raters[rid]["reason"] = "; ".join(why) + " (kept: the last rater)"
    else:
        for rid, why in reasons.items():
            raters[rid]["reason"] = "; ".join(why) + " (kept: --no-screen)"
    kept = {r for r, d in raters.items() if d["kept"]}
    res = Results(study=s, raters=raters, methods=[])
    if s["protocol"] == "dsis":
        main = [r for r in rows if r["role"] != "repeat" and r["rater"] in kept]
        hidden = {(r["rater"], r["item_id"]): r["value"] for r in main if r["method"] == HIDDEN}
        top = float(s["scale"])
        for m in s["config"]["methods"] + [HIDDEN]:
            mr = [r for r in main if r["method"] == m]
            if not mr:
                continue
            mos = mean_ci(np.array([r["value"] for r in mr]))
            d = np.array([hidden.get((r["rater"], r["item_id"]), top) - r["value"] for r in mr])
            dmos = mean_ci(d)
            res.methods.append({"method": m, "mos": mos[0], "mos_lo": mos[1], "mos_hi": mos[2], "dmos": dmos[0], "dmos_lo": dmos[1],
                                "dmos_hi": dmos[2], "n": len(mr), "raters": len({r["rater"] for r in mr})})
            for item in dict.fromkeys(r["item_id"] for r in mr):
                ir = [r for r in mr if r["item_id"] == item]
                a, lo, hi = mean_ci(np.array([r["value"] for r in ir]))
                dd = mean_ci(np.array([hidden.get((r["rater"], item), top) - r["value"] for r in ir]))
                res.items.append({"method": m, "item_id": item, "mos": a, "mos_lo": lo, "mos_hi": hi, "dmos": dd[0], "dmos_lo": dd[1],
                                  "dmos_hi": dd[2], "raters": len(ir)})
        res.notes.append("MOS: mean grade of the kept raters; DMOS: hidden-reference grade minus grade, per rater and item (lower is better); "
                         "95% Student-t intervals over all grades")
    else:
        methods = s["config"]["methods"]
        wins = [((r["method"], r["method_b"]) if r["value"] == 1 else (r["method_b"], r["method"]))
                for r in rows if r["role"] != "repeat" and r["rater"] in kept and r["method"] != HIDDEN]
        if not wins:
            raise BenchError(f"study {study!r}: no pairwise answers from kept raters yet")
        est = bradley_terry(wins, methods)
        rng = np.random.default_rng(seed)
        bs = np.array([bradley_terry([wins[i] for i in rng.integers(0, len(wins), len(wins))], methods) for _ in range(boot)])
        lo, hi = np.percentile(bs, [2.5, 97.5], axis=0)
        for i, m in enumerate(methods):
            won = sum(1 for a, _ in wins if a == m)
            played = sum(1 for a, b in wins if m in (a, b))
            res.methods.append({"method": m, "bt": float(est[i]), "bt_lo": float(lo[i]), "bt_hi": float(hi[i]), "wins": won, "n": played,
                                "raters": len(kept)})
        res.notes.append(f"Bradley-Terry log-strengths (mean 0; +1 = e:1 odds), maximum likelihood; 95% percentile bootstrap over "
                         f"{len(wins)} answers ({boot} resamples)")
    return res


def write_rows(res: Results, runs_dir: Path) -> Path:
    """The study's values as an ordinary run: ``RUNS_DIR/study-NAME/`` (scores, manifest)."""
    from ..results import bench_version, to_frame, write_manifest, write_scores

    s = res.study
    run_id = f"study-{s['name']}"
    n = len(res.kept)
    base = {"run_id": run_id, "dataset": s["dataset"], "base": s["base"], "degradation": s["degradation"], "method_version": "study",
            "metric_version": "1", "crop_border": 0, "bpp": np.nan, "bitrate_kbps": np.nan, "elapsed_s": np.nan, "status": "ok", "error": None}
    unit = "1-5" if s["scale"] == 5 else "0-100"
    rows = []
    if s["protocol"] == "dsis":
        for it in res.items:
            if it["method"] == HIDDEN:
                continue
            for metric, hib in (("mos", True), ("dmos", False)):
                rows.append({**base, "item_id": it["item_id"], "frame": -1, "scope": "image", "method": it["method"], "metric": metric,
                             "value": it[metric], "higher_is_better": hib, "unit": unit})
    else:
        for m in res.methods:
            rows.append({**base, "item_id": "*", "frame": -1, "scope": "dataset", "method": m["method"], "metric": "bt-score", "value": m["bt"],
                         "higher_is_better": True, "unit": "log-odds"})
    for m in res.methods:
        if m["method"] != HIDDEN:
            rows.append({**base, "item_id": "*", "frame": -1, "scope": "dataset", "method": m["method"], "metric": "mos-raters",
                         "value": float(m["raters"]), "higher_is_better": True, "unit": "raters"})
    out = Path(runs_dir) / run_id
    write_scores(out, to_frame(rows))
    write_manifest(out, {"run_id": run_id, "started": _now(), "command": ["bench", "study", "results", s["name"]], "rows": len(rows),
                         "bench": bench_version(), "study": {k: s[k] for k in ("name", "protocol", "scale", "run_id", "dataset")},
                         "raters": {r: {k: v for k, v in d.items()} for r, d in res.raters.items()}, "kept": n})
    return out
