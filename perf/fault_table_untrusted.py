"""Fault table of issue 39 (run folders, data and requests are untrusted input): every class it
lists, tried on two versions of the code, side by side: what the user sees (exit code, the last
line of stderr, a traceback or not) and what came out (the checked outcome of each probe).

    python perf/fault_table_untrusted.py --before /tmp/before39 [--after .] [WORK_DIR]

``--before`` is a checkout of the code before the issue (``git worktree add /tmp/before39 e0f4f5d``);
``--after`` defaults to this checkout. Each probe runs in fresh processes, ``python -S`` with
PYTHONPATH set to a folder from which ``import benchmark`` gives that checkout alone
(:func:`rows_unchanged.import_root`: an editable install would map ``benchmark.datasets``,
``methods`` and ``reports`` to its own checkout), in a folder of its own. Every step has a
wall-clock limit (a hang is a row saying so) and the probes that read a 20 GB file or expand
10 million names an address-space limit. A probe of ``bench serve`` runs the app in a child
(FastAPI's test client, or uvicorn and a SIGINT). About 8 minutes on a 2-core CPU. Prints a
Markdown table at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import site
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import untrusted_probes as f  # noqa: E402
import untrusted_probes_serve as s  # noqa: E402
from rows_unchanged import import_root  # noqa: E402
from untrusted_probes import REPO, Probe, Py, _images  # noqa: E402


class Done:
    """A finished (or timed-out) step: ``returncode`` is None after a timeout."""

    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


PROBES = [
    Probe(
        "1",
        "crafted artifacts.json (keys as paths, absolute sources) and a symlink in the cache",
        f._p_crafted,
        f._c_crafted,
    ),
    Probe("1", "run_id '.'", f._p_run_id("."), f._c_run_id),
    Probe("1", "run_id '..'", f._p_run_id(".."), f._c_run_id),
    Probe("1", "rows.jsonl of random bytes", f._p_rows_random, f._c_leaderboard),
    Probe("1", "rater name with terminal escapes / 500,000 chars", s._p_rater, s._c_rater),
    Probe("1", "absolute paths in the served manifest and site", s._p_served_paths, s._c_served_paths),
    Probe(
        "2",
        "20 GB sparse .png in a data folder (6 GB address space)",
        f._p_sparse,
        f._c_sparse,
        timeout=120,
        memory_gb=6,
    ),
    Probe("2", "a FIFO named .png to bench enhance", f._p_fifo_enhance, f._exit_only, timeout=15),
    Probe("2", "-d /dev/zero@x2", f._p_dev_zero, f._exit_only, timeout=60, memory_gb=6),
    Probe("2", "seven brace groups of ten (10 million sets)", f._p_braces, f._c_took, timeout=90, memory_gb=6),
    Probe("2", "spec file nested 5,000 deep", f._p_deep_spec, f._exit_only),
    Probe("2", "two spec degradations naming each other", f._p_spec_cycle, f._exit_only),
    Probe("3", 'a damaged manifest ("started": 5) among good runs', f._p_damaged("manifest"), f._c_damaged),
    Probe("3", "a scores file without a metric column among good runs", f._p_damaged("scores"), f._c_damaged),
    Probe("3", "report --html over a float-input run (@noise25)", f._p_float_site, f._c_site),
    Probe("3", "studies.sqlite of random bytes: bench serve", s._p_db_serve, s._c_db_serve),
    Probe("3", "studies.sqlite of random bytes: bench study results", s._p_db_cli, f._exit_only),
    Probe("3", "JSON body nested 200,000 deep", s._p_deep_json, s._c_status),
    Probe("3", "SVG upload to /api/enhance", s._p_svg, s._c_status),
    Probe("3", "planted job.json (id ../../victim; created: text)", s._p_job_file, s._c_job_file),
    Probe("4", "bench enhance x.svg", f._p_enhance_svg, f._exit_only),
    Probe("4", "bench enhance clip.mkv -o out.txt", f._p_enhance_txt, f._c_nothing_left),
    Probe("4", "bench train fast-srgan on 1x1 and 1x2000 images", f._p_train_tiny, f._exit_only, timeout=180),
    Probe("4", "a method named m$\\undefinedcommand$: report --html", f._p_dollar, f._c_site),
    Probe("5", "bench report over several runs, no --out", f._p_report_several, f._c_report_several),
    Probe("5", "plug-in dependency name in docs/plugins.md", f._p_plugin_docs, f._c_plugin_docs),
    Probe("5", "bench run -m gan,ssim -d voc-qf20 without the data", f._p_fetch_hint, f._c_fetch_hint),
    Probe("5", "BD-rate with two codec levels", f._p_bd_summary, f._c_bd_summary),
    Probe("5", "bench enhance of a variable-frame-rate clip", f._p_vfr, f._c_vfr),
    Probe("5", "Ctrl-C on bench serve with a job running", s._p_serve_exit("job"), s._c_serve_exit, timeout=120),
    Probe(
        "5",
        "Ctrl-C on bench serve while the Leaderboards page builds",
        s._p_serve_exit("site"),
        s._c_serve_exit,
        timeout=120,
    ),
    Probe("5", "a new job's status (1 worker, 3 uploads) and the docs", s._p_job_state, s._c_job_state),
]


# ----------------------------------------------------------------------------- running
def version_env(code: Path, work: Path) -> dict:
    path = os.pathsep.join([str(import_root(code, work)), *site.getsitepackages()])
    return {**os.environ, "PYTHONPATH": path, "COLUMNS": "200", "BENCH_COST": "0", "OMP_NUM_THREADS": "1"}


def run_step(step, env: dict, cwd: Path, timeout: float, memory_gb: float | None, code: Path) -> Done:
    if isinstance(step, Py):
        cmd = [sys.executable, "-S", "-c", step.code, *(a.replace("{code}", str(code)) for a in step.args)]
    else:
        cmd = [sys.executable, "-S", "-m", "benchmark.cli", *step]

    def limit():
        if memory_gb:
            resource.setrlimit(resource.RLIMIT_AS, (int(memory_gb * 2**30), int(memory_gb * 2**30)))

    t0 = time.perf_counter()
    with (
        open(cwd.parent / f"{cwd.name}.stdout", "w+") as out,
        open(cwd.parent / f"{cwd.name}.stderr", "w+") as err,
    ):  # beside its folder
        p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err, text=True, preexec_fn=limit)
        while (res := os.wait4(p.pid, os.WNOHANG))[0] == 0 and time.perf_counter() - t0 < timeout:
            time.sleep(0.05)
        rc = res[1]
        if res[0] == 0:  # over the limit: killed, its stdout and stderr kept
            p.kill()
            res, rc = os.wait4(p.pid, 0), None
        p.returncode = -1  # reaped here (wait4), not by Popen
        out.seek(0)
        err.seek(0)
        done = Done(None if rc is None else os.waitstatus_to_exitcode(rc), out.read(), err.read())
    done.seconds, done.peak_mb = time.perf_counter() - t0, res[2].ru_maxrss / 1024
    return done


def base_run(code: Path, work: Path, env: dict) -> Path:
    """This version's run folder that probes copy (identity and bicubic, x2, PSNR, two images)."""
    out = work / "r1"
    if not (out / "scores.parquet").exists():
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        args = [
            "run",
            "-q",
            "-m",
            "identity,bicubic",
            "-d",
            f"{_images(work / 'imgs')}@x2",
            "--metrics",
            "psnr",
            "-o",
            str(out),
        ]
        done = run_step(args, {**env, "BENCH_CACHE_DIR": str(work / "cache")}, work, 300, None, code)
        if not (out / "scores.parquet").exists():
            raise SystemExit(f"the base run of {code} failed:\n{done.stderr[-2000:]}")
    return out


