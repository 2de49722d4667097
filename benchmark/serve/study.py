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

Here: creating a study and rating it. The database is :mod:`.study_db`, the raters (their
secrets, pseudonyms and cap) :mod:`.raters`, the statistics :mod:`.study_stats`; the names of
the database and the statistics are importable from here too.
"""

from __future__ import annotations

import itertools
import json
import secrets
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BenchError
from .study_db import (  # noqa: F401
    DB_NAME,
    HIDDEN,
    MEDIA_DIR,
    NAME_RE,
    SCHEMA,
    DamagedStudies,
    check_name,
    connect,
    get_study,
    list_studies,
    now,
    opened,
)
from .study_stats import Results, bradley_terry, bt500_screen, mean_ci, public_raters, results, write_rows  # noqa: F401  (the statistics)

PROTOCOLS = ("dsis", "pairwise")
REFERENCE = "reference"
DEFAULT_HOLD = 3.0  # seconds each DSIS picture is shown
DSIS_LABELS = {
    5: "imperceptible",
    4: "perceptible, but not annoying",
    3: "slightly annoying",
    2: "annoying",
    1: "very annoying",
}


# ----------------------------------------------------------------------------- create
def _first_frame(cache_dir: str | None, key: str | None) -> bytes | None:
    """The first frame of a cached frame set as PNG bytes, checked (:mod:`benchmark.run.runfiles`: a
    content key, no symlink, its checksum); None when the cache does not hold it intact."""
    from benchmark.run.runfiles import frame_meta, frame_png

    meta = frame_meta(cache_dir, key)
    return frame_png(meta, key, 0) if meta is not None else None


def _image_items(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """The run's ``artifacts.json`` (checked: :func:`benchmark.run.runfiles.read_artifacts`), its manifest
    (or {}) and its image items with method outputs."""
    from benchmark.run.results import read_manifest
    from benchmark.run.runfiles import read_artifacts

    art_path = run_dir / "artifacts.json"
    if not art_path.is_file():
        raise BenchError(f"{run_dir}: no artifacts.json (not a run directory of `bench run`?)")
    try:
        art = read_artifacts(art_path)
    except (OSError, ValueError, RecursionError) as exc:
        raise BenchError(f"{art_path}: not readable ({' '.join(str(exc).split())[:160]})") from None
    manifest = read_manifest(run_dir) or {}
    images = [a for a in art["items"] if a.get("kind") == "image" and a.get("outputs")]
    if not images:
        raise BenchError(
            f"{run_dir}: no image items with method outputs (studies show still images; video items are not supported)"
        )
    return art, manifest, images


def _choose(
    run_dir: Path, images: list[dict[str, Any]], dataset: str | None, methods: list[str] | None, protocol: str
) -> tuple[str, list[str], list[dict[str, Any]]]:
    """The data set, the methods (default: all the run has for it) and the items that have every method's output."""
    datasets = list(dict.fromkeys(a["dataset"] for a in images))
    ds = dataset or datasets[0]
    if ds not in datasets:
        raise BenchError(f"--dataset {ds!r}: the run has image outputs for {', '.join(datasets)}")
    chosen = [a for a in images if a["dataset"] == ds]
    have = list(dict.fromkeys(m for a in chosen for m in a["outputs"]))
    methods = methods or have
    missing = [m for m in methods if m not in have]
    if missing:
        raise BenchError(
            f"--methods: {', '.join(missing)} not in run {run_dir.name} for {ds}; it has {', '.join(have)}"
        )
    if protocol == "pairwise" and len(methods) < 2:
        raise BenchError("a pairwise study needs at least two methods (--methods a,b)")
    return ds, methods, [a for a in chosen if all(m in a["outputs"] for m in methods)]


