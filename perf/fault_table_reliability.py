"""Fault table of the reliability issue (25): every class of fault it lists, tried on two
versions of the code, side by side: what the user sees (exit code, the last line of stderr,
a traceback or not) and what the numbers say (the checked outcome of each probe).

    python perf/fault_table_reliability.py --before /work/base [--after .] [WORK_DIR]

``--before`` is a checkout of the code before the issue (8785d63, with ``benchmark/{datasets,
methods,reports}`` linked to the top-level folders so that it imports from PYTHONPATH);
``--after`` defaults to this checkout. Each probe runs ``python -m benchmark.cli`` in a fresh
process with PYTHONPATH set to one version, in a folder of its own. ``BENCH_DATA_ROOT`` is
needed for the weights-file probe (``weights/published/dncnn_25.pth`` beside ``data/``).
About 3 minutes on a 2-core CPU. Prints a Markdown table at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from benchmark.core.imaging import write_png  # noqa: E402

from conftest import smooth_image  # noqa: E402


class Probe:
    """One fault: ``setup(work)`` makes its inputs and returns the CLI arguments (a list, or a
    list of lists run in order); ``check(work, procs)`` says what came out, in a few words."""

    def __init__(self, name, setup, check, cls):
        self.name, self.setup, self.check, self.cls = name, setup, check, cls


def _images(d: Path, sizes=((48, 64), (40, 56), (64, 64))) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for i, (h, w) in enumerate(sizes):
        write_png(d / f"img{i}.png", smooth_image(h, w, seed=i))
    return d


def _scores(out: Path):
    import pandas as pd

    p = out / "scores.parquet"
    return pd.read_parquet(p) if p.exists() else None


def _value(df, **where) -> str:
    if df is None:
        return "no scores"
    for k, v in where.items():
        df = df[df[k] == v]
    if not len(df):
        return "no row"
    r = df.iloc[0]
    return f"{r.status} {r.value:.2f}" if r.status == "ok" else f"error row ({str(r.error)[:60]})"


def _p_zero_pixels(w):
    d = w / "tiny"
    d.mkdir()
    write_png(d / "tiny.png", smooth_image(7, 5))
    return ["run", "-q", "-m", "bicubic", "-d", f"{d}@x4", "--metrics", "psnr,psnr-y", "-o", str(w / "o")]


def _p_crop_border(w):
    return [
        "run",
        "-q",
        "-m",
        "identity",
        "-d",
        f"{_images(w / 'i')}@qf20",
        "--metrics",
        "psnr,psnr-b",
        "--crop-border",
        "100",
        "-o",
        str(w / "o"),
    ]


def _p_missing_weights(w):
    return [
        "run",
        "-q",
        "-m",
        "fast-srgan:weights=nope.safetensors",
        "-d",
        f"{_images(w / 'i')}@x2",
        "--metrics",
        "psnr",
        "-o",
        str(w / "o"),
    ]


def _p_one_stem(w):
    d = _images(w / "i", ((48, 64),))
    import cv2

    cv2.imwrite(str(d / "img0.jpg"), smooth_image(40, 40, seed=9))
    return ["run", "-q", "-d", f"{d}@qf20", "--metrics", "psnr", "-o", str(w / "o")]


def _c_one_stem(w, procs):
    df = _scores(w / "o")
    return (
        "no scores" if df is None else f"{df.item_id.nunique()} items scored: {', '.join(sorted(df.item_id.unique()))}"
    )


def _p_weights_settings(w):
    pth = Path(os.environ.get("BENCH_DATA_ROOT", "../shared/data")).parent / "weights" / "published" / "dncnn_25.pth"
    d = w / "g"
    d.mkdir()
    for i in range(2):
        write_png(d / f"g{i}.png", smooth_image(40, 48, c=1, seed=i))
    return ["run", "-q", "-m", f"{pth},{pth}:tile=16", "-d", f"{d}@qf30", "--metrics", "psnr", "-o", str(w / "o")]


def _c_weights_settings(w, procs):
    df = _scores(w / "o")
    return "no scores" if df is None else f"{df.method.nunique()} labels: {', '.join(sorted(df.method.unique()))}"


def _p_report_twice(w):
    run = ["run", "-q", "-m", "identity", "-d", f"{_images(w / 'i')}@qf20", "--metrics", "psnr"]
    return [
        run + ["-o", str(w / "a")],
        run + ["-o", str(w / "b")],
        ["report", str(w / "a"), str(w / "b"), "-o", str(w / "rep")],
    ]


def _c_report_twice(w, procs):
    out = procs[-1].stdout + procs[-1].stderr
    n = [line for line in out.splitlines() if "identity" in line]
    return (
        "n=3 (each item once)"
        if any(" 3 " in line or "│ 3" in line for line in n)
        else "n=6 (items counted twice)"
        if any(" 6 " in line or "│ 6" in line for line in n)
        else (n[0][:60] if n else out.strip().splitlines()[-1][:60] if out.strip() else "-")
    )


EXITS = """
import sys
from benchmark import registry
from benchmark.api import Method
@registry.methods.register("exits")
class Exits(Method):
    name = "exits"
    def process(self, frames, ctx):
        if ctx.item_id == "img1":
            sys.exit(3)
        return frames
