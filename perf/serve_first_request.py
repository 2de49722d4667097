"""The time of the first requests to ``bench serve`` after it says it is ready, in a fresh process.

The server is started on a free port over an empty RUNS_DIR (``bench serve``'s own ``serve``); once
uvicorn prints ``Uvicorn running on`` (it listens), the main pages are requested once each, in
order: /enhance, /live, /study, /leaderboards/. The named baseline, ``lazy``, is the server as it
was before issue 26: the methods listed on the first request that needs them (``warm`` left out);
``warm`` lists them before the server listens (the default). Both are printed, with the time from
the start of the process to ready.

    nice -n 10 python perf/serve_first_request.py            # lazy, then warm
    nice -n 10 python perf/serve_first_request.py --repeat 3
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PAGES = ["/enhance", "/live", "/study", "/leaderboards/"]


def serve(port: int, runs: str, lazy: bool) -> None:
    """In the server's process: ``bench serve RUNS --port PORT``, without the warm-up when ``lazy``."""
    from benchmark.serve import app as app_mod

    if lazy:
        app_mod.warm = lambda st: 0.0
    app_mod.serve(app_mod.ServeConfig(runs_dir=Path(runs)), host="127.0.0.1", port=port, log_level="info")


def once(mode: str) -> dict[str, float]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as runs:
        t0 = time.perf_counter()
        cmd = [sys.executable, __file__, "--serve", str(port), "--runs", runs] + (["--lazy"] if mode == "lazy" else [])
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            for line in p.stderr:
                if "Uvicorn running on" in line:
                    break
            else:
                raise SystemExit(f"the server did not start ({mode})")
            out = {"ready": time.perf_counter() - t0}
            for page in PAGES:
                t = time.perf_counter()
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{page}", timeout=120) as r:
                    r.read()
                out[page] = time.perf_counter() - t
        finally:
            p.terminate()
            p.wait(timeout=30)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=1, help="runs of each mode (the figures of each are printed)")
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--runs", help=argparse.SUPPRESS)
    ap.add_argument("--lazy", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve:
        return serve(a.serve, a.runs, a.lazy)
    print("| mode | start to ready (s) | " + " | ".join(f"first GET {p} (s)" for p in PAGES) + " |")
    print("|---|---:|" + "---:|" * len(PAGES))
    for _ in range(a.repeat):
        for mode in ("lazy", "warm"):
            r = once(mode)
            name = "lazy (baseline: before issue 26)" if mode == "lazy" else "warm (methods listed before listening)"
            print(f"| {name} | {r['ready']:.2f} | " + " | ".join(f"{r[p]:.3f}" for p in PAGES) + " |", flush=True)


if __name__ == "__main__":
    main()
