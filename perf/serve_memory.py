"""Peak memory of each built-in method of ``bench serve`` on a large upload, through the server's enhance path.

Each method runs in a fresh process: the app of ``bench serve`` (``create_app``, FastAPI's test client),
one upload of a SIZExSIZE PNG (a photo enlarged, so the networks see natural content) to
``POST /api/enhance``, polled until the job is done. The parent prints the job's seconds, the
process's peak RSS before the upload (the interpreter, torch, the app, the methods listed: the
named baseline) and after the job (``wait4``'s ``ru_maxrss``), and their difference, as a Markdown
table. The memory budget is the default (50% of the available memory, capped at 1 GiB, on the
CPU) unless ``BENCH_MEMORY_BUDGET`` is set.

    nice -n 10 python perf/serve_memory.py                                 # every built-in at 4096x4096
    nice -n 10 python perf/serve_memory.py --size 2048 -m srgan,srresnet   # the slow ones smaller
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FAST_FIRST = [
    "identity",
    "bicubic",
    "lanczos",
    "tsmooth",
    "fast-srgan",
    "ssim",
    "gan",
    "pix2pix",
    "videoboost",
    "srresnet",
    "srgan",
]
SCALE_FREE = {"identity": None, "bicubic": 2, "lanczos": 2}  # scale sent with the upload (identity: 1, the default)


def make_input(dst: Path, size: int) -> Path:
    import cv2
    from skimage import data

    img = cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(dst), img[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return dst


def child(method: str, png: Path, scale: int | None) -> None:
    """In the measured process: one upload through the app, printed as JSON on the last line."""
    import resource

    from fastapi.testclient import TestClient

    from benchmark.serve.app import ServeConfig, create_app
    from benchmark.serve.jobs import Limits

    with tempfile.TemporaryDirectory() as runs:
        app = create_app(ServeConfig(runs_dir=Path(runs), limits=Limits(max_upload_mb=1024, workers=1)))
        with TestClient(app) as c:  # the lifespan lists the methods, as the server does before it listens
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            t0 = time.perf_counter()
            data = {"method": method, **({"scale": str(scale)} if scale else {})}
            r = c.post("/api/enhance", files={"file": (png.name, png.read_bytes(), "image/png")}, data=data)
            if r.status_code != 202:
                print(json.dumps({"status": "refused", "error": r.json()["error"], "before_kb": before}))
                return
            job = r.json()["job"]
            while (j := c.get(f"/api/jobs/{job}").json())["status"] not in ("done", "error"):
                time.sleep(0.5)
            print(
                json.dumps(
                    {
                        "status": j["status"],
                        "error": j["error"],
                        "seconds": time.perf_counter() - t0,
                        "input": j["input_size"],
                        "output": j["output_size"],
                        "before_kb": before,
                    }
                )
            )


def measure(method: str, png: Path, timeout: float, limit_gb: float) -> dict:
    import resource

    def limit():  # a method that needs more fails alone instead of starving the machine's other processes
        resource.setrlimit(resource.RLIMIT_AS, (int(limit_gb * 2**30), int(limit_gb * 2**30)))

    cmd = [sys.executable, __file__, "--child", method, "--png", str(png)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=limit)
    t0 = time.monotonic()
    while (res := os.wait4(p.pid, os.WNOHANG))[0] == 0:
        if time.monotonic() - t0 > timeout:
            p.kill()
            res = os.wait4(p.pid, 0)
            return {"status": f"over {timeout:.0f} s", "peak_kb": res[2].ru_maxrss}
        time.sleep(0.5)
    out = p.stdout.read().strip().splitlines()
    try:
        info = json.loads(out[-1])
    except (IndexError, ValueError):
        info = {"status": "crashed", "error": "\n".join(out[-5:])}
    info["peak_kb"] = res[2].ru_maxrss
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=4096, help="side of the square upload (pixels)")
    ap.add_argument("-m", "--methods", default=",".join(FAST_FIRST), help="comma-separated methods, in this order")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds one method may take")
    ap.add_argument("--limit-gb", type=float, default=18, help="address-space limit of each child")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--png", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(a.child, Path(a.png), SCALE_FREE.get(a.child))
    from benchmark.core.memory import memory_budget

    print(
        f"memory budget: {memory_budget('cpu') / 2**20:.0f} MiB (BENCH_MEMORY_BUDGET={os.environ.get('BENCH_MEMORY_BUDGET', 'unset')}); "
        f"upload {a.size}x{a.size}",
        flush=True,
    )
    print(
        "| method | input | output | seconds | RSS before upload (MB) | peak RSS (MB) | peak − before (MB) | status |"
    )
    print("|---|---|---|---:|---:|---:|---:|---|", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        png = make_input(Path(tmp) / f"photo{a.size}.png", a.size)
        for m in a.methods.split(","):
            r = measure(m, png, a.timeout, a.limit_gb)
            before = r.get("before_kb", 0) / 1024
            secs = f"{r['seconds']:.1f}" if "seconds" in r else "-"
            status = r["status"] + (f": {r['error']}" if r.get("error") else "").replace("\n", " ").replace("|", "/")
            print(
                f"| {m} | {r.get('input', '-')} | {r.get('output', '-')} | {secs} | {before:.0f} | {r['peak_kb'] / 1024:.0f} | "
                f"{r['peak_kb'] / 1024 - before:.0f} | {status} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
