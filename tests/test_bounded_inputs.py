"""Issue 39, sections 2 and 4: what a file or a name says is bounded before any work, and a bad
input is one line, never a traceback nor a hang.

Probes that would hang or take all memory on a reader that trusts its input run in a child
process with a wall-clock timeout and an address-space limit, so a regression fails the test
instead of the machine."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import av
import numpy as np
import pytest
from test_clear_errors import one_error  # the one `error:` line of a refused command
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.core.imaging import write_png
from benchmark.errors import BenchError

from conftest import smooth_image

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]


def child(code: str, timeout: float = 20, memory_gb: float = 3) -> dict:
    """Run ``code`` (which prints one JSON line last) in a child process limited to ``memory_gb`` of
    address space and ``timeout`` seconds; its JSON, or a failure naming what went wrong."""
    prelude = (
        f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({int(memory_gb * 2**30)}, {int(memory_gb * 2**30)}))\n"
        "import json, time, sys\n"
        # this process's own peak (VmHWM): ru_maxrss keeps the forking parent's peak across exec (1.2 GB in the full suite)
        "def peak_mb():\n    return int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) / 1024\n"
    )
    try:
        p = subprocess.run(
            [sys.executable, "-c", prelude + textwrap.dedent(code)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
            env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"no answer in {timeout} s (a hang, or the whole file read)")
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.fixture
def sparse_png(tmp_path) -> Path:
    """20 GB of zeros named .png: sparse, it costs no disk."""
    p = tmp_path / "data" / "big.png"
    p.parent.mkdir()
    with open(p, "wb") as f:
        f.truncate(20 * 2**30)
    write_png(tmp_path / "data" / "ok.png", smooth_image(16, 16, seed=0))
    return p


# ------------------------------------------------------------------ 2. bounded work before any decode

READ = """
    from benchmark.core.imaging import read_image
    t = time.perf_counter()
    try:
        read_image({path!r}{args})
        out = {{"ok": True}}
    except Exception as exc:
        out = {{"error": type(exc).__name__, "message": str(exc)}}
    out["ms"] = (time.perf_counter() - t) * 1000
    out["maxrss_mb"] = peak_mb()
    print(json.dumps(out))
