"""The single writer of a run: units finish -> their rows are appended to ``rows.jsonl``.

A *unit* is one (data set x degradation x method x item) cell of a run, or the corpus
rows (mAP, CIDEr) of one data set. When a unit finishes, its rows go to the run
directory as one JSON line, flushed and fsync'd before the next unit starts, so a crash
(OOM kill, ``kill -9``, a full disk) loses at most the unit in flight. A line cut short
by a crash is dropped when the log is opened again; any other damaged line (junk written
into the file) is skipped and counted (:func:`scan`), and the good records after it are kept.

Rerunning the same command opens the same log and *resumes*: a unit whose record is
there and has no failure is not computed again (a unit that failed is retried, and its
new record replaces the old one). At the end :meth:`RowLog.merge` writes the tidy
``scores.parquet``/``scores.csv`` from the log in plan order, one record per unit, so
the tables do not depend on which units were computed in this process or in which order
they finished.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterable, NamedTuple

import numpy as np

from benchmark.errors import BenchError, warn

ROWS_FILE = "rows.jsonl"
SYNC_EVERY_S = 1.0
FORMAT = 1


class OutputUnwritable(BenchError):
    """The run directory stopped accepting writes; rows already appended are kept."""

    exit_code = 1


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"{type(v).__name__} is not JSON serialisable")


def _record(line: bytes) -> dict[str, Any] | None:
    """The record a log line holds, or None when it is damaged (not JSON, not a record)."""
    try:
        rec = json.loads(line)
    except (UnicodeDecodeError, ValueError, RecursionError):  # JSONDecodeError is a ValueError
        return None
    if not isinstance(rec, dict) or rec.get("format") != FORMAT or not isinstance(rec.get("unit"), str):
        return None
    if not isinstance(rec.get("rows", []), list) or not all(isinstance(r, dict) for r in rec.get("rows", [])):
        return None
    if not isinstance(rec.get("failures", []), list):
        return None
    return {**rec, "rows": rec.get("rows", []), "failures": rec.get("failures", [])}


class LogScan(NamedTuple):
    records: list[dict[str, Any]]
    good: int  # the byte length the complete lines span
    damaged: int  # lines that are not records (junk, a record cut short), a torn last line included
    torn: bool  # the last line has no newline (a write cut off by a crash)


def scan(path: Path) -> LogScan:
    """The good records of a log, the byte length its complete lines span and how many lines
    are damaged. A damaged line (junk, a record cut short) is skipped and counted, never the end of
    the log: the good records after it are kept. A last line without its newline (a write cut
    off by a crash) is counted too, and left out of the length, so the caller can cut it off
    before appending."""
    records: list[dict[str, Any]] = []
    good = damaged = 0
    torn = False
    if not path.is_file():  # none, or not a regular file (a FIFO would block the read)
        return LogScan(records, good, damaged, torn)
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        if end < 0:  # no newline: the write was cut off
            torn = bool(data[pos:].strip())
            damaged += torn
            break
        line = data[pos:end]
        pos = good = end + 1
        if not line.strip():
            continue
        rec = _record(line)
        if rec is None:
            damaged += 1
        else:
            records.append(rec)
    return LogScan(records, good, damaged, torn)


def read_records(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The good records of a log, and the byte length of its complete lines (:func:`scan`)."""
    log = scan(path)
    return log.records, log.good


def damaged_lines(path: Path) -> int:
    """How many lines of the log ``path`` are damaged (0 when there is none or no log)."""
    return scan(Path(path))[2]


def rows_of(path: Path) -> list[dict[str, Any]]:
    """Every row of a (possibly unfinished) log, one record per unit (the last one); damaged
    lines are said in one warning naming the file and the count."""
    records, _, damaged, _ = scan(path)
    if damaged:
        warn(
            f"{path}: {damaged} damaged line{'s' if damaged > 1 else ''} skipped (not a record of bench run); the rows read are incomplete"
        )
    last: dict[str, dict[str, Any]] = {}
    for rec in records:
        last.pop(rec["unit"], None)
        last[rec["unit"]] = rec
    return [r for rec in last.values() for r in rec["rows"]]


class RowLog:
    """Append-only, crash-safe row log of one run directory."""

    def __init__(self, out: Path, resume: bool):
        self.path = Path(out) / ROWS_FILE
        self.done: dict[str, dict[str, Any]] = {}
        self.resumed = 0
        if resume:
            records, good, damaged, torn = scan(self.path)
            if damaged - torn:  # a torn last line is what a crash leaves: cut off quietly
                n = damaged - torn
                warn(f"{self.path}: {n} damaged line{'s' if n > 1 else ''} skipped; their units, if any, run again")
            for rec in records:
                self.done[rec["unit"]] = rec
            if self.path.exists() and good < self.path.stat().st_size:
                with open(self.path, "r+b") as f:  # cut a torn last line before appending
                    f.truncate(good)
        elif self.path.exists():
            self.path.unlink()
        try:
            self._f = open(self.path, "ab")
        except OSError as exc:
            raise OutputUnwritable(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self.appended = 0
        self._synced = time.monotonic()

    def finished(self, unit: str) -> dict[str, Any] | None:
        """The record of a unit that completed without failures, if any."""
        rec = self.done.get(unit)
        if rec is not None and not rec.get("failures"):
            self.resumed += 1
            return rec
        return None

    def append(self, unit: str, rows: list[dict[str, Any]], failures: list[str], **extra: Any) -> dict[str, Any]:
        rec = {"format": FORMAT, "unit": unit, **extra, "failures": failures, "rows": rows}
        line = json.dumps(rec, default=_plain, allow_nan=True).encode() + b"\n"
        try:
            self._f.write(line)
            self._f.flush()  # in the OS now: a killed process loses nothing
            if (
                time.monotonic() - self._synced > SYNC_EVERY_S
            ):  # on disk at least once a second (power loss), not per unit
                os.fsync(self._f.fileno())
                self._synced = time.monotonic()
        except OSError as exc:
            raise OutputUnwritable(
                f"cannot append to {self.path} ({exc.strerror or exc}); the {len(self.done)} unit(s) before "
                "this one are kept there: make the folder writable and rerun the same command to resume"
            ) from None
        self.done[unit] = rec
        self.appended += 1
        return rec

    def records(self, units: Iterable[str]) -> list[dict[str, Any]]:
        """The records of ``units`` in that order (the plan's), one per unit."""
        return [self.done[u] for u in units if u in self.done]

    def close(self) -> None:
        try:
            self._f.flush()
            os.fsync(self._f.fileno())
        except (OSError, ValueError):
            pass
        try:
            self._f.close()
        except OSError:
            pass


PLAN_FILE = "plan.jsonl"


def write_plan(out: Path, units, todo: set[str]) -> Path:
    """The run's plan, written (atomically) before anything executes: one line per unit,
    in plan order, with whether it still has to run."""
    path = Path(out) / PLAN_FILE
    tmp = path.with_suffix(".jsonl.tmp")
    with open(tmp, "w") as f:
        for u in units:
            f.write(
                json.dumps(
                    {
                        "unit": u.key,
                        "dataset": u.dataset,
                        "item_id": u.item_id,
                        "method": u.method,
                        "frames": u.frames,
                        "pixels": u.pixels,
                        "todo": u.key in todo,
                    }
                )
                + "\n"
            )
    os.replace(tmp, path)
    return path