from benchmark.cli import app
app(sys.argv[1:])
"""


def _p_sys_exit(w):
    (w / "exits.py").write_text(EXITS)
    return [
        "@exits.py",
        "run",
        "-q",
        "-m",
        "exits",
        "-d",
        f"{_images(w / 'i')}@qf20",
        "--metrics",
        "psnr",
        "-o",
        str(w / "o"),
    ]


def _c_sys_exit(w, procs):
    df = _scores(w / "o")
    if df is None:
        return "no scores"
    return f"{(df.status == 'ok').sum()} ok rows, {(df.status == 'error').sum()} error rows"


def _p_spec_folder(w):
    (w / "spec").mkdir()
    return ["run", "-q", "--spec", str(w / "spec"), "-d", f"{_images(w / 'i')}@qf20", "-o", str(w / "o")]


def _p_spec_unknown_key(w):
    (w / "s.toml").write_text('[datasets.mine]\npath = "i"\ndegradatoin = "qf20"\n')
    _images(w / "i")
    return ["run", "-q", "--spec", str(w / "s.toml"), "-d", "mine", "--metrics", "psnr", "-o", str(w / "o")]


def _p_train_bad_toml(w):
    (w / "c.toml").write_text("steps = [oops\n")
    return [
        "train",
        "ssim",
        "-d",
        f"{_images(w / 'i')}@qf20",
        "--config",
        str(w / "c.toml"),
        "--val-items",
        "1",
        "-o",
        str(w / "t"),
        "-q",
    ]


def _p_train_zero_batch(w):
    (w / "c.toml").write_text("steps = 2\nbatch = 0\n")
    return [
        "train",
        "ssim",
        "-d",
        f"{_images(w / 'i')}@qf20",
        "--config",
        str(w / "c.toml"),
        "--val-items",
        "1",
        "-o",
        str(w / "t"),
        "-q",
    ]


def _p_train_damaged_checkpoint(w):
    (w / "t").mkdir()
    (w / "t" / "checkpoint.pt").write_bytes(b"not a checkpoint" * 10)
    return [
        "train",
        "ssim",
        "-d",
        f"{_images(w / 'i')}@qf20",
        "--resume",
        "--val-items",
        "1",
        "-o",
        str(w / "t"),
        "-q",
        "--steps",
        "2",
    ]


def _p_train_tiny(w):
    return [
        "train",
        "ssim",
        "-d",
        f"{_images(w / 'i', ((6, 6), (5, 7)))}@qf20",
        "--val-items",
        "1",
        "-o",
        str(w / "t"),
        "-q",
        "--steps",
        "2",
    ]


def _p_enhance_unwritable(w):
    d = _images(w / "i", ((48, 64),))
    (w / "ro").write_text("a file where the output folder should be (root ignores chmod)")
    return ["enhance", str(d / "img0.png"), "-m", "identity", "-o", str(w / "ro" / "out.png")]


def _p_enhance_not_video(w):
    (w / "clip.mp4").write_text("this is no video")
    return ["enhance", str(w / "clip.mp4"), "-m", "identity", "-o", str(w / "out.mp4")]


def _p_report_garbled(w):
    run = ["run", "-q", "-m", "identity", "-d", f"{_images(w / 'i')}@qf20", "--metrics", "psnr", "-o", str(w / "o")]
    return [run, ["report", "--html", str(w / "site"), str(w / "o")]]


def _pre_garble(w, i):
    if i == 1:
        (w / "o" / "manifest.json").write_text("{garbled")


def _p_fails_early(w):
    return ["run", "-q", "-d", f"{w / 'missing'}@qf20", "--metrics", "psnr", "-o", str(w / "o")]


def _c_fails_early(w, procs):
    return "run folder left behind" if (w / "o").exists() else "no folder left"


def _p_cuda(w):
    return [
        "run",
        "-q",
        "-m",
        "identity",
        "-d",
        f"{_images(w / 'i')}@qf20",
        "--metrics",
        "psnr",
        "--device",
        "cuda",
        "-o",
        str(w / "o"),
    ]


def _p_dry_cached(w):
    run = ["run", "-q", "-m", "identity", "-d", f"{_images(w / 'i')}@qf20", "--metrics", "psnr", "-o", str(w / "o")]
    return [run, run[:-2] + ["--dry-run"]]


def _c_dry_cached(w, procs):
    out = (procs[-1].stdout + procs[-1].stderr).strip().splitlines()
    return next((line.strip()[:70] for line in out if "to do" in line or "estimated" in line), "-")


def _p_inf_fps(w):
    return ["run", "-m", "identity,ssim", "-d", f"{_images(w / 'i')}@qf20", "--metrics", "psnr,fps", "-o", str(w / "o")]


def _c_inf_fps(w, procs):
    out = procs[-1].stdout
    best = next((line.strip() for line in out.splitlines() if line.strip().lower().startswith("best")), "")
    return best[:70] or "no best: line"


def _rows(what):
    def check(w, procs):
        return _value(_scores(w / "o"), **what)

    return check


def _exit_only(w, procs):
    return "-"


PROBES = [
    Probe("score over zero pixels (7x5 image @x4)", _p_zero_pixels, _rows({"metric": "psnr"}), "1 silent number"),
    Probe("  psnr-y there", _p_zero_pixels, _rows({"metric": "psnr-y"}), "1 silent number"),
    Probe("--crop-border 100 on 64 px images", _p_crop_border, _rows({"metric": "psnr"}), "1 silent number"),
    Probe("  psnr-b there", _p_crop_border, _rows({"metric": "psnr-b"}), "1 silent number"),
    Probe("explicit weights= naming a missing file", _p_missing_weights, _rows({"metric": "psnr"}), "1 silent number"),
    Probe("a.png + a.jpg in one folder", _p_one_stem, _c_one_stem, "1 silent number"),
    Probe("FILE and FILE:tile=16 in one run", _p_weights_settings, _c_weights_settings, "1 silent number"),
    Probe("report over two runs of one command", _p_report_twice, _c_report_twice, "1 silent number"),
    Probe("plug-in calls sys.exit() (serial run)", _p_sys_exit, _c_sys_exit, "2 no traceback"),
    Probe("--spec given a folder", _p_spec_folder, _exit_only, "2 no traceback"),
    Probe("spec file with a misspelt key", _p_spec_unknown_key, _exit_only, "2 no traceback"),
    Probe("train config: invalid TOML", _p_train_bad_toml, _exit_only, "2 no traceback"),
    Probe("train config: batch = 0", _p_train_zero_batch, _exit_only, "2 no traceback"),
    Probe("train --resume from a damaged checkpoint", _p_train_damaged_checkpoint, _exit_only, "2 no traceback"),
    Probe("train on 6x6 images", _p_train_tiny, _exit_only, "2 no traceback"),
    Probe("enhance to an unwritable folder", _p_enhance_unwritable, _exit_only, "2 no traceback"),
    Probe("enhance a non-video .mp4", _p_enhance_not_video, _exit_only, "2 no traceback"),
    Probe("report --html over a garbled manifest", _p_report_garbled, _exit_only, "2 no traceback"),
    Probe("run fails before its first unit", _p_fails_early, _c_fails_early, "2 no traceback"),
    Probe("--device cuda without a GPU", _p_cuda, _rows({"metric": "psnr"}), "2 no traceback"),
    Probe("--dry-run when all is cached", _p_dry_cached, _c_dry_cached, "4 newcomer"),
    Probe("identity's inf fps and the best: line", _p_inf_fps, _c_inf_fps, "4 newcomer"),
]
PRE = {"report --html over a garbled manifest": _pre_garble}


def run_probe(probe: Probe, code: Path, work: Path) -> tuple[int, str, str]:
    """(last exit code, last stderr line or TRACEBACK, the probe's check) on one version of the code."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(code), "BENCH_CACHE_DIR": str(work / "cache"), "COLUMNS": "200"}
    calls = probe.setup(work)
    calls = calls if isinstance(calls[0], list) else [calls]
    procs = []
    for i, args in enumerate(calls):
        PRE.get(probe.name.strip(), lambda w, i: None)(work, i)
        cmd = (
            [sys.executable, args[0][1:], *args[1:]]
            if args[0].startswith("@")
            else [sys.executable, "-m", "benchmark.cli", *args]
        )
        procs.append(subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True, timeout=600))
    last = procs[-1]
    lines = last.stderr.strip().splitlines() or last.stdout.strip().splitlines()
    said = ("TRACEBACK: " if "Traceback" in last.stderr else "") + (lines[-1].strip()[:90] if lines else "")
    try:
        checked = probe.check(work, procs)
    except Exception as exc:  # noqa: BLE001 - a probe's own failure is a finding too
        checked = f"check failed: {type(exc).__name__}: {exc}"[:90]
    return last.returncode, said, checked


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("work", nargs="?", default="/tmp/bench-faults-25")
    ap.add_argument("--before", type=Path, required=True, help="checkout of the code before the issue")
    ap.add_argument("--after", type=Path, default=REPO, help="checkout of the code after it (default: this one)")
    ap.add_argument("--only", default="", help="only the probes whose name contains one of these (comma-separated)")
    a = ap.parse_args()
    work = Path(a.work)
    table = []
    t0 = time.time()
    for i, probe in enumerate(PROBES):
        if a.only and not any(part in probe.name for part in a.only.split(",")):
            continue
        row = [probe.cls, probe.name]
        for tag, code in (("before", a.before), ("after", a.after)):
            rc, said, checked = run_probe(probe, code.resolve(), work / f"{i:02d}-{tag}")
            row += [str(rc), said.replace("|", "/"), checked.replace("|", "/")]
        table.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n{len(PROBES)} probes, {time.time() - t0:.0f} s\n")
    print(
        "| class | fault | before: exit | before: says | before: outcome | after: exit | after: says | after: outcome |"
    )
    print("|---|---|---:|---|---|---:|---|---|")
    for row in table:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