def run_probe(probe: Probe, code: Path, work: Path, base: Path, env: dict) -> tuple[str, str, str]:
    """(last exit code, last stderr line or TRACEBACK, the probe's check) on one version of the code."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {**env, "BENCH_CACHE_DIR": str(work / "cache")}
    steps = probe.setup(work, base)
    steps = steps if isinstance(steps, list) and steps and not isinstance(steps[0], str) else [steps]
    procs = []
    for step in steps:
        procs.append(run_step(step, env, work, probe.timeout, probe.memory_gb, code))
        if procs[-1].returncode is None:
            break
    last = procs[-1]
    if last.returncode is None:
        return "-", f"no answer in {probe.timeout} s (killed)", _safe_check(probe, work, procs)
    lines = [x for x in last.stderr.strip().splitlines() if x.strip()] or last.stdout.strip().splitlines()
    if isinstance(
        steps[len(procs) - 1], Py
    ):  # a client of the app: its output is the outcome; the log says nothing to a user
        lines = [x for x in lines if x.startswith(("error:", "Error", "Traceback"))] or ["(a client: see the outcome)"]
    said = ("TRACEBACK: " if "Traceback" in last.stderr else "") + (
        lines[-1].strip().replace(str(work.parent), "W")[:100] if lines else ""
    )
    return str(last.returncode), said, _safe_check(probe, work, procs)


def _safe_check(probe: Probe, work: Path, procs) -> str:
    try:
        return probe.check(work, procs)
    except Exception as exc:  # noqa: BLE001 - a probe's own failure is a finding too
        return f"check failed: {type(exc).__name__}: {exc}"[:100]


def cell(text: str, work: Path) -> str:
    """``text`` for a table cell: on one line, the work folder as ``W``."""
    return " ".join(str(text).replace(str(work), "W").replace("|", "/").replace("\x1b", "\\x1b").split())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("work", nargs="?", default="/tmp/bench-faults-39")
    ap.add_argument("--before", type=Path, required=True, help="checkout of the code before the issue (e0f4f5d)")
    ap.add_argument("--after", type=Path, default=REPO, help="checkout of the code after it (default: this one)")
    ap.add_argument("--only", default="", help="only the probes whose name contains one of these (comma-separated)")
    a = ap.parse_args()
    work = Path(a.work)
    versions = {}
    for tag, code in (("before", a.before.resolve()), ("after", a.after.resolve())):
        shutil.rmtree(work / f"root-{tag}", ignore_errors=True)
        env = version_env(code, work / f"root-{tag}")
        versions[tag] = (code, env, base_run(code, work / f"base-{tag}", env))
    table = []
    t0 = time.time()
    for i, probe in enumerate(PROBES):
        if a.only and not any(part in probe.name for part in a.only.split(",")):
            continue
        row = [probe.section, probe.name]
        for tag, (code, env, base) in versions.items():
            rc, said, checked = run_probe(probe, code, work / f"{i:02d}-{tag}", base, env)
            row += [rc, said, checked]
        table.append([cell(x, work) for x in row])
        print(json.dumps(table[-1]), flush=True)
    print(f"\n{len(table)} probes, {time.time() - t0:.0f} s (W: {work})\n")
    print("| § | fault | before: exit | before: says | before: outcome | after: exit | after: says | after: outcome |")
    print("|---|---|---:|---|---|---:|---|---|")
    for row in table:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
