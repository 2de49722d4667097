"""The data behind the site (:mod:`.site`): runs copied into it and merged (the latest run
wins for a repeated value), metric families, and per-data-set leaderboards with bootstrap
confidence intervals and ranks."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.run.results import write_scores
from benchmark.run.runfiles import (
    manifest_problem,
    public_artifacts,
    public_items,
    public_rows,
    read_artifacts,
    read_json,
    read_run_scores,
    redact,
    run_roots,
    safe_run_name,
)

from ..errors import BenchError, warn
from .leaderboard import fmt, newest_rows

FAMILIES = ("fidelity", "perceptual", "no-reference", "task", "temporal", "subjective", "speed")
#: rows written by `bench study results` (benchmark.serve.study), not computed by `bench run`
SUBJECTIVE = ("mos", "dmos", "bt-score", "mos-raters")
NOT_RANKED = ("mos-raters",)  # a count of raters, not a quality
ITEM_SCOPES = ("image", "clip")
RUN_FILES = ("scores.parquet", "scores.csv", "manifest.json", "artifacts.json")


def metric_family(name: str) -> str:
    from benchmark import registry

    base = name.split("/", 1)[0]
    if base.endswith("-gain"):
        return "task"
    base = base.removesuffix("-refcap")
    if base in SUBJECTIVE:
        return "subjective"
    try:
        return registry.metrics.get(base).family or "fidelity"
    except Exception:  # a plug-in that is not installed here: keep its rows, guess nothing
        return "other"


def _json_problem(path: Path) -> str | None:
    """Why the JSON file ``path`` (if there is one) cannot be read as an object; None if it can."""
    if not path.exists():
        return None
    try:
        data = read_json(path)  # a regular file of a bounded size (a FIFO would hang, a huge file exhaust memory)
    except (OSError, ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return f"its {path.name} is not readable JSON ({' '.join(str(exc).split())[:160]})"
    if not isinstance(data, dict):
        return f"its {path.name} is not a JSON object"
    return manifest_problem(data) if path.name == "manifest.json" else None


def _rows_problem(d: Path) -> str | None:
    """Why the ``rows.jsonl`` of an unfinished run cannot be shown: no record in it at all, only damaged lines."""
    from benchmark.run.writer import ROWS_FILE, scan

    log = scan(d / ROWS_FILE)
    if not log.records and log.damaged:
        return (
            f"its {ROWS_FILE} holds no record of bench run ({log.damaged} damaged line{'s' if log.damaged > 1 else ''})"
        )
    return None


def run_problem(d: Path, site: bool = True) -> str | None:
    """Why ``d`` cannot be shown (None: it can). For a ``site``, the run's tables must be
    finished and its manifest and artifacts readable; the terminal report reads ``rows.jsonl`` too.
    Either way the scores must be a table of the results format, and the manifest's fields of their types."""
    from benchmark.run.results import read_manifest

    d = Path(d)
    if not d.is_dir():
        return f"not a run directory ({'a file, not a folder' if d.exists() else 'no such folder'})"
    if site:
        problem = _json_problem(d / "manifest.json") or _json_problem(d / "artifacts.json")
    else:  # the report notes an unreadable manifest itself (run_notes); one it reads must hold fields of their types
        m = read_manifest(d)
        problem = manifest_problem(m) if m is not None else None
    if not (d / "scores.parquet").exists() and not (d / "scores.csv").exists():
        if (d / "rows.jsonl").exists():
            return (
                (problem or _rows_problem(d))
                if not site
                else "an unfinished run (rows.jsonl, no scores.parquet or scores.csv); `bench run --resume` finishes it"
            )
        return "not a run directory (no scores.parquet or scores.csv); run `bench run` first"
    if problem:
        return problem
    try:
        read_run_scores(d)
    except (OSError, ValueError) as exc:
        return " ".join(str(exc).split())[:240]
    return None


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


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)  # replaces a planted link, never writes through it


def _site_name(d: Path, manifest: dict[str, Any], taken: dict[str, Path]) -> str:
    """The folder a run is kept under in the site: its run id, or (said in one warning) the
    folder's own name when the id is no safe folder name or another folder of this build has it."""
    name, unsafe = safe_run_name(manifest.get("run_id") or d.name, d)
    base, n = name, 1
    while name in taken and taken[name] != d.resolve():
        n += 1
        name = f"{base}-{n}"
    if unsafe or name != base:
        why = unsafe or f"another run folder of this build has the run id {base!r}"
        warn(f"{d}: {why}; kept in the site as {name!r}")
    taken[name] = d.resolve()
    return name


