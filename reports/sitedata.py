"""The data behind the site (:mod:`.site`): runs copied into it and merged (the latest run
wins for a repeated value), metric families, and per-data-set leaderboards with bootstrap
confidence intervals and ranks."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import BenchError, warn
from ..results import read_scores
from .leaderboard import fmt, newest_rows

FAMILIES = ("fidelity", "perceptual", "no-reference", "task", "temporal", "subjective", "speed")
#: rows written by `bench study results` (benchmark.serve.study), not computed by `bench run`
SUBJECTIVE = ("mos", "dmos", "bt-score", "mos-raters")
NOT_RANKED = ("mos-raters",)  # a count of raters, not a quality
ITEM_SCOPES = ("image", "clip")
BOOTSTRAP = 1000
RUN_FILES = ("scores.parquet", "scores.csv", "manifest.json", "artifacts.json")


def metric_family(name: str) -> str:
    from .. import registry

    base = name.split("/", 1)[0]
    if base.endswith("-gain"):
        return "task"
    base = base.removesuffix("-refcap")
    if base in SUBJECTIVE:
        return "subjective"
    try:
        return getattr(registry.metrics.get(base), "family", "fidelity") or "fidelity"
    except Exception:  # a plug-in that is not installed here: keep its rows, guess nothing
        return "other"


def _json_problem(path: Path) -> str | None:
    """Why the JSON file ``path`` (if there is one) cannot be read as an object; None if it can."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return f"its {path.name} is not readable JSON ({exc})"
    return None if isinstance(data, dict) else f"its {path.name} is not a JSON object"


def run_problem(d: Path, site: bool = True) -> str | None:
    """Why ``d`` cannot be shown (None: it can). For a ``site``, the run's tables must be
    finished and its manifest and artifacts readable; the terminal report reads ``rows.jsonl`` too."""
    d = Path(d)
    if not d.is_dir():
        return f"not a run directory ({'a file, not a folder' if d.exists() else 'no such folder'})"
    if not (d / "scores.parquet").exists() and not (d / "scores.csv").exists():
        if (d / "rows.jsonl").exists():
            return None if not site else "an unfinished run (rows.jsonl, no scores.parquet or scores.csv); `bench run --resume` finishes it"
        return "not a run directory (no scores.parquet or scores.csv); run `bench run` first"
    return (_json_problem(d / "manifest.json") or _json_problem(d / "artifacts.json")) if site else None


def usable_runs(run_dirs: list[Path], site: bool = True) -> list[Path]:
    """The folders of ``run_dirs`` that can be shown; each other one is skipped with a warning
    that says why. None at all is a BenchError naming each folder and its problem."""
    keep, skipped = [], []
    for d in map(Path, run_dirs):
        why = run_problem(d, site)
        if why is None:
            keep.append(d)
        else:
            skipped.append(f"{d}: {why}")
    if run_dirs and not keep:
        raise BenchError("no run to show: " + "; ".join(skipped))
    for s in skipped:
        warn(f"skipped {s}")
    return keep


def copy_runs(site: Path, run_dirs: list[Path]) -> list[str]:
    runs = site / "data" / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    ids = []
    for d in run_dirs:
        d = Path(d)
        why = run_problem(d)
        if why:
            raise BenchError(f"{d}: {why}")
        manifest = json.loads((d / "manifest.json").read_text()) if (d / "manifest.json").exists() else {}
        run_id = str(manifest.get("run_id") or d.name)
        if not re.fullmatch(r"[\w.-]+", run_id):
            run_id = re.sub(r"[^\w.-]", "_", run_id)
        dst = runs / run_id
        dst.mkdir(exist_ok=True)
        for f in RUN_FILES:
            if (d / f).exists():
                shutil.copy2(d / f, dst / f)
        ids.append(run_id)
    return ids


def load_site_runs(site: Path) -> tuple[pd.DataFrame, dict[str, dict], dict[str, dict]]:
    """All runs kept in the site: merged rows (latest run wins), manifests, artifacts."""
    frames, manifests, artifacts = [], {}, {}
    for d in sorted((site / "data" / "runs").iterdir()):
        if not d.is_dir():
            continue
        why = run_problem(d)
        if why:  # a run the site kept from before (bench publish) that has since been damaged
            warn(f"skipped {d}: {why}")
            continue
        try:
            scores = read_scores(d)
        except (OSError, ValueError) as exc:  # a damaged scores file (pyarrow's errors are ValueErrors)
            warn(f"skipped {d}: its scores cannot be read ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})")
            continue
        m = json.loads((d / "manifest.json").read_text()) if (d / "manifest.json").exists() else {}
        manifests[d.name] = m
        if (d / "artifacts.json").exists():
            artifacts[d.name] = json.loads((d / "artifacts.json").read_text())
        frames.append((scores, str(m.get("started") or "")))
    if not frames:
        raise BenchError(f"{site}: no runs to show")
    return newest_rows(frames), manifests, artifacts


