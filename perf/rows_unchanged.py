"""Behaviour unchanged, shown: a fixed set of `bench run` jobs before and after a change,
every row of their ``scores.csv`` compared (same keys, same order, values equal to 1e-12).

    BENCH_DATA_ROOT=../shared/data python perf/rows_unchanged.py \\
        --before /path/to/old/checkout --after . --work /tmp/rows [--detector PATH] [--only NAME ...]

Each side runs as ``python -S -m benchmark.cli`` with ``PYTHONPATH`` set to a folder that
imports its checkout alone (:func:`import_root`; an editable install no longer leaks the current
checkout's ``datasets``/``methods``/``reports`` into the before side), each with a cold cache of its own. A third pass runs the *after* code on the *before* cache and
checks that it adds no cache entry (entries made before the change still hit) and gives the
same rows. ``run_id`` and ``elapsed_s`` differ by nature and are not compared, nor the values
of the measured metrics (``fps``, and the cost rows ``peak-mem``, ``latency-p50``/``-p95``: speed and
memory of this run); every other column is (``params``, ``macs`` too). Exit 1 on any difference.
A side already captured under ``--work`` is reused (delete the folder to capture it again).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

VOLATILE = ("run_id", "elapsed_s")
#: metrics whose values are measurements of this run's speed or memory, not functions of its inputs
MEASURED = ("fps", "peak-mem", "latency-p50", "latency-p95")
TOLERANCE = 1e-12


def jobs(detector: str | None) -> dict[str, list[str]]:
    """The fixed jobs: name -> the `bench run` arguments."""
    out = {
        "default": [],
        "live1": ["-m", "identity,ssim,gan", "-d", "live1-qf10", "--metrics", "psnr,ssim,niqe,brisque"],
        "vid4-crf": [
            "-m",
            "identity,ssim",
            "-d",
            "vid4-crf35",
            "--metrics",
            "psnr,ssim,tof,flicker",
            "--max-frames",
            "10",
        ],
        "workers2": [
            "-m",
            "identity,ssim",
            "-d",
            "live1-qf20",
            "--metrics",
            "psnr,ssim,psnr-b",
            "--limit",
            "8",
            "--workers",
            "2",
        ],
        "ray": [
            "-m",
            "identity,gan",
            "-d",
            "cbsd68-qf20",
            "--metrics",
            "psnr,ssim-y",
            "--limit",
            "6",
            "--executor",
            "ray",
        ],
    }
    if detector:
        out["coco-map50"] = [
            "-m",
            "identity,ssim",
            "-d",
            "coco-qf10",
            "--metrics",
            "psnr,map50",
            "--limit",
            "40",
            "--detector",
            detector,
        ]
    return out


def import_root(src: Path, work: Path) -> Path:
    """A folder from which ``import benchmark`` gives the code of the checkout ``src`` alone: the
    installed package maps ``benchmark.datasets``/``methods``/``reports`` to the top-level folders
    (pyproject's package-dir), and an editable install's finder would map them to *its* checkout
    whatever PYTHONPATH says; here ``benchmark/`` is a folder of links to ``src/benchmark/*`` plus
    those three, and the child runs with ``python -S`` (no .pth file, so no editable finder) and
    the site-packages on PYTHONPATH."""
    root = work / f"import-{abs(hash(str(src.resolve()))):x}"
    pkg = root / "benchmark"
    if not pkg.exists():
        pkg.mkdir(parents=True)
        for entry in (src / "benchmark").iterdir():
            (pkg / entry.name).symlink_to(entry.resolve())
        for sub in ("datasets", "methods", "reports"):
            (pkg / sub).symlink_to((src / sub).resolve())
    return root


def run_job(src: Path, args: list[str], out: Path, cache: Path) -> float:
    import site

    path = os.pathsep.join([str(import_root(src, out.parents[2])), *site.getsitepackages()])
    env = {**os.environ, "PYTHONPATH": path, "RAY_TMPDIR": str(cache.parent)}  # a Ray of its own, not the user's
    cmd = [sys.executable, "-S", "-m", "benchmark.cli", "run", "-q", *args, "-o", str(out), "--cache-dir", str(cache)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, cwd=out.parent, capture_output=True, text=True)
    if r.returncode not in (0, 1) or not (out / "scores.csv").exists():
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return time.perf_counter() - t0


def cache_entries(cache: Path) -> set[str]:
    return {
        str(p.relative_to(cache))
        for p in cache.rglob("*")
        if p.is_file() and p.name != "costs.json" and not p.name.startswith(".")
    }


def compare(a: Path, b: Path) -> list[str]:
    """Differences between two scores.csv files (empty: equal)."""
    x, y = pd.read_csv(a, keep_default_na=False), pd.read_csv(b, keep_default_na=False)
    if list(x.columns) != list(y.columns):
        return [f"columns differ: {list(x.columns)} vs {list(y.columns)}"]
    if len(x) != len(y):
        return [f"{len(x)} rows vs {len(y)}"]
    diffs = []
    keys = [c for c in x.columns if c not in VOLATILE and c != "value"]
    for i in range(len(x)):
        rx, ry = x.iloc[i], y.iloc[i]
        for c in keys:
            if str(rx[c]) != str(ry[c]):
                diffs.append(f"row {i} column {c}: {rx[c]!r} vs {ry[c]!r}")
        if rx["metric"] in MEASURED:
            continue
        vx, vy = _num(rx["value"]), _num(ry["value"])
        same = (math.isnan(vx) and math.isnan(vy)) or vx == vy or abs(vx - vy) <= TOLERANCE
        if not same:
            diffs.append(
                f"row {i} ({rx['dataset']} / {rx['item_id']} / {rx['method']} / {rx['metric']}): value {vx!r} vs {vy!r}"
            )
    return diffs


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def capture(
    side: str, src: Path, work: Path, todo: dict[str, list[str]], cache: Path | None = None
) -> dict[str, float]:
    root = work / side
    cache = cache or root / "cache"
    times = {}
    for name, args in todo.items():
        out = root / name / "run"
        if (out / "scores.csv").exists():
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        times[name] = run_job(src, args, out, cache)
        print(
            f"  {side:12s} {name:10s} {times[name]:7.1f} s  {sum(1 for _ in open(out / 'scores.csv')) - 1} rows",
            flush=True,
        )
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, required=True, help="checkout of the code before the change")
    ap.add_argument("--after", type=Path, default=Path("."), help="checkout of the code after the change")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench-rows"))
    ap.add_argument(
        "--detector",
        default=None,
        help="detector for the coco-qf10 map50 job (e.g. ../shared/weights/yolov8n_int8_openvino_model)",
    )
    ap.add_argument("--only", nargs="*", default=None, help="run only these jobs")
    ap.add_argument("--capture-only", action="store_true", help="capture the before side and stop")
    a = ap.parse_args()
    todo = jobs(a.detector)
    if a.only:
        todo = {k: v for k, v in todo.items() if k in a.only}
    a.work.mkdir(parents=True, exist_ok=True)
    print(f"jobs: {', '.join(todo)}")
    capture("before", a.before, a.work, todo)
    if a.capture_only:
        return
    if (a.work / "after").exists():
        shutil.rmtree(a.work / "after")
    if (a.work / "after-cache").exists():
        shutil.rmtree(a.work / "after-cache")
    capture("after", a.after, a.work, todo)
    before_cache = a.work / "before" / "cache"
    entries = cache_entries(before_cache)
    capture("after-cache", a.after, a.work, todo, cache=before_cache)
    added = sorted(cache_entries(before_cache) - entries)
    report = {"jobs": {}, "cache_entries_before": len(entries), "cache_entries_added_by_after": len(added)}
    bad = 0
    for name in todo:
        a_csv = a.work / "before" / name / "run" / "scores.csv"
        rows = sum(1 for _ in open(a_csv)) - 1
        d1 = compare(a_csv, a.work / "after" / name / "run" / "scores.csv")
        d2 = compare(a_csv, a.work / "after-cache" / name / "run" / "scores.csv")
        report["jobs"][name] = {"rows": rows, "diffs_fresh_cache": len(d1), "diffs_old_cache": len(d2)}
        status = "EQUAL" if not d1 and not d2 else "DIFFERENT"
        bad += bool(d1 or d2)
        print(
            f"{name:10s} {rows:6d} rows  fresh cache: {len(d1)} differences  old cache: {len(d2)} differences  -> {status}"
        )
        for d in (d1 + d2)[:10]:
            print(f"    {d}")
    print(
        f"cache: {len(entries)} entries made before; the after code on that cache added {len(added)}"
        + (f" (e.g. {added[:3]})" if added else " (every entry hit)")
    )
    (a.work / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    sys.exit(1 if bad or added else 0)


if __name__ == "__main__":
    main()
