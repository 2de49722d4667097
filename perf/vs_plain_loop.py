"""`bench run` against the plain loop a user would write, whole process against whole process.

    BENCH_DATA_ROOT=/work/shared/data python perf/vs_plain_loop.py [--repeats 2] [--limit N]

The plain loop (written to a temporary file and run as its own process): Pillow JPEG
quality 20 encode/decode in memory, ``piq.psnr`` / ``piq.ssim`` (data range 255, no
downsampling, as bench's conventions) on tensors, and pyiqa's ``niqe`` / ``brisque``
metrics made with ``pyiqa.create_metric`` from the same model files bench ships (the
NIQE parameters of ``niqe_pris_params.npz`` written as the .mat pyiqa reads, the BRISQUE
"allmodel" SVR as the (sv_coef, sv) pair pyiqa loads; NIQE on the Y of rgb2ycbcr as
bench), so nothing downloads. Against it: ``bench run -m identity -d live1-qf20 -d
cbsd68-qf20 --metrics psnr,ssim,niqe,brisque --no-cache`` (cold) and, when ``bench run
--help`` lists it, the same with ``--workers 2``. The processes run alternately, each
``--repeats`` times; wall clock from spawn to exit (imports included) and each process's
own peak RSS (``os.wait4``'s rusage of that child: with ``--workers`` the parent's only,
as the workers are its children, not ours). Prints the seconds, the ratios loop/bench (median over the repeats) and the peak RSS.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOOP = r"""
import io, sys, time
from pathlib import Path
t0 = time.perf_counter()
import numpy as np, torch, piq, pyiqa
from PIL import Image
root, niqe_mat, brisque_pt, limit = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
niqe = pyiqa.create_metric("niqe", device="cpu", pretrained_model_path=niqe_mat, color_space="ycbcr")
brisque = pyiqa.create_metric("brisque", device="cpu", pretrained_model_path=brisque_pt)
rows = []
for folder in ("LIVE1", "CBSD68"):
    for f in sorted((root / "images" / folder).glob("*.png"))[:limit or None]:
        ref = Image.open(f).convert("RGB")
        buf = io.BytesIO()
        ref.save(buf, "JPEG", quality=20)
        out = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
        t = lambda im: torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1)[None].float()
        x, y = t(out), t(ref)
        with torch.no_grad():
            rows.append((f.name, piq.psnr(x, y, data_range=255.0).item(), piq.ssim(x, y, data_range=255.0, downsample=False).item(),
                         niqe(x / 255.0).item(), brisque(x / 255.0).item()))
print(f"loop: {len(rows)} images, mean psnr {np.mean([r[1] for r in rows]):.4f} ssim {np.mean([r[2] for r in rows]):.5f} "
      f"niqe {np.mean([r[3] for r in rows]):.4f} brisque {np.mean([r[4] for r in rows]):.4f}, {time.perf_counter() - t0:.1f} s inside")
"""


#: the bench side: the 97 images of LIVE1 and CBSD68 at QF20, cold (perf/engine_speed.py runs it too)
JOB = [
    "run",
    "-m",
    "identity",
    "-d",
    "live1-qf20",
    "-d",
    "cbsd68-qf20",
    "--metrics",
    "psnr,ssim,niqe,brisque",
    "--no-cache",
    "-q",
]


def model_files(tmp: Path) -> tuple[str, str]:
    """bench's shipped NIQE/BRISQUE models in the formats pyiqa's classes load."""
    import numpy as np
    import scipy.io
    import torch

    from benchmark.files.weights import NIQE_PARAMS, asset_path
    from benchmark.metrics.nr import brisque_model

    p = np.load(asset_path(NIQE_PARAMS))
    mat = tmp / "niqe_pris_params.mat"
    scipy.io.savemat(mat, {"mu_prisparam": p["mu_pris_param"], "cov_prisparam": p["cov_pris_param"]})
    sv_coef, sv, gamma, rho = brisque_model()
    assert (gamma, rho) == (0.05, -153.591), (gamma, rho)  # pyiqa's 'original' constants
    pt = tmp / "brisque_allmodel.pt"
    torch.save((torch.from_numpy(sv_coef), torch.from_numpy(sv)), pt)
    return str(mat), str(pt)


def run(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """Spawn, wait with wait4 (the child's own rusage: its peak RSS), return (s, MB, last line)."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{out[-2000:]}")
    lines = [line for line in out.strip().splitlines() if line.strip()]
    return dt, ru.ru_maxrss / 1024, (lines or [""])[-1][:150]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="images per set (0: all 29 + 68)")
    ap.add_argument("--bench", default=str(Path(sys.executable).with_name("bench")))
    a = ap.parse_args()
    root = os.environ.get("BENCH_DATA_ROOT")
    if not root:
        raise SystemExit("set BENCH_DATA_ROOT (images/LIVE1, images/CBSD68)")
    env = dict(os.environ)
    tmp = Path(tempfile.mkdtemp(prefix="vsloop-"))
    try:
        niqe_mat, brisque_pt = model_files(tmp)
        loop_py = tmp / "plain_loop.py"
        loop_py.write_text(LOOP)
        base = [a.bench, *JOB] + (["--limit", str(a.limit)] if a.limit else [])
        has_workers = (
            "--workers"
            in subprocess.run(
                [a.bench, "run", "--help"], capture_output=True, text=True, env={**env, "COLUMNS": "200"}
            ).stdout
        )
        variants = {
            "loop": lambda i: [sys.executable, str(loop_py), root, niqe_mat, brisque_pt, str(a.limit)],
            "bench": lambda i: base + ["-o", str(tmp / f"run-serial-{i}")],
        }
        if has_workers:
            variants["bench --workers 2"] = lambda i: base + ["--workers", "2", "-o", str(tmp / f"run-w2-{i}")]
        results: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
        print(
            f"threads: OMP_NUM_THREADS={env.get('OMP_NUM_THREADS', '(unset)')}, {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.2f}"
        )
        for i in range(a.repeats):
            for name, cmd in variants.items():
                dt, mb, last = run(cmd(i), env)
                results[name].append((dt, mb))
                print(f"  repeat {i + 1} {name:18} {dt:7.1f} s  peak RSS {mb:6.0f} MB   {last}", flush=True)
        print()
        loop_t = statistics.median(t for t, _ in results["loop"])
        print(f"{'process':20} {'runs (s)':>24} {'median s':>9} {'loop/this':>10} {'peak RSS MB':>12}")
        for name, rs in results.items():
            med = statistics.median(t for t, _ in rs)
            print(
                f"{name:20} {' '.join(f'{t:.1f}' for t, _ in rs):>24} {med:9.1f} {loop_t / med:10.2f} {max(m for _, m in rs):12.0f}"
            )
        if not has_workers:
            print("bench --workers 2: not measured, `bench run --help` lists no --workers in this checkout")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