def bootstrap_ci(values: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean (1000 resamples, fixed seed); none when a
    value is not finite (``identity``'s inf fps: no time measured) or there are fewer than two."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2 or not np.isfinite(values).all():
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (BOOTSTRAP, len(values)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def leaderboards(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Per data set: metrics (name, arrow, family, unit) and method rows with cells
    (mean, CI, best) and a rank (mean of per-metric ranks)."""
    ok = df[df["status"] == "ok"]
    main = ok[~ok["metric"].astype(str).str.contains("/", regex=False)]
    out = []
    for ds, g in main.groupby("dataset", sort=False):
        g_items = g[g["scope"].isin(ITEM_SCOPES)]
        g_corpus = g[g["scope"] == "dataset"]
        metrics = list(dict.fromkeys(list(g_items["metric"]) + list(g_corpus["metric"])))
        info = g.drop_duplicates("metric").set_index("metric")
        methods = list(dict.fromkeys(g["method"]))
        cells: dict[tuple[str, str], dict[str, Any]] = {}
        for (method, metric), mg in g_items.groupby(["method", "metric"], sort=False):
            v = mg["value"].to_numpy(dtype=np.float64)
            lo, hi = bootstrap_ci(v)
            cells[(method, metric)] = {"mean": float(v.mean()), "lo": lo, "hi": hi, "n": len(v)}
        for (method, metric), mg in g_corpus.groupby(["method", "metric"], sort=False):
            cells[(method, metric)] = {"mean": float(mg["value"].iloc[0]), "lo": float("nan"), "hi": float("nan"), "n": 1}
        failed = df[(df["dataset"] == ds) & (df["status"] != "ok")].groupby(["method", "metric"]).size().to_dict()
        ranks = {m: [] for m in methods}
        for metric in metrics:
            hib = bool(info.loc[metric, "higher_is_better"])
            vals = {m: cells[(m, metric)]["mean"] for m in methods if (m, metric) in cells}
            if not vals:
                continue
            finite = [v for v in vals.values() if np.isfinite(v)]  # inf fps (identity does no work) wins nothing
            best = (max(finite) if hib else min(finite)) if finite else None
            order = sorted(vals, key=lambda m: -vals[m] if hib else vals[m])
            for m in vals:
                cells[(m, metric)]["best"] = len(vals) > 1 and vals[m] == best and metric not in NOT_RANKED
                if len(vals) > 1 and metric_family(metric) != "speed" and metric not in NOT_RANKED:
                    ranks[m].append(order.index(m) + 1)
        rows = []
        for m in methods:
            r = [cells.get((m, x), {"mean": float("nan"), "lo": float("nan"), "hi": float("nan"), "n": 0, "best": False}) for x in metrics]
            for x, c in zip(metrics, r):
                c["text"] = fmt(c["mean"], info.loc[x, "unit"])
                c["ci"] = f"{fmt(c['lo'], info.loc[x, 'unit'])}–{fmt(c['hi'], info.loc[x, 'unit'])}" if not np.isnan(c["lo"]) else ""
                c["failed"] = int(failed.get((m, x), 0))
            rows.append({"method": m, "cells": r, "avg_rank": float(np.mean(ranks[m])) if ranks[m] else float("nan")})
        finite = sorted({r["avg_rank"] for r in rows if not np.isnan(r["avg_rank"])})
        for r in rows:
            r["rank"] = finite.index(r["avg_rank"]) + 1 if not np.isnan(r["avg_rank"]) else ""
        rows.sort(key=lambda r: (r["rank"] == "", r["rank"] or 0))
        base = str(g["base"].iloc[0])
        out.append({
            "dataset": ds, "base": base, "degradation": str(g["degradation"].iloc[0] or "none"),
            "metrics": [{"name": x, "arrow": "↑" if bool(info.loc[x, "higher_is_better"]) else "↓", "family": metric_family(x),
                         "unit": str(info.loc[x, "unit"] or "")} for x in metrics],
            "rows": rows,
        })
    return out
