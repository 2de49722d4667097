"""The tidy results format (documented in docs/results.md) and the run manifest."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark import __version__

COLUMNS = [
    "run_id",
    "dataset",
    "base",
    "degradation",
    "item_id",
    "frame",
    "scope",
    "method",
    "method_version",
    "metric",
    "metric_version",
    "value",
    "higher_is_better",
    "unit",
    "crop_border",
    "bpp",
    "bitrate_kbps",
    "elapsed_s",
    "status",
    "error",
]
DTYPES = {
    "run_id": "string",
    "dataset": "string",
    "base": "string",
    "degradation": "string",
    "item_id": "string",
    "frame": "int64",
    "scope": "string",
    "method": "string",
    "method_version": "string",
    "metric": "string",
    "metric_version": "string",
    "value": "float64",
    "higher_is_better": "bool",
    "unit": "string",
    "crop_border": "int64",
    "bpp": "float64",
    "bitrate_kbps": "float64",
    "elapsed_s": "float64",
    "status": "string",
    "error": "string",
}
_COLUMN_SET = frozenset(COLUMNS)


class Row(dict):
    """One tidy row (docs/results.md): every column of :data:`COLUMNS`, in that order, and no
    other. Made only by :func:`make_row`, and never edited after: a changed value is a new row
    (``make_row(**{**row, "value": v})``). A plain ``dict`` to JSON, pandas and pickle."""

    __slots__ = ()

    def _frozen(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a row is not edited after it is made: make another with make_row(**{**row, ...})")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _frozen  # type: ignore[assignment]

    def __reduce__(self):
        return Row, (dict(self),)


def make_row(**values: Any) -> Row:
    """The one constructor of a row: ``values`` must name every column of :data:`COLUMNS` and
    nothing else (a missing or unknown column is a ValueError naming it)."""
    missing = [c for c in COLUMNS if c not in values]
    unknown = [k for k in values if k not in _COLUMN_SET]
    if missing or unknown:
        raise ValueError(
            "a row needs exactly the columns of results.COLUMNS: "
            + "; ".join(
                x
                for x in (
                    f"missing {', '.join(missing)}" if missing else "",
                    f"unknown {', '.join(unknown)}" if unknown else "",
                )
                if x
            )
        )
    return Row((c, values[c]) for c in COLUMNS)


def no_values(**values: Any) -> dict[str, Any]:
    """The columns a row without a codec figure or a time has (``bpp``, ``bitrate_kbps``,
    ``elapsed_s`` NaN), with ``values`` on top: the shared part of a data-set level row."""
    return {"bpp": float("nan"), "bitrate_kbps": float("nan"), "elapsed_s": float("nan"), **values}


PACKAGES = [
    "bench-enhance",
    "numpy",
    "torch",
    "torchvision",
    "piq",
    "opencv-python-headless",
    "pillow",
    "av",
    "resize-right",
    "pandas",
    "pyarrow",
    "scikit-image",
    "scikit-video",
    "typer",
    "rich",
]


def to_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The tidy table of ``rows`` (made by :func:`make_row`, or read back from a run's files)."""
    df = pd.DataFrame(rows, columns=COLUMNS)
    return df.astype(DTYPES)


def write_scores(out: Path, df: pd.DataFrame) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, writer in (
        ("scores.parquet", lambda p: df.to_parquet(p, index=False)),
        ("scores.csv", lambda p: df.to_csv(p, index=False)),
    ):
        tmp = out / f".{name}.tmp"
        writer(tmp)
        os.replace(tmp, out / name)


def read_scores(run_dir: Path) -> pd.DataFrame:
    run_dir = Path(run_dir)
    p = run_dir / "scores.parquet"
    if p.exists():
        return pd.read_parquet(p)
    c = run_dir / "scores.csv"
    if c.exists():
        return pd.read_csv(c).astype({k: v for k, v in DTYPES.items() if k not in ("frame", "crop_border")})
    log = run_dir / "rows.jsonl"
    if log.exists():  # an unfinished run: the rows of its finished units
        from benchmark.run.writer import rows_of

        return to_frame(rows_of(log))
    raise FileNotFoundError(
        f"{run_dir}: no scores.parquet, scores.csv or rows.jsonl (is it a run directory of `bench run`?)"
    )


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_revision() -> str | None:
    src = Path(__file__).resolve().parents[2]
    if not (src / ".git").exists():
        return None
    try:
        rev = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(
            ["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if rev.returncode != 0:
        return None
    return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def machine(device: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "device": device,
    }
    if device.startswith("cuda"):
        try:
            import torch

            info["gpu"] = torch.cuda.get_device_name(0)
        except Exception:  # pragma: no cover - GPU only
            pass
    return info


def now_utc() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, default=str))
    os.replace(tmp, out / "manifest.json")


