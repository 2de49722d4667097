"""The run folder: where a run writes (a new folder, or the one the same command resumes),
its manifest and status (``running`` -> ``complete`` / ``complete with failures`` /
``interrupted`` / ``failed``), its lock, and the tables written at the end."""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from benchmark.api import digest
from benchmark.errors import BenchError
from benchmark.run.config import RunConfig
from benchmark.run.resolve import Resolved
from benchmark.run.results import (
    bench_version,
    check_writable,
    git_revision,
    machine,
    now_utc,
    package_versions,
    process_info,
    read_manifest,
    run_state,
    to_frame,
    write_artifacts,
    write_manifest,
    write_scores,
)
from benchmark.run.writer import ROWS_FILE, OutputUnwritable, RowLog

RUNS = Path("runs")
LOCK_FILE = ".bench.lock"


def run_config(cfg: RunConfig, resolved: Resolved) -> tuple[dict[str, Any], str]:
    """The result-changing configuration of a run (in its manifest) and its digest, which
    names the folder and finds the run to resume."""
    config = {
        "datasets": [s.describe() for s in resolved.specs],
        "methods": [m.identity() for m in resolved.methods],
        "metrics": [m.identity() for m in resolved.metrics],
        "limit": cfg.limit,
        "crop_border": cfg.crop_border,
        "seed": cfg.seed,
    }
    if any(ms is not resolved.methods for ms in resolved.methods_for.values()):
        config["methods_per_dataset"] = {d: [m.name for m in ms] for d, ms in resolved.methods_for.items()}
    return config, digest(config, cfg.items, cfg.max_frames)


def resumable(cfg: RunConfig, config_digest: str) -> tuple[Path | None, dict[str, Any] | None]:
    """The run folder the same command would resume and its manifest, if any (nothing is created)."""
    if cfg.out:
        m = read_manifest(Path(cfg.out))  # --out resumes a run of the same configuration, complete or not
        return (Path(cfg.out), m) if m and m.get("config_digest") == config_digest else (None, None)
    for d in sorted(RUNS.glob(f"*-{config_digest[:6]}"), key=lambda p: p.name, reverse=True) if RUNS.is_dir() else []:
        m = read_manifest(d)
        if m and m.get("config_digest") == config_digest and run_state(m)[0] in ("interrupted", "gone", "failed"):
            return d, m
    return None, None


def write_or_fail(out: Path, write: Callable[[], Any], rows: int | None = None) -> None:
    """``write()``, with an unwritable folder said in one sentence (and where the rows are kept)."""
    try:
        write()
    except OSError as exc:
        kept = (
            f"; the {rows} rows are kept in {out / ROWS_FILE}: make the folder writable and rerun the same command to write the tables"
            if rows is not None
            else ""
        )
        raise OutputUnwritable(f"cannot write into the run directory {out} ({exc.strerror or exc}){kept}") from None


