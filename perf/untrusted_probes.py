"""The probes of ``perf/fault_table_untrusted.py`` (issue 39) that read and write files: each makes its
inputs in a folder of its own and returns its steps (``bench`` arguments, or :class:`Py` programs); its check
says what came out. The probes of ``bench serve`` are in :mod:`untrusted_probes_serve`."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from benchmark.core.imaging import write_png  # noqa: E402

from conftest import smooth_image  # noqa: E402

SECRET = b"TOP-SECRET-0123456789"
BAD_TEX = r"m$\undefinedcommand$"


class Py:
    """A step that is a Python program (``code``, run with ``args``), not a ``bench`` command."""

    def __init__(self, code: str, *args: str):
        self.code, self.args = code, [str(a) for a in args]


class Probe:
    """One fault: ``setup(w, base)`` makes its inputs (``base``: this version's run folder, to copy) and returns its
    steps (``bench`` arguments or :class:`Py`); ``check(w, procs)`` says what came out, in a few words."""

    def __init__(self, section, name, setup, check, timeout=120, memory_gb=None):
        self.section, self.name, self.setup, self.check = section, name, setup, check
        self.timeout, self.memory_gb = timeout, memory_gb


# ----------------------------------------------------------------------------- helpers
def _images(d: Path, sizes=((48, 64), (40, 56))) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for i, (h, w) in enumerate(sizes):
        write_png(d / f"img{i}.png", smooth_image(h, w, seed=i))
    return d


def _copy_run(base: Path, dst: Path) -> Path:
    shutil.copytree(base, dst, symlinks=True)
    return dst


def _out(procs, i=-1) -> str:
    return procs[i].stdout + procs[i].stderr


def _json(procs, i=-1) -> dict:
    lines = [x for x in procs[i].stdout.strip().splitlines() if x.startswith("{")]
    return json.loads(lines[-1]) if lines else {"no answer": (procs[i].stderr.strip().splitlines() or ["-"])[-1][:80]}


def _exit_only(w, procs) -> str:
    return "-"


def _clip(path: Path, pts_ms=None, frames=3) -> Path:
    """An H.264 clip; with ``pts_ms`` its frames at those times (ms: a variable frame rate)."""
    from fractions import Fraction

    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 32, 24, "yuv420p"
        if pts_ms:
            s.time_base = s.codec_context.time_base = Fraction(1, 1000)
        for i in range(len(pts_ms) if pts_ms else frames):
            vf = av.VideoFrame.from_ndarray(np.roll(smooth_image(24, 32), 3 * i, 1), format="rgb24")
            if pts_ms:
                vf.pts, vf.time_base = pts_ms[i], Fraction(1, 1000)
            for pkt in s.encode(vf):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path


# ----------------------------------------------------------------------------- 1. security and data loss
def _p_crafted(w, base):
    out = w / "outside"
    out.mkdir()
    (out / "secret.txt").write_bytes(SECRET)
    craft = Py(
        """
import json, sys
from pathlib import Path
from benchmark.run.cache import frames_dir
run, outside = Path(sys.argv[1]), Path(sys.argv[2])
art = json.loads((run / "artifacts.json").read_text())
it0, it1 = art["items"][0], art["items"][1]
it0["outputs"]["evil"] = "../../../../outside/secret"
it0["outputs"]["abs"] = str(outside / "secret.txt")
it0["source"] = str(outside / "secret.txt")
it1["source"] = "../../outside/secret.txt"
f = frames_dir(Path(art["cache_dir"]), it1["outputs"]["bicubic"]) / "000000.png"
f.unlink(); f.symlink_to(outside / "secret.txt")
(run / "artifacts.json").write_text(json.dumps(art))
""",
        w / "r",
        out,
    )
    run = [
        "run",
        "-q",
        "-m",
        "identity,bicubic",
        "-d",
        f"{_images(w / 'i')}@x2",
        "--metrics",
        "psnr",
        "-o",
        str(w / "r"),
    ]
    return [run, craft, ["report", str(w / "r"), "--html", str(w / "site")]]


def _c_crafted(w, procs):
    site = w / "site"
    blob = (
        b"".join(p.read_bytes() for p in site.rglob("*") if p.is_file() and not p.is_symlink())
        if site.exists()
        else b""
    )
    outside = [p.name for p in w.iterdir() if p.name not in ("i", "r", "site", "outside", "cache")]
    links = [p for p in site.rglob("*") if p.is_symlink()] if site.exists() else []
    return f"secret {'copied into' if SECRET in blob else 'not in'} the site; {len(links)} link(s) in it" + (
        f"; written outside: {', '.join(outside)}" if outside else ""
    )


def _p_run_id(value):
    def setup(w, base):
        r = _copy_run(base, w / "runs" / "r1")
        m = json.loads((r / "manifest.json").read_text())
        m["run_id"] = value
        (r / "manifest.json").write_text(json.dumps(m))
        return ["report", str(r), "--html", str(w / "site")]

    return setup


def _c_run_id(w, procs):
    site = w / "site"
    if not (site / "index.html").exists():
        return "no site"
    runs = sorted(p.name for p in (site / "data" / "runs").iterdir()) if (site / "data" / "runs").is_dir() else []
    stray = [str(p.relative_to(w)) for p in (site / "data", site, w) if (p / "manifest.json").exists()]
    boards = (site / "index.html").read_text().count('<table class="board"')
    return f"site/data/runs: {runs}; manifest at {stray or 'its own folder'}; {boards} board(s)"


def _p_rows_random(w, base):
    r = _copy_run(base, w / "r")
    for f in ("scores.parquet", "scores.csv"):
        (r / f).unlink(missing_ok=True)
    (r / "rows.jsonl").write_bytes(np.random.default_rng(0).bytes(5000))
    return ["report", str(r), "--out", str(w / "rep")]


def _c_leaderboard(w, procs):
    md = w / "rep" / "leaderboard.md"
    if not md.exists():
        return "no leaderboard.md"
    rows = [x for x in md.read_text().splitlines() if x.startswith("| ") and "---" not in x]
    return f"leaderboard.md with {max(len(rows) - 1, 0)} table row(s)"


# ----------------------------------------------------------------------------- 2. bounded work before any decode
def _p_sparse(w, base):
    d = _images(w / "data", ((32, 32),))
    with open(d / "big.png", "wb") as f:
        f.truncate(20 * 2**30)
    return ["run", "-q", "-m", "identity", "-d", f"{d}@qf20", "--metrics", "psnr", "-o", str(w / "o")]


def _scores(out: Path):
    import pandas as pd

    p = out / "scores.parquet"
    return pd.read_parquet(p) if p.exists() else None


def _c_sparse(w, procs):
    df = _scores(w / "o")
    if df is None:
        return "no scores" + (" (no answer in time)" if procs[-1].returncode is None else "")
    ok = df[(df.status == "ok") & (df.metric == "psnr")].item_id.unique()
    bad = df[df.status == "error"].item_id.unique()
    return f"psnr of {', '.join(ok) or 'none'}; error row(s) for {', '.join(bad) or 'none'}; {_c_took(w, procs)}"


def _p_fifo_enhance(w, base):
    os.mkfifo(w / "cam.png")
    return ["enhance", str(w / "cam.png"), "-m", "identity", "-q", "-o", str(w / "o.png")]


def _p_dev_zero(w, base):
    return ["run", "-m", "bicubic", "-d", "/dev/zero@x2", "--metrics", "psnr", "--dry-run", "-o", str(w / "o")]


def _p_braces(w, base):
    return [
        "run",
        "-m",
        "bicubic",
        "-d",
        "set5" + "-x{0,1,2,3,4,5,6,7,8,9}" * 7,
        "--dry-run",
        "-o",
        str(w / "o"),
    ]  # the name


def _c_took(w, procs):
    return f"{procs[-1].seconds:.1f} s, peak RSS {procs[-1].peak_mb:,.0f} MB" + (
        " (no answer)" if procs[-1].returncode is None else ""
    )


def _p_deep_spec(w, base):
    (w / "spec.toml").write_text('[degradations.deep]\ntype = "jpeg"\nq = ' + "[" * 5000 + "1" + "]" * 5000 + "\n")
    return ["run", "-m", "bicubic", "-d", "set5-deep", "--spec", str(w / "spec.toml"), "--dry-run", "-o", str(w / "o")]


def _p_spec_cycle(w, base):
    (w / "spec.toml").write_text('[degradations.a]\nchain = "b"\n[degradations.b]\nchain = "a"\n')
    return ["run", "-m", "bicubic", "-d", "set5-a", "--spec", str(w / "spec.toml"), "--dry-run", "-o", str(w / "o")]


# ----------------------------------------------------------------------------- 3. one bad part never takes down the whole
def _p_damaged(kind):
    def setup(w, base):
        good, bad = _copy_run(base, w / "good"), _copy_run(base, w / "bad")
        if kind == "manifest":
            m = json.loads((bad / "manifest.json").read_text())
            m["started"] = 5
            (bad / "manifest.json").write_text(json.dumps(m))
        else:
            import pandas as pd

            df = pd.read_parquet(bad / "scores.parquet").drop(columns=["metric"])
            df.to_parquet(bad / "scores.parquet")
            df.to_csv(bad / "scores.csv", index=False)
        return ["report", str(bad), str(good), "--out", str(w / "rep"), "--html", str(w / "site")]

    return setup


def _c_damaged(w, procs):
    return (
        f"{_c_leaderboard(w, procs)}; site {'built' if (w / 'site' / 'index.html').exists() else 'without index.html'}"
    )


def _p_float_site(w, base):
    run = ["run", "-q", "-m", "identity", "-d", f"{_images(w / 'i')}@noise25", "--metrics", "psnr", "-o", str(w / "r")]
    return [run, ["report", str(w / "r"), "--html", str(w / "site")]]


def _c_site(w, procs):
    site = w / "site"
    return (
        f"site built, {len(list((site / 'img').glob('*.png')))} frame(s) copied"
        if (site / "index.html").exists()
        else "site without index.html"
    )


# ----------------------------------------------------------------------------- 4. one line, never a traceback
def _p_enhance_svg(w, base):
    (w / "x.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>')
    return ["enhance", str(w / "x.svg"), "-m", "bicubic", "-q"]


def _p_enhance_txt(w, base):
    return ["enhance", str(_clip(w / "clip.mkv")), "-m", "bicubic", "-q", "-o", str(w / "out.txt")]


def _c_nothing_left(w, procs):
    left = [p.name for p in w.iterdir() if p.name.startswith((".out", "out"))]
    return f"left behind: {', '.join(left)}" if left else "nothing left behind"


def _p_train_tiny(w, base):
    d = w / "tiny"
    d.mkdir()
    write_png(d / "a_dot.png", smooth_image(1, 1, seed=0))
    write_png(d / "b_line.png", smooth_image(2000, 1, seed=1))
    for i in range(3):
        write_png(d / f"c{i}.png", smooth_image(64, 64, seed=i))
    return [
        "train",
        "fast-srgan",
        "-d",
        f"{d}@x2",
        "-o",
        str(w / "t"),
        "--steps",
        "1",
        "--batch",
        "2",
        "--patch",
        "16",
        "--val-items",
        "1",
        "-q",
    ]


DOLLAR = f"""
import sys
from benchmark import registry
from benchmark.api import Method
cls = type("Dollar", (Method,), {{"name": {BAD_TEX!r}, "scale": 1, "process": lambda self, frames, ctx: frames}})
registry.methods.register({BAD_TEX!r})(cls)
from benchmark.cli import app
app(sys.argv[1:])
"""


def _p_dollar(w, base):
    run = Py(
        DOLLAR,
        "run",
        "-q",
        "-m",
        f"{BAD_TEX},identity",
        "-d",
        f"{_images(w / 'i')}@qf20",
        "--metrics",
        "psnr,fps",
        "-o",
        w / "r",
    )
    return [run, ["report", str(w / "r"), "--html", str(w / "site")]]


# ----------------------------------------------------------------------------- 5. what a newcomer met
def _p_report_several(w, base):
    a, b = _copy_run(base, w / "a"), _copy_run(base, w / "b")
    (a / "leaderboard.md").write_text("run a's own leaderboard\n")
    return ["report", str(a), str(b)]


def _c_report_several(w, procs):
    own = (w / "a" / "leaderboard.md").read_text()
    merged = [str(p.parent.relative_to(w)) for p in w.rglob("leaderboard.md") if p.parent.name not in ("a", "b")]
    return f"run a's leaderboard.md {'kept' if own.startswith('run a') else 'OVERWRITTEN by the merge'}" + (
        f"; merged into {', '.join(merged)}" if merged else ""
    )


def _p_plugin_docs(w, base):
    return Py(
        """
import re, sys
from pathlib import Path
deps = re.findall(r'dependencies = \\[([^\\]]*)\\]', (Path(sys.argv[1]) / "docs" / "plugins.md").read_text())
print(deps[0] if deps else "-")
""",
        "{code}",
    )


def _c_plugin_docs(w, procs):
    dep = procs[-1].stdout.strip()
    return f"docs/plugins.md: dependencies = [{dep}]" + (" (an unrelated PyPI package)" if dep == '"bench"' else "")


def _p_fetch_hint(w, base):
    (w / "empty").mkdir()
    return [
        "run",
        "--methods",
        "gan,ssim",
        "--dataset",
        "voc-qf20",
        "--data-root",
        str(w / "empty"),
        "--dry-run",
        "-o",
        str(w / "o"),
    ]


def _c_fetch_hint(w, procs):
    return (
        "names `bench data fetch voc`"
        if "bench data fetch voc" in " ".join(_out(procs).split())
        else "no fetch command named"
    )


def _p_bd_summary(w, base):
    run = [
        "run",
        "-q",
        "-m",
        "identity,bicubic,lanczos",
        "-d",
        f"{_images(w / 'i')}@qf{{20,40}}",
        "--metrics",
        "psnr,ssim,psnr-y,psnr-b",
        "-o",
        str(w / "r"),
    ]
    return [run, ["report", str(w / "r"), "--out", str(w / "rep")]]


def _c_bd_summary(w, procs):
    lines = procs[-1].stdout.splitlines()
    start = next((i for i, x in enumerate(lines) if x.startswith("BD-rate against")), None)
    end = next((i for i, x in enumerate(lines) if x.startswith("Bjøntegaard delta")), None)
    return "no BD section" if start is None or end is None else f"BD section: {end - start} line(s) before its legend"


PTS_MS = [0, 40, 60, 300, 320, 500, 700, 720, 960]


def _p_vfr(w, base):
    return ["enhance", str(_clip(w / "vfr.mkv", PTS_MS)), "-m", "identity", "-o", str(w / "out.mkv")]


def _c_vfr(w, procs):
    import av

    if not (w / "out.mkv").exists():
        return "no output"
    with av.open(str(w / "vfr.mkv")) as c:
        src = c.duration / av.time_base
    with av.open(str(w / "out.mkv")) as c:
        pts = [float(f.pts * f.time_base) for f in c.decode(video=0)]
        dur = c.duration / av.time_base
    return f"{src:.2f} s clip -> {dur:.2f} s; frame times {'kept' if [round(p * 1000) for p in pts] == PTS_MS else 'constant 25 fps'}"