def bench_version() -> str:
    return __version__


def write_artifacts(out: Path, cache_root: Path, items: list[dict[str, Any]]) -> Path:
    """``artifacts.json``: where each item's reference, degraded input and method outputs
    live in the cache (content keys), so reports can show them. Not needed to read scores."""
    path = Path(out) / "artifacts.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"cache_dir": str(cache_root), "items": items}, indent=1))
    os.replace(tmp, path)
    return path


def read_manifest(run_dir: Path) -> dict[str, Any] | None:
    """A run directory's manifest, or None when there is none (or it cannot be read: not a
    regular file, over 64 MiB, not JSON)."""
    import stat

    path = Path(run_dir) / "manifest.json"
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > 64 << 20:  # a FIFO would block, a huge file fill the memory
            return None
        m = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    return m if isinstance(m, dict) else None


def process_info() -> dict[str, Any]:
    """Who writes this run: pid, host and the process's start time (so a later reader can
    tell a live run from one whose process was killed, even when the pid was reused)."""
    return {"pid": os.getpid(), "host": platform.node(), "start_ticks": _start_ticks(os.getpid())}


def _start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])  # field 22, after the parenthesised command name


def _alive(proc: dict[str, Any]) -> bool | None:
    """Whether the process that wrote a manifest still runs: None when that cannot be told
    from here (another host)."""
    if proc.get("host") != platform.node() or not proc.get("pid"):
        return None
    pid = int(proc["pid"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    ticks = proc.get("start_ticks")
    return ticks is None or _start_ticks(pid) in (None, ticks)


def run_state(manifest: dict[str, Any]) -> tuple[str, str]:
    """(state, sentence) of a run from its manifest: ``complete``, ``complete with failures``,
    ``interrupted`` (a signal), ``failed`` (an error stopped it), ``running`` (its process is
    alive), ``gone`` (it says running but its process is gone: killed, e.g. by kill -9 or the
    OOM killer) or ``unknown`` (running on another host, as far as the manifest says)."""
    status = manifest.get("status", "?")
    done = manifest.get("units_done")
    total = manifest.get("units")
    progress = f"{done} of {total} units" if done is not None and total else "its finished units"
    if status in ("complete", "complete with failures"):
        return status, status
    resume = "rerun the same command to resume"
    if status == "interrupted":
        return (
            status,
            f"incomplete: interrupted by {manifest.get('stopped_by', 'a signal')} at {manifest.get('finished', '?')}; {progress} kept; {resume}",
        )
    if status == "failed":
        return (
            status,
            f"incomplete: stopped by an error at {manifest.get('finished', '?')} ({manifest.get('stopped_by', '?')}); {resume}",
        )
    if status == "running":
        proc = manifest.get("process") or {}
        alive = _alive(proc)
        if alive is False:
            return "gone", (
                f"incomplete: the manifest says running, but its process (pid {proc.get('pid')} on {proc.get('host')}) is gone "
                f"(killed: kill -9, out of memory?); {resume}"
            )
        if alive is None:
            return (
                "unknown",
                f"incomplete: running on {proc.get('host', 'another host')} as far as the manifest says (started {manifest.get('started')})",
            )
        return "running", f"incomplete: still running (pid {proc.get('pid')}, started {manifest.get('started')})"
    return status, f"status {status!r}"


def check_writable(path: Path, what: str) -> None:
    """Fail at once, with one sentence, when ``path`` (a folder, made if missing) cannot
    take files: a file in the way, a read-only or immutable folder, /proc ..."""
    from benchmark.errors import BenchError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise BenchError(f"{what} {path} is a file, not a folder: name a folder (new or existing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".bench-write-test.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise BenchError(
            f"{what} {path} is not writable ({exc.strerror or exc}): choose a folder this user can write to"
        ) from None
