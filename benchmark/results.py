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

from . import __version__

COLUMNS = [
    "run_id", "dataset", "base", "degradation", "item_id", "frame", "scope",
    "method", "method_version", "metric", "metric_version", "value", "higher_is_better",
    "unit", "crop_border", "bpp", "bitrate_kbps", "elapsed_s", "status", "error",
]
DTYPES = {
    "run_id": "string", "dataset": "string", "base": "string", "degradation": "string",
    "item_id": "string", "frame": "int64", "scope": "string", "method": "string",
    "method_version": "string", "metric": "string", "metric_version": "string",
    "value": "float64", "higher_is_better": "bool", "unit": "string", "crop_border": "int64",
    "bpp": "float64", "bitrate_kbps": "float64", "elapsed_s": "float64", "status": "string",
    "error": "string",
}
PACKAGES = [
    "bench-enhance", "numpy", "torch", "torchvision", "piq", "opencv-python-headless", "pillow", "av",
    "resize-right", "pandas", "pyarrow", "scikit-image", "scikit-video", "typer", "rich",
]


def to_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=COLUMNS)
    return df.astype(DTYPES)


def write_scores(out: Path, df: pd.DataFrame) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, writer in (("scores.parquet", lambda p: df.to_parquet(p, index=False)), ("scores.csv", lambda p: df.to_csv(p, index=False))):
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
    raise FileNotFoundError(f"{run_dir}: no scores.parquet or scores.csv (is it a run directory of `bench run`?)")


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_revision() -> str | None:
    src = Path(__file__).resolve().parent.parent
    if not (src / ".git").exists():
        return None
    try:
        rev = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=5)
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