def copy_runs(site: Path, run_dirs: list[Path]) -> list[str]:
    """Copy each run into ``SITE/data/runs/<name>/`` as a site shows it: its rows with local
    paths cut to their last component, its manifest and ``artifacts.json`` redacted (the cache,
    data root, run folder and home as ``<cache>``, ``<data>``, ``<run>``, ``~``: :mod:`benchmark.run.runfiles`).
    ``<name>``: :func:`_site_name`. Returns the names, one per run folder, in order."""
    runs = site / "data" / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    ids: list[str] = []
    taken: dict[str, Path] = {}
    for d in map(Path, run_dirs):
        why = run_problem(d)
        if why:
            raise BenchError(f"{d}: {why}")
        manifest = read_json(d / "manifest.json") if (d / "manifest.json").exists() else {}
        run_id = _site_name(d, manifest, taken)
        dst = runs / run_id
        if dst.is_symlink() or (dst.exists() and not dst.is_dir()):
            dst.unlink()
        dst.mkdir(exist_ok=True)
        roots = run_roots(manifest, d)
        write_scores(dst, public_rows(read_run_scores(d)))
        _write_json(dst / "manifest.json", redact(manifest, roots))
        if (d / "artifacts.json").exists():
            _write_json(dst / "artifacts.json", public_artifacts(read_artifacts(d / "artifacts.json"), roots))
        else:
            (dst / "artifacts.json").unlink(missing_ok=True)
        ids.append(run_id)
    return ids


def load_site_runs(
    site: Path, originals: dict[str, Path] | None = None
) -> tuple[pd.DataFrame, dict[str, dict], dict[str, dict]]:
    """All runs kept in the site: merged rows (latest run wins), manifests, artifacts. The
    artifacts of the runs in ``originals`` ({name in the site: run folder}, the ones copied in
    by this build) are read from the run folder (where its cache and sources are); the others'
    from the site's redacted copy (``<cache>``: this machine's cache, ``<data>``: its data root)."""
    from benchmark.run.runfiles import local_cache

    frames, manifests, artifacts = [], {}, {}
    originals = originals or {}
    for d in sorted((site / "data" / "runs").iterdir()):
        if not d.is_dir() or d.is_symlink():
            continue
        why = run_problem(d)
        if why:  # a run the site kept from before (bench publish) that has since been damaged
            warn(f"skipped {d}: {why}")
            continue
        scores = public_rows(read_run_scores(d))
        m = read_json(d / "manifest.json") if (d / "manifest.json").exists() else {}
        manifests[d.name] = redact(m, run_roots(m, d))  # a site copy written before redaction, too
        src = originals.get(d.name, d) / "artifacts.json"
        if src.exists():
            art = read_artifacts(src, say=src.parent == d)  # the run folder's own were said when copied
            artifacts[d.name] = {"cache_dir": local_cache(art["cache_dir"]), "items": public_items(art["items"])}
        frames.append((scores, str(m.get("started") or "")))
    if not frames:
        raise BenchError(f"{site}: no runs to show")
    return newest_rows(frames), manifests, artifacts


def leaderboards(df: pd.DataFrame, sig=None) -> list[dict[str, Any]]:
    """Per data set: metrics (name, arrow, family, unit) and method rows with cells (mean, the
    95% bootstrap interval and mark of :mod:`.significance`, best: marked '*' or '=') and a rank
    (mean of per-metric ranks). ``sig``: :func:`.significance.analyse` of ``df`` if at hand."""
    from .costs import is_cost
    from .significance import analyse

    sig = sig if sig is not None else analyse(df)
    marks = {(r.dataset, r.method, r.metric): r for r in sig.cells.itertuples()}
    ok = df[(df["status"] == "ok") & ~is_cost(df)]  # the costs have their own table
    main = ok[~ok["metric"].astype(str).str.contains("/", regex=False)]
    out = []
    for ds, g in main.groupby("dataset", sort=False):
        g_items = g[g["scope"].isin(ITEM_SCOPES)]
        metrics = list(dict.fromkeys(list(g_items["metric"]) + list(g[g["scope"] == "dataset"]["metric"])))
        info = g.drop_duplicates("metric").set_index("metric")
        methods = list(dict.fromkeys(g["method"]))
        cells = _cells(g, ds, marks)
        failed = df[(df["dataset"] == ds) & (df["status"] != "ok") & ~is_cost(df)].groupby(["method", "metric"]).size()
        rows = _method_rows(cells, methods, metrics, info, _ranks(cells, methods, metrics, info), failed.to_dict())
        out.append(
            {
                "dataset": ds,
                "base": str(g["base"].iloc[0]),
                "degradation": str(g["degradation"].iloc[0] or "none"),
                "metrics": [
                    {
                        "name": x,
                        "arrow": "↑" if bool(info.loc[x, "higher_is_better"]) else "↓",
                        "family": metric_family(x),
                        "unit": str(info.loc[x, "unit"] or ""),
                    }
                    for x in metrics
                ],
                "rows": rows,
            }
        )
    return out