class _Media:
    """The study's pictures in ``RUNS_DIR/.studies/NAME/`` under generated names, each (item, label) copied once."""

    def __init__(self, folder: Path, run_dir: Path):
        self.folder, self.run_dir = folder, run_dir
        self.files: dict[tuple[str, str], str] = {}

    def stash(
        self, item_id: str, label: str, png: bytes | None, source: str | None = None, reference_key: str | None = None
    ) -> str:
        """Write ``png`` (a cached frame; else the ``source`` image file, when it may be read:
        :func:`benchmark.run.runfiles.trusted_source`) in; the generated file name."""
        from benchmark.core.imaging import read_image, write_png
        from benchmark.run.runfiles import trusted_source

        if (item_id, label) in self.files:
            return self.files[(item_id, label)]
        fn = f"{secrets.token_hex(8)}.png"
        src = trusted_source(source, reference_key)[0] if png is None else None
        if png is not None:
            (self.folder / fn).write_bytes(png)
        elif src is not None and src.is_file():
            write_png(self.folder / fn, read_image(src))
        else:
            raise BenchError(
                f"item {item_id}: the {label} image is not in the cache any more; rerun `bench run` for {self.run_dir}"
            )
        self.files[(item_id, label)] = fn
        return fn


def _stimuli(
    art: dict[str, Any],
    chosen: list[dict[str, Any]],
    methods: list[str],
    protocol: str,
    media: _Media,
    rng: np.random.Generator,
) -> list[tuple]:
    """The stimuli (item, method, method_b, ref, a, b) of every item: DSIS each method and the hidden reference;
    pairwise each pair of methods and the reference against a random method."""
    stimuli: list[tuple] = []
    for a in chosen:
        ref = media.stash(
            a["item_id"],
            REFERENCE,
            _first_frame(art["cache_dir"], a.get("reference")),
            a.get("source"),
            a.get("reference"),
        )
        outs = {m: media.stash(a["item_id"], m, _first_frame(art["cache_dir"], a["outputs"][m])) for m in methods}
        if protocol == "dsis":
            stimuli += [(a["item_id"], m, None, ref, outs[m], None) for m in methods]
            stimuli.append((a["item_id"], HIDDEN, None, ref, ref, None))
        else:
            stimuli += [
                (a["item_id"], m1, m2, ref, outs[m1], outs[m2]) for m1, m2 in itertools.combinations(methods, 2)
            ]
            m = methods[int(rng.integers(len(methods)))]
            stimuli.append((a["item_id"], HIDDEN, m, ref, ref, outs[m]))
    return stimuli