"""


def test_sparse_20gb_png_is_refused_unread(sparse_png):
    out = child(READ.format(path=str(sparse_png), args=""))
    assert out.get("error") in ("ValueError", "TooLarge"), out
    assert str(sparse_png) in out["message"] and "bytes" in out["message"], out
    assert out["ms"] < 1000 and out["maxrss_mb"] < 1000, out
    print(f"20 GB sparse .png refused in {out['ms']:.1f} ms, peak RSS {out['maxrss_mb']:.0f} MB")


def test_huge_file_behind_a_small_header_is_refused_unread(tmp_path):
    """A real 16x16 PNG followed by 20 GB of zeros: the header is honest, the file is not."""
    p = tmp_path / "tail.png"
    write_png(p, smooth_image(16, 16, seed=0))
    with open(p, "r+b") as f:
        f.truncate(20 * 2**30)
    out = child(READ.format(path=str(p), args=""))
    assert out.get("error") in ("ValueError", "TooLarge") and "16x16" in out["message"], out
    assert out["ms"] < 1000 and out["maxrss_mb"] < 1000, out


def test_pixel_limit_is_checked_from_the_header(tmp_path):
    from benchmark.core.imaging import TooLarge, read_image

    p = tmp_path / "a.png"
    write_png(p, smooth_image(40, 50, seed=0))
    with pytest.raises(TooLarge, match=r"50x40 pixels .* limit of 1,000 pixels"):
        read_image(p, max_pixels=1000)
    assert read_image(p, max_pixels=2000).shape == (40, 50, 3)
    assert read_image(p).shape == (40, 50, 3)


def fifo(tmp_path, name="still.png") -> Path:
    p = tmp_path / name
    os.mkfifo(p)
    return p


def test_non_regular_files_are_refused_not_read(tmp_path):
    """A FIFO would block forever, /dev/zero never ends; neither is opened for reading."""
    f = fifo(tmp_path)
    out = child(READ.format(path=str(f), args=""), timeout=10)
    assert out.get("error") == "ValueError" and "FIFO" in out["message"] and str(f) in out["message"], out
    out = child(READ.format(path="/dev/zero", args=""), timeout=10)
    assert out.get("error") == "ValueError" and "device" in out["message"], out
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "s.png"))
        out = child(READ.format(path=str(tmp_path / "s.png"), args=""), timeout=10)
        assert out.get("error") == "ValueError" and "socket" in out["message"], out
    finally:
        sock.close()


def test_data_folder_with_a_sparse_file_runs_the_rest(tmp_path, sparse_png):
    """``bench run`` over a folder holding the 20 GB file: an error row for it (not read, not
    hashed), the other image scored, in seconds."""
    out = child(
        f"""
        from benchmark.run.runner import RunConfig, Runner
        t = time.perf_counter()
        res = Runner(RunConfig(methods=["bicubic"], datasets=[{str(sparse_png.parent) + "@x2"!r}], metrics=["psnr"],
                               out={str(tmp_path / "run")!r}, cache_dir={str(tmp_path / "cache")!r})).run(progress=False)
        import pandas as pd
        df = pd.read_csv(res.out_dir / "scores.csv")
        print(json.dumps({{"s": time.perf_counter() - t, "rows": df.astype(str).to_dict("records")}}))
    """,
        timeout=60,
    )
    rows = {(r["item_id"], r["status"]): r for r in out["rows"]}
    assert ("ok", "ok") in rows, out
    bad = rows[("big", "error")]
    assert "bytes" in bad["error"] and "big.png" in bad["error"], bad
    assert out["s"] < 30, out


@pytest.mark.parametrize("name", ["/dev/zero@x2", "{fifo}@x2", "{fifo}@x2:type=images"])
def test_non_regular_data_path_is_one_line(tmp_path, name):
    name = name.format(fifo=fifo(tmp_path))
    line = one_error(
        runner.invoke(
            app,
            [
                "run",
                "-m",
                "bicubic",
                "-d",
                name,
                "--metrics",
                "psnr",
                "--dry-run",
                "--cache-dir",
                str(tmp_path / "c"),
                "-o",
                str(tmp_path / "r"),
            ],
        )
    )
    assert "not a regular file" in line or "FIFO" in line or "device" in line, line


def test_enhance_fifo_and_device_are_one_line(tmp_path):
    f = fifo(tmp_path)
    for src in (str(f), "/dev/zero"):
        try:
            p = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmark.cli",
                    "enhance",
                    src,
                    "-m",
                    "bicubic",
                    "-q",
                    "-o",
                    str(tmp_path / "o.mp4"),
                ],
                capture_output=True,
                text=True,
                timeout=30,
                cwd=tmp_path,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"bench enhance {src} hangs")
        lines = [x for x in p.stderr.splitlines() if x.strip()]
        assert p.returncode == 2 and "Traceback" not in p.stderr and len(lines) == 1, p.stderr
        assert src in lines[0] and ("FIFO" in lines[0] or "device" in lines[0]), lines


def test_non_regular_spec_and_weights_files_are_one_line(tmp_path):
    """A spec file (or a --config) and a weights file are input paths too: a FIFO is refused, not waited on."""
    f = fifo(tmp_path, "spec.toml")
    one_error(unhung(f, ["run", "-m", "bicubic", "-d", "set5-x2", "--spec", str(f), "--dry-run"]), str(f), "FIFO")
    one_error(unhung(f, ["train", "ssim", "--config", str(f), "-d", "set5-qf20"]), str(f), "FIFO")
    w = fifo(tmp_path, "model.pth")
    one_error(unhung(w, ["run", "-m", str(w), "-d", "set5-x2", "--dry-run"]), str(w))


def unhung(f: Path, args: list[str], seconds: float = 20):
    """``bench ARGS`` in a thread; if it still waits on the FIFO ``f`` after ``seconds``, the FIFO is
    opened and closed for writing (the reader gets an end of file) and the test fails."""
    box: dict = {}
    t = threading.Thread(target=lambda: box.setdefault("r", runner.invoke(app, args)), daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        os.close(os.open(f, os.O_WRONLY | os.O_NONBLOCK))
        t.join(30)
        pytest.fail(f"bench {' '.join(args)} waits on the FIFO {f}")
    return box["r"]


def test_standard_sets_annotation_files_are_checked(tmp_path):
    """COCO's and VOC's own files: a FIFO is refused (not waited on), JSON nested 5,000 deep is one line."""
    ann = tmp_path / "coco" / "annotations"
    ann.mkdir(parents=True)
    (tmp_path / "coco" / "val2017").mkdir()
    coco = ["run", "-m", "identity", "-d", "coco", "--data-root", str(tmp_path), "--metrics", "psnr", "--dry-run"]
    f = fifo(ann, "instances_val2017.json")
    one_error(unhung(f, coco), str(f), "FIFO")
    f.unlink()
    f.write_text("[" * 5000 + "]" * 5000)
    one_error(runner.invoke(app, coco), str(f), "nested too deep")
    main = tmp_path / "VOCdevkit" / "VOC2007" / "ImageSets" / "Main"
    main.mkdir(parents=True)
    f = fifo(main, "test.txt")
    one_error(
        unhung(
            f, ["run", "-m", "identity", "-d", "voc", "--data-root", str(tmp_path), "--metrics", "psnr", "--dry-run"]
        ),
        str(f),
        "FIFO",
    )


def braces(n: int) -> str:
    return "set5" + "-x{0,1,2,3,4,5,6,7,8,9}" * n


def test_brace_sweeps_are_counted_before_they_are_expanded():
    from benchmark.core.names import MAX_EXPANDED, expand

    assert len(expand(braces(3))) == 1000 == MAX_EXPANDED
    with pytest.raises(BenchError, match=r"10,000 data sets.* at most 1,000"):
        expand(braces(4))


def test_ten_million_data_sets_refused_at_once(tmp_path):
    out = child(
        f"""
        from benchmark.core.names import expand
        t = time.perf_counter()
        try:
            expand({braces(7)!r})
            print(json.dumps({{"ok": True}}))
        except Exception as exc:
            print(json.dumps({{"error": str(exc), "ms": (time.perf_counter() - t) * 1000,
                              "maxrss_mb": peak_mb()}}))
    """,
        timeout=30,
        memory_gb=2,
    )
    assert "10,000,000" in out.get("error", "") and "1,000" in out["error"], out
    assert out["ms"] < 100, out
    line = one_error(
        runner.invoke(app, ["run", "-m", "bicubic", "-d", braces(7), "--dry-run", "--cache-dir", str(tmp_path / "c")])
    )
    assert "10,000,000" in line


def spec(tmp_path, text: str) -> Path:
    p = tmp_path / "spec.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    "value", ["[" * 5000 + "1" + "]" * 5000, "{a=" * 5000 + "1" + "}" * 5000, "[" * 100 + "1" + "]" * 100]
)
def test_deep_spec_file_names_the_depth_limit(tmp_path, value):
    from benchmark.core.names import MAX_SPEC_DEPTH, Specs

    p = spec(tmp_path, f'[degradations.deep]\ntype = "jpeg"\nq = {value}\n')
    with pytest.raises(BenchError, match=rf"{p}.*nested deeper than {MAX_SPEC_DEPTH} levels"):
        Specs.load([p])
    one_error(
        runner.invoke(app, ["run", "-m", "bicubic", "-d", "set5-deep", "--spec", str(p), "--dry-run"]),
        str(p),
        f"{MAX_SPEC_DEPTH} levels",
    )


def test_deep_method_setting_names_the_depth_limit():
    from benchmark.core.names import MAX_SPEC_DEPTH
    from benchmark.run.resolve import parse_settings

    with pytest.raises(BenchError, match=rf"'x'.*nested deeper than {MAX_SPEC_DEPTH} levels"):
        parse_settings(["x=" + "[" * 5000 + "]" * 5000], "usage")
    with pytest.raises(BenchError, match=rf"nested deeper than {MAX_SPEC_DEPTH} levels"):
        parse_settings(["x=" + "[" * 100 + "]" * 100], "usage")
    assert parse_settings(["x=[[1]]", "y=text"], "usage") == {"x": [[1]], "y": "text"}


@pytest.mark.parametrize(
    "text,cycle",
    [
        ('[degradations.a]\nchain = "b"\n[degradations.b]\nchain = "a"\n', "a -> b -> a"),
        ('[degradations.a]\nchain = "x2-a"\n', "a -> a"),
        (
            '[degradations.a]\nchain = "qf20-b"\n[degradations.b]\nchain = "c"\n[degradations.c]\nchain = "x2-b"\n',
            "a -> b -> c -> b",
        ),
    ],
)
def test_degradations_naming_each_other_name_the_cycle(tmp_path, text, cycle):
    from benchmark.core.names import Specs, resolve

    p = spec(tmp_path, text)
    with pytest.raises(BenchError, match=f"cycle.*{cycle}"):
        resolve("set5-a", None, Specs.load([p]))
    one_error(runner.invoke(app, ["run", "-m", "bicubic", "-d", "set5-a", "--spec", str(p), "--dry-run"]), cycle)


def test_a_long_chain_of_spec_degradations_names_the_depth_limit(tmp_path):
    from benchmark.core.names import MAX_SPEC_DEPTH, Specs, resolve

    p = spec(
        tmp_path,
        "".join(f'[degradations.d{i}]\nchain = "d{i + 1}"\n' for i in range(2000))
        + '[degradations.d2000]\nchain = "qf20"\n',
    )
    with pytest.raises(BenchError, match=rf"'d0'.*deeper than {MAX_SPEC_DEPTH} levels \(d0 -> d1 -> d2 -> \.\.\."):
        resolve("set5-d0", None, Specs.load([p]))


def test_a_shared_degradation_is_no_cycle(tmp_path):
    from benchmark.core.names import Specs, resolve

    p = spec(tmp_path, '[degradations.a]\nchain = "b-b"\n[degradations.b]\nchain = "qf20"\n')
    assert [d.label() for d in resolve("set5-a", None, Specs.load([p])).chain] == ["qf20", "qf20"]


# ------------------------------------------------------------------ 4. one line, never a traceback


def test_enhance_svg_is_one_line(tmp_path):
    p = tmp_path / "x.svg"
    p.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>')
    one_error(runner.invoke(app, ["enhance", str(p), "-m", "bicubic", "-q"]), str(p), "SVG")


@pytest.fixture
def clip(tmp_path) -> Path:
    p = tmp_path / "clip.mkv"
    with av.open(str(p), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        for i in range(3):
            for pkt in s.encode(av.VideoFrame.from_ndarray(np.full((32, 32, 3), 40 * i, np.uint8), format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return p


@pytest.mark.parametrize("realtime", [False, True])
def test_enhance_to_an_unknown_video_format_is_one_line(tmp_path, clip, realtime):
    out = tmp_path / "out.txt"
    args = ["enhance", str(clip), "-m", "bicubic", "-q", "-o", str(out)] + (
        ["--realtime", "--duration", "1"] if realtime else []
    )
    one_error(runner.invoke(app, args), str(out), ".mp4")
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_train_on_too_small_images_names_them(tmp_path):
    d = tmp_path / "tiny"
    d.mkdir()
    write_png(d / "a_dot.png", smooth_image(1, 1, seed=0))
    write_png(d / "b_line.png", smooth_image(2000, 1, seed=1))
    for i in range(3):
        write_png(d / f"c{i}.png", smooth_image(64, 64, seed=i))
    r = runner.invoke(
        app,
        [
            "train",
            "fast-srgan",
            "-d",
            f"{d}@x2",
            "-o",
            str(tmp_path / "t"),
            "--steps",
            "1",
            "--batch",
            "2",
            "--patch",
            "16",
            "--val-items",
            "1",
            "-q",
        ],
        env={"BENCH_CACHE_DIR": str(tmp_path / "c")},
    )
    one_error(r, "a_dot", "1x1", "x2")


BAD_TEX = r"m$\undefinedcommand$"


def draw_texts(fig) -> list:
    """Every text of ``fig`` as drawn (tick labels are made at draw time)."""
    from matplotlib.text import Text

    fig.canvas.draw()
    return [t for t in fig.findobj(Text) if t.get_text()]


def test_a_dollar_name_stops_matplotlib_and_both_ways_out_work(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmark.reports.mpltext import NO_MATHTEXT, mpl_text, plain_log_ticks

    assert mpl_text("a$b$") == r"a\$b\$" and mpl_text("plain") == "plain" and mpl_text(3) == "3"
    before = matplotlib.rcParams["text.parse_math"]
    with matplotlib.rc_context({"text.parse_math": True}):  # matplotlib's default (the site's figures turn it off)
        fig, ax = plt.subplots()
        ax.set_title(BAD_TEX)
        with pytest.raises(ValueError):  # what matplotlib makes of a name it reads as TeX: no figure, no site
            fig.savefig(tmp_path / "a.svg", format="svg")
        plt.close(fig)

    fig, ax = plt.subplots()  # way 1: each text escaped, mathtext on
    ax.set_title(mpl_text(BAD_TEX))
    ax.plot([0, 1], label=mpl_text(BAD_TEX))
    ax.set_yticks([0, 1], [mpl_text(BAD_TEX), "b"])
    ax.legend()
    fig.savefig(tmp_path / "b.svg", format="svg")
    plt.close(fig)

    with matplotlib.rc_context(NO_MATHTEXT):  # way 2: no TeX at all, log axes in plain numbers
        fig, ax = plt.subplots()
        ax.set_title(BAD_TEX)
        ax.plot([0.5, 3, 2000], [1, 2, 3], label=BAD_TEX)
        ax.set_xscale("log")
        plain_log_ticks(ax.xaxis)
        ax.set_yticks([1, 3], [BAD_TEX, "b"])
        ax.legend()
        texts = [t.get_text() for t in draw_texts(fig)]
        fig.savefig(tmp_path / "c.svg", format="svg")
        plt.close(fig)
    assert BAD_TEX in texts and "1" in texts and "1000" in texts and not [t for t in texts if "mathdefault" in t], texts
    assert matplotlib.rcParams["text.parse_math"] is before  # only inside the context


def test_report_figures_take_a_dollar_method_name(tmp_path, monkeypatch):
    import matplotlib
    import pandas as pd

    from benchmark.reports import plots
    from benchmark.reports.sitedata import ITEM_SCOPES

    rows = [
        {
            "metric": m,
            "status": "ok",
            "scope": ITEM_SCOPES[0],
            "dataset": "set5-x2",
            "base": "set5",
            "degradation": "x2",
            "method": meth,
            "value": v,
        }
        for meth in (BAD_TEX, "bicubic")
        for m, v in (("psnr", 30.0), ("niqe", 5.0), ("fps", 3.0))
    ]
    shown: list = []
    save = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: (shown.extend(draw_texts(fig)), save(fig, path))[1])
    with matplotlib.rc_context():  # _plt() sets its rcParams for the process: put them back for the other tests
        plt = plots._plt()
        assert plots.perception_distortion(plt, pd.DataFrame(rows), tmp_path)
        assert plots.speed_quality(plt, pd.DataFrame(rows), tmp_path)
    assert not [
        t.get_text() for t in shown if "$" in t.get_text() and t.get_text() != BAD_TEX and not t.get_parse_math()
    ]


def test_header_sizing_never_goes_through_ultralytics_pillow_patch(tmp_path, monkeypatch):
    """Importing ultralytics replaces PIL's Image.open with a wrapper that pip-installs and imports
    pi-heif on an unknown file (the suite's SVG upload got a 500 after the detection tests): the
    header sizing uses Pillow's own open."""
    import sys
    import types

    from PIL import Image

    from benchmark.core.imaging import header_size

    def patched(*a, **k):
        raise ModuleNotFoundError("No module named 'pi_heif'")

    monkeypatch.setitem(sys.modules, "ultralytics.utils.patches", types.SimpleNamespace(_image_open=Image.open))
    monkeypatch.setattr(Image, "open", patched)
    svg = tmp_path / "x.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')
    assert header_size(svg) is None
    write_png(tmp_path / "ok.png", smooth_image(12, 20, seed=1))
    assert header_size(tmp_path / "ok.png") == (20, 12)