class RunFolder:
    """One run's folder and manifest. Opened, it holds the folder's lock: a second run on the
    same folder is refused while this one lives; the lock goes with the process (a killed run
    leaves none that blocks the next)."""

    def __init__(
        self,
        out: Path,
        previous: dict[str, Any] | None,
        resume: bool,
        config_digest: str,
        made: list[Path] | None = None,
    ):
        self.out, self.previous, self.resume = out, previous, resume
        self.run_id = (
            previous["run_id"] if resume else f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{config_digest[:6]}"
        )
        self.manifest: dict[str, Any] = {}
        self.made = made or []  # the folders this run made (removed again if it fails before its first unit)
        self._lock = None

    @classmethod
    def open(cls, cfg: RunConfig, config_digest: str) -> "RunFolder":
        """The run folder: ``--out``, else the newest ``runs/*-<digest>`` whose process is gone
        (resumed), else a new one; with the manifest of the unfinished run it resumes."""
        found, previous = resumable(cfg, config_digest)  # (None, None) when there is nothing to resume
        out = Path(cfg.out) if cfg.out else found if found is not None else _new_folder(config_digest)
        made = [
            p for p in (out, out.parent) if not p.exists()
        ]  # what this run creates (and removes if it fails at once)
        check_writable(out, "the run directory" if not cfg.out and found is not None else "--out")
        folder = cls(out, previous, previous is not None and not cfg.no_cache, config_digest, made)
        folder.lock()
        return folder

    def lock(self) -> None:
        """Take the folder's lock, or say which process holds it."""
        import fcntl

        path = self.out / LOCK_FILE
        f = open(path, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise BenchError(
                f"the run folder {self.out} is in use by another bench run ({holder}); wait for it to finish, "
                "or give this run another --out"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {platform.node()}")
        f.flush()
        self._lock = f

    def discard(self) -> None:
        """Remove the folder this run made (it failed before any unit finished)."""
        import shutil

        self.unlock()
        for p in self.made:
            shutil.rmtree(p, ignore_errors=True) if p == self.out else _rmdir_if_empty(p)

    def unlock(self) -> None:
        if self._lock is not None:
            try:
                (self.out / LOCK_FILE).unlink(missing_ok=True)
            except OSError:
                pass
            self._lock.close()
            self._lock = None

    # ------------------------------------------------------------------ manifest
    def start(
        self, cfg: RunConfig, config: dict[str, Any], config_digest: str, resolved: Resolved, context: dict[str, Any]
    ) -> dict[str, Any]:
        """Write the manifest of a run that starts (``running``); ``context``: data root, cache, spec files, device."""
        self.manifest = {
            "run_id": self.run_id,
            "bench_version": bench_version(),
            "started": now_utc(),
            "status": "running",
            "command": cfg.command or sys.argv,
            "config": config,
            "config_digest": config_digest,
            "options": {k: v for k, v in asdict(cfg).items() if k not in ("command",)},
            "data_root": context["data_root"],
            "cache_dir": context["cache_dir"],
            "spec_files": context["spec_files"],
            "plugins": resolved.plugins(),
            "versions": package_versions(),
            "git_revision": git_revision(),
            "seeds": {"run": cfg.seed},
            "machine": machine(context["device"]),
            "process": process_info(),
            "results_format": "docs/results.md (one row per value)",
        }
        if self.resume:
            self.manifest["resumed"] = {
                "from_started": self.previous.get("started"),
                "previous_status": self.previous.get("status"),
            }
        self.write()
        return self.manifest

    def write(self, rows: int | None = None) -> None:
        write_or_fail(self.out, lambda: write_manifest(self.out, self.manifest), rows=rows)

    def stopped(self, exc: BaseException, units_done: int) -> None:
        """Record a run stopped by a signal (``interrupted``) or an error (``failed``)."""
        interrupted = isinstance(exc, KeyboardInterrupt)
        self.manifest.update(
            finished=now_utc(),
            status="interrupted" if interrupted else "failed",
            units_done=units_done,
            stopped_by=getattr(exc, "signal_name", "SIGINT") if interrupted else f"{type(exc).__name__}: {exc}",
        )
        try:
            write_manifest(self.out, self.manifest)
        except OSError:
            pass

    def finish(self, log: RowLog, units: list[str], cache_root: Path) -> tuple[Any, list[str]]:
        """Write the tables (scores, artifacts) from the row log in plan order, and the final
        manifest; returns (the rows as a DataFrame, the failures)."""
        t_tables = time.perf_counter()
        records = log.records(units)
        rows = [r for rec in records for r in rec["rows"]]
        failures = [f for rec in records for f in rec["failures"]]
        df = to_frame(rows)
        artifacts = _artifacts(records)
        write_or_fail(
            self.out,
            lambda: (write_scores(self.out, df), write_artifacts(self.out, cache_root, artifacts)),
            rows=len(rows),
        )
        self.manifest["timings"]["tables_s"] = time.perf_counter() - t_tables
        self.manifest.update(
            finished=now_utc(),
            status="complete" if not failures else "complete with failures",
            failures=failures,
            rows=len(df),
            units_done=len(units),
            units_resumed=log.resumed,
        )
        self.write(rows=len(rows))
        return df, failures


def _artifacts(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per item: where its reference, degraded input and each method's output are in the cache."""
    artifacts: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in records:
        a = rec.get("artifact")
        if a:
            slot = artifacts.setdefault(
                (a["dataset"], a["item_id"]), {**{k: v for k, v in a.items() if k != "output"}, "outputs": {}}
            )
            if a.get("output"):
                slot["outputs"][rec["method"]] = a["output"]
    return list(artifacts.values())


def _rmdir_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


def _new_folder(config_digest: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    out = RUNS / f"{stamp}-{config_digest[:6]}"
    n = 1
    while out.exists():  # the same configuration started twice within a second
        n += 1
        out = RUNS / f"{stamp}.{n}-{config_digest[:6]}"
    return out