def create(
    run_dir: Path,
    protocol: str = "dsis",
    methods: list[str] | None = None,
    items: int | None = None,
    name: str | None = None,
    scale: int = 5,
    dataset: str | None = None,
    repeats: int | None = None,
    seed: int = 0,
    hold: float = DEFAULT_HOLD,
) -> dict[str, Any]:
    """Build a study from the image items of one data set of ``run_dir`` (its ``artifacts.json``); DSIS shows
    each picture for ``hold`` seconds."""
    from benchmark.run.results import read_scores

    run_dir = Path(run_dir)
    if protocol not in PROTOCOLS:
        raise BenchError(f"--protocol {protocol!r}: choose one of {', '.join(PROTOCOLS)}")
    if scale not in (5, 100):
        raise BenchError(f"--scale {scale}: use 5 (the 5-level impairment scale) or 100 (the continuous 0-100 variant)")
    if not 0.5 <= hold <= 30:
        raise BenchError(f"--hold {hold:g}: show each picture for 0.5 to 30 seconds (default 3)")
    art, manifest, images = _image_items(run_dir)
    ds, methods, chosen = _choose(run_dir, images, dataset, methods, protocol)
    rng = np.random.default_rng(seed)
    if items is not None and items < len(chosen):
        chosen = [chosen[i] for i in sorted(rng.choice(len(chosen), items, replace=False))]
    name = check_name(name or f"{run_dir.name}-{protocol}")
    with opened(run_dir.parent) as con:
        if con.execute("SELECT 1 FROM studies WHERE name=?", (name,)).fetchone():
            raise BenchError(f"study {name!r} exists already in {run_dir.parent / DB_NAME}; pick another --name")
    media = run_dir.parent / MEDIA_DIR / name
    media.mkdir(parents=True, exist_ok=True)
    rows = read_scores(run_dir)
    meta = rows[rows["dataset"] == ds].iloc[0] if (rows["dataset"] == ds).any() else None
    try:
        stimuli = _stimuli(art, chosen, methods, protocol, _Media(media, run_dir), rng)
    except BenchError:
        shutil.rmtree(media, ignore_errors=True)
        raise
    n_test = sum(1 for s in stimuli if s[1] != HIDDEN)
    repeats = max(1, round(0.1 * n_test)) if repeats is None else repeats
    cfg = {
        "methods": methods,
        "items": [a["item_id"] for a in chosen],
        "repeats": min(repeats, n_test),
        "seed": seed,
        "hold": hold,
    }
    with opened(run_dir.parent) as con, con:
        con.execute("BEGIN")
        con.execute(
            "INSERT INTO studies VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                name,
                protocol,
                scale if protocol == "dsis" else 0,
                str(run_dir.resolve()),
                str(manifest.get("run_id") or run_dir.name),
                ds,
                None if meta is None else str(meta["base"]),
                None if meta is None else str(meta["degradation"]),
                now(),
                json.dumps(cfg),
            ),
        )
        con.executemany("INSERT INTO stimuli VALUES (?,?,?,?,?,?,?,?)", [(name, i, *s) for i, s in enumerate(stimuli)])
    return {
        "name": name,
        "protocol": protocol,
        "scale": scale,
        "dataset": ds,
        "methods": methods,
        "items": cfg["items"],
        "stimuli": len(stimuli),
        "trials_per_rater": len(stimuli) + cfg["repeats"],
        "db": str(run_dir.parent / DB_NAME),
        "media": str(media),
    }


# ----------------------------------------------------------------------------- rating (a rater starts in :mod:`.raters`)
def next_trial(con: sqlite3.Connection, study: str, rater: str) -> dict[str, Any]:
    """The rater's first unanswered trial (what the page shows), or ``{"done": True}``."""
    s = get_study(con, study)
    if not con.execute("SELECT 1 FROM raters WHERE study=? AND id=?", (study, rater)).fetchone():
        raise BenchError(f"study {study!r}: this rater is no longer in the study; start again from /study/{study}")
    total = con.execute("SELECT COUNT(*) FROM trials WHERE study=? AND rater=?", (study, rater)).fetchone()[0]
    r = con.execute(
        """SELECT t.idx, t.swap, st.ref, st.a, st.b FROM trials t JOIN stimuli st ON st.study=t.study AND st.id=t.stimulus
                       WHERE t.study=? AND t.rater=? AND t.idx NOT IN (SELECT idx FROM answers WHERE study=? AND rater=?)
                       ORDER BY t.idx LIMIT 1""",
        (study, rater, study, rater),
    ).fetchone()
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
        raise BenchError(f"study {study!r}: you have no trial {trial}")
    if s["protocol"] == "dsis":
        ok = value in (1, 2, 3, 4, 5) if s["scale"] == 5 else 0 <= value <= 100
        if not ok:
            raise BenchError(
                f"score {value}: this study uses the {'5-level scale (1-5)' if s['scale'] == 5 else 'continuous scale (0-100)'}"
            )
        stored = float(value)
    else:
        if value not in (0, 1):
            raise BenchError(f"choice {value}: send 0 for the left picture or 1 for the right one")
        a_won = (value == 0) != bool(t["swap"])
        stored = 1.0 if a_won else 0.0
    try:
        with con:
            con.execute("INSERT INTO answers VALUES (?,?,?,?,?)", (study, rater, trial, stored, now()))
    except sqlite3.IntegrityError:
        raise BenchError(f"study {study!r}: trial {trial} is answered already (answers are final)") from None
