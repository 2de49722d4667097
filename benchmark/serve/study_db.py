"""The studies database: one SQLite file beside the runs (``RUNS_DIR/studies.sqlite``, WAL mode)
holding every study, its stimuli, the raters' trial lists and their answers; and the lookups of studies.

The file is read as untrusted: :func:`opened` turns a damaged one (random bytes, a truncated file, a table
missing or of other columns, a study record of the wrong types) into one :class:`DamagedStudies` naming
the file, and refuses a path that is no regular file (a FIFO would block)."""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
from pathlib import Path
from typing import Any, Iterator

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
#: the tables :data:`SCHEMA` makes (a database holding some but not all of them is damaged)
TABLES = frozenset(("studies", "stimuli", "raters", "trials", "answers"))


class DamagedStudies(BenchError):
    """The studies database cannot be used: the message names the file and the cause; ``bench serve``
    answers it with 503 (the server's own file), ``bench study`` with one ``error:`` line."""

    status = 503


class BadRecord(sqlite3.DatabaseError):
    """A record of the studies database that is not what this code writes (a study's protocol, scale or config)."""


def _damaged(path: Path, exc: BaseException) -> DamagedStudies:
    cause = " ".join(str(exc).split())[:200] or type(exc).__name__
    if "locked" in cause:
        return DamagedStudies(f"{path}: the studies database is locked by another process ({cause}); try again")
    return DamagedStudies(
        f"{path}: not readable as the studies database ({cause}); move it away to start a new one "
        "(its studies are then gone), or put back a copy"
    )


@contextlib.contextmanager
def opened(runs_dir: Path) -> Iterator[sqlite3.Connection]:
    """A connection to the studies database beside the runs (:func:`connect`), closed afterwards; any
    SQLite error but a constraint's (the callers' own checks) is one :class:`DamagedStudies` naming the file."""
    path = Path(runs_dir) / DB_NAME
    if path.exists() or path.is_symlink():
        from benchmark.core.imaging import check_regular

        try:
            check_regular(path)
        except (ValueError, OSError) as exc:
            raise DamagedStudies(f"{exc}: the studies database must be a regular file; move it away") from None
    con = None
    try:
        con = connect(runs_dir)
        yield con
    except sqlite3.IntegrityError:
        raise
    except sqlite3.DatabaseError as exc:
        raise _damaged(path, exc) from None
    finally:
        if con is not None:
            con.close()


def connect(runs_dir: Path) -> sqlite3.Connection:
    """The studies database beside the runs (created on first use), in WAL mode."""
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(runs_dir / DB_NAME, timeout=10, check_same_thread=False, isolation_level=None)
    try:
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        _create(con)
        _migrate(con)
    except BaseException:
        con.close()
        raise
    return con


def _create(con: sqlite3.Connection) -> None:
    """Make the tables of a new database, in one transaction (a second process waits, then finds them all); a
    database holding some of them but not all was damaged: :class:`BadRecord`, never silently made empty again."""

    def tables() -> set[str]:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    if TABLES <= tables():
        return
    con.execute("BEGIN IMMEDIATE")
    try:
        have = tables()
        if have & TABLES and not TABLES <= have:
            raise BadRecord(f"table {', '.join(sorted(TABLES - have))} missing")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                con.execute(statement)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


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
    from benchmark.run.results import now_utc

    return now_utc()


def get_study(con: sqlite3.Connection, name: str) -> dict[str, Any]:
    r = con.execute("SELECT * FROM studies WHERE name=?", (name,)).fetchone()
    if r is None:
        known = [x[0] for x in con.execute("SELECT name FROM studies ORDER BY created")]
        raise BenchError(
            f"no study {name!r}"
            + (f"; known: {', '.join(known)}" if known else "; create one with `bench study create RUN`")
        )
    return _checked(dict(r))


def _checked(study: dict[str, Any]) -> dict[str, Any]:
    """A study's record with its config decoded, checked for what the code relies on (:class:`BadRecord` otherwise)."""
    name = study.get("name")
    if "protocol" in study and study["protocol"] not in ("dsis", "pairwise"):
        raise BadRecord(f"study {name!r}: protocol {study['protocol']!r} is neither dsis nor pairwise")
    if "scale" in study and study["scale"] not in (0, 5, 100):
        raise BadRecord(f"study {name!r}: scale {study['scale']!r} is none of 5, 100 (dsis) or 0 (pairwise)")
    try:
        config = json.loads(study.get("config") or "{}")
    except (ValueError, TypeError, RecursionError):
        raise BadRecord(f"study {name!r}: its config is not JSON") from None
    methods = config.get("methods", []) if isinstance(config, dict) else None
    if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
        raise BadRecord(f"study {name!r}: its config is not a JSON object with a list of method names")
    study["config"] = config
    return study


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
        d = _checked(d)
        d["dataset"] = dataset_name(d["dataset"] if isinstance(d["dataset"], str) else None)
        d["raters"] = con.execute("SELECT COUNT(DISTINCT rater) FROM answers WHERE study=?", (d["name"],)).fetchone()[0]
        d["answers"] = con.execute("SELECT COUNT(*) FROM answers WHERE study=?", (d["name"],)).fetchone()[0]
        out.append(d)
    return out