def _cells(g: pd.DataFrame, ds: str, marks: dict) -> dict[tuple[str, str], dict[str, Any]]:
    """(method, metric) -> the cell of a data set's rows ``g``: the mean over items with its interval
    and mark, or a corpus metric's one value."""
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for (method, metric), mg in g[g["scope"].isin(ITEM_SCOPES)].groupby(["method", "metric"], sort=False):
        v = mg["value"].to_numpy(dtype=np.float64)
        c = marks.get((ds, method, metric))
        lo, hi = (c.ci_low, c.ci_high) if c is not None else (float("nan"), float("nan"))
        cells[(method, metric)] = {
            "mean": float(v.mean()),
            "lo": lo,
            "hi": hi,
            "n": len(v),
            "mark": c.mark if c is not None else "",
        }
    for (method, metric), mg in g[g["scope"] == "dataset"].groupby(["method", "metric"], sort=False):
        cells[(method, metric)] = {
            "mean": float(mg["value"].iloc[0]),
            "lo": float("nan"),
            "hi": float("nan"),
            "n": 1,
            "mark": "",
        }
    return cells


def _ranks(cells: dict, methods: list[str], metrics: list[str], info: pd.DataFrame) -> dict[str, list[int]]:
    """Each method's rank on every ranked metric (and each cell's ``best``, from its mark)."""
    ranks: dict[str, list[int]] = {m: [] for m in methods}
    for metric in metrics:
        hib = bool(info.loc[metric, "higher_is_better"])
        vals = {m: cells[(m, metric)]["mean"] for m in methods if (m, metric) in cells}
        if not vals:
            continue
        order = sorted(vals, key=lambda m: -vals[m] if hib else vals[m])
        for m in vals:
            cells[(m, metric)]["best"] = bool(cells[(m, metric)]["mark"]) and metric not in NOT_RANKED
            if len(vals) > 1 and metric_family(metric) != "speed" and metric not in NOT_RANKED:
                ranks[m].append(order.index(m) + 1)
    return ranks


def _method_rows(
    cells: dict, methods: list[str], metrics: list[str], info: pd.DataFrame, ranks: dict[str, list[int]], failed: dict
) -> list[dict[str, Any]]:
    """A row per method (its cells as text, its mean rank and place), best ranked first."""
    rows = []
    for m in methods:
        empty = {"mean": float("nan"), "lo": float("nan"), "hi": float("nan"), "n": 0, "best": False, "mark": ""}
        r = [cells.get((m, x), dict(empty)) for x in metrics]
        for x, c in zip(metrics, r):
            unit = info.loc[x, "unit"]
            c["text"] = fmt(c["mean"], unit)
            c["ci"] = f"{fmt(c['lo'], unit)}–{fmt(c['hi'], unit)}" if not np.isnan(c["lo"]) else ""
            c["failed"] = int(failed.get((m, x), 0))
        rows.append({"method": m, "cells": r, "avg_rank": float(np.mean(ranks[m])) if ranks[m] else float("nan")})
    finite = sorted({r["avg_rank"] for r in rows if not np.isnan(r["avg_rank"])})
    for r in rows:
        r["rank"] = finite.index(r["avg_rank"]) + 1 if not np.isnan(r["avg_rank"]) else ""
    rows.sort(key=lambda r: (r["rank"] == "", r["rank"] or 0))
    return rows
