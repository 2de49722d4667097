"""What measuring costs costs: a cold `bench run` of the default job with cost on (the default)
against the same run with ``--no-cost`` (issue 35's target: at most 10% longer).

    python perf/cost_overhead.py                 # 2 repeats, in the order on, off, off, on
    python perf/cost_overhead.py --repeats 3 --args "--max-frames 10"

Each run is ``bench run --no-cache -q -o OUT`` (the default job: identity, ssim, gan on
photos-qf20; bicubic, fast-srgan on clips-x2, 30 frames per clip), in its own process, with a
throw-away cache, so everything is computed: decoding, degrading, restoring, scoring and, with
cost on, the probes (no extra call on an image, one on a clip's first frame) and the MAC counts.
The order is mirrored (on, off, off, on, ...) so that a drift in the machine's load falls on both.
Prints each run's wall time and CPU time (user + system, ``os.wait4``: less moved by other work
on a shared machine), the medians and the overhead of cost on over cost off in both.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(cmd: list[str]) -> tuple[float, float]:
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{out[-2000:]}")
    return time.perf_counter() - t, ru.ru_utime + ru.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=2, help="pairs of runs (each pair: one with cost, one without)")
    ap.add_argument("--args", default="", help="more `bench run` arguments (default: none, the default job)")
    ap.add_argument("--bench", default=str(Path(sys.executable).with_name("bench")))
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="costoverhead-"))
    times: dict[str, list[tuple[float, float]]] = {"on": [], "off": []}
    try:
        order = [("on", "off") if r % 2 == 0 else ("off", "on") for r in range(a.repeats)]
        for r, pair in enumerate(order):
            for mode in pair:
                cmd = [
                    a.bench,
                    "run",
                    "--no-cache",
                    "-q",
                    "-o",
                    str(tmp / f"{mode}{r}"),
                    "--cost" if mode == "on" else "--no-cost",
                    *shlex.split(a.args),
                ]
                wall, cpu = run(cmd)
                times[mode].append((wall, cpu))
                print(f"  cost {mode:<3}: wall {wall:7.1f} s   cpu {cpu:7.1f} s", flush=True)
        med = {m: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for m, v in times.items()}
        print(
            f"median wall: on {med['on'][0]:.1f} s, off {med['off'][0]:.1f} s: {100 * (med['on'][0] / med['off'][0] - 1):+.1f}%   "
            f"median cpu: on {med['on'][1]:.1f} s, off {med['off'][1]:.1f} s: {100 * (med['on'][1] / med['off'][1] - 1):+.1f}% "
            "(target: at most +10%)"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
