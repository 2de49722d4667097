"""The studies database: one SQLite file beside the runs (``RUNS_DIR/studies.sqlite``, WAL mode)
holding every study, its stimuli, the raters' trial lists and their answers; and the lookups of studies."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

from ..errors import BenchError

DB_NAME = "studies.sqlite"
MEDIA_DIR = ".studies"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
HIDDEN = "(hidden reference)"

SCHEMA = """
CREATE TABLE IF NOT EXISTS studies(name TEXT PRIMARY KEY, protocol TEXT NOT NULL, scale INTEGER NOT NULL, run_dir TEXT,
    run_id TEXT, dataset TEXT, base TEXT, degradation TEXT, created TEXT, config TEXT);
CREATE TABLE IF NOT EXISTS stimuli(study TEXT NOT NULL, id INTEGER NOT NULL, item_id TEXT NOT NULL, method TEXT NOT NULL,
    method_b TEXT, ref TEXT, a TEXT NOT NULL, b TEXT, PRIMARY KEY(study, id));
CREATE TABLE IF NOT EXISTS raters(study TEXT NOT NULL, id TEXT NOT NULL, name TEXT, created TEXT, key_hash TEXT, seq INTEGER,
    PRIMARY KEY(study, id));
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
    _migrate(con)
    return con


def _migrate(con: sqlite3.Connection) -> None:
    """Add what a database made before raters had secrets and pseudonyms lacks: ``key_hash`` (such raters
    cannot be resumed) and ``seq`` (numbered in the order they started)."""
    cols = {r[1] for r in con.execute("PRAGMA table_info(raters)")}
    if {"key_hash", "seq"} <= cols:
        return
    with con:
        con.execute("BEGIN IMMEDIATE")  # one connection migrates; another one waiting sees the columns
        cols = {r[1] for r in con.execute("PRAGMA table_info(raters)")}
        if "key_hash" not in cols:
            con.execute("ALTER TABLE raters ADD COLUMN key_hash TEXT")
        if "seq" not in cols:
            con.execute("ALTER TABLE raters ADD COLUMN seq INTEGER")
            con.execute("""UPDATE raters SET seq = (SELECT COUNT(*) FROM raters r WHERE r.study = raters.study
                       AND (r.created < raters.created OR (r.created = raters.created AND r.id <= raters.id)))""")


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name or ""):
        raise BenchError(f"study name {name!r}: use 1-64 letters, digits, '-' or '_' (starting with a letter or digit)")
    return name


def now() -> str:
    """The time of a record (UTC, ISO 8601)."""
    from ..results import now_utc

    return now_utc()


def get_study(con: sqlite3.Connection, name: str) -> dict[str, Any]:
    r = con.execute("SELECT * FROM studies WHERE name=?", (name,)).fetchone()
    if r is None:
        known = [x[0] for x in con.execute("SELECT name FROM studies ORDER BY created")]
        raise BenchError(f"no study {name!r}" + (f"; known: {', '.join(known)}" if known else "; create one with `bench study create RUN`"))
    out = dict(r)
    out["config"] = json.loads(out["config"] or "{}")
    return out


def dataset_name(dataset: str | None) -> str | None:
    """A data set's name as shown to clients: a folder's name, never the server's path (``/data/photos@x2`` -> ``photos@x2``)."""
    if not dataset:
        return dataset
    path, at, after = dataset.rpartition("@") if "@" in dataset else (dataset, "", "")
    return (re.split(r"[\\/]", path.rstrip("/\\"))[-1] or path) + at + after


def list_studies(con: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every study, for the study list (the data set by name only), with its rater (those who answered) and answer counts."""
    out = []
    for r in con.execute("SELECT name, protocol, scale, dataset, created, config FROM studies ORDER BY created"):
        d = dict(r)
        d["dataset"] = dataset_name(d["dataset"])
        d["config"] = json.loads(d["config"] or "{}")
        d["raters"] = con.execute("SELECT COUNT(DISTINCT rater) FROM answers WHERE study=?", (d["name"],)).fetchone()[0]
        d["answers"] = con.execute("SELECT COUNT(*) FROM answers WHERE study=?", (d["name"],)).fetchone()[0]
        out.append(d)
    return out
