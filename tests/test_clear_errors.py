"""A user's mistake is one line (``error: ...`` naming the bad input and what to do) and exit 2,
never a traceback: spec files, training configs and checkpoints, ``bench enhance`` (which never
leaves a partial file at the output's name) and ``bench report --html`` over damaged runs."""

import json
import shutil
from fractions import Fraction

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from benchmark import registry
from benchmark.api import Method
from benchmark.cli import app
from benchmark.core.imaging import write_png
from benchmark.errors import BenchError

from conftest import smooth_image

runner = CliRunner()


def one_error(r, *names: str) -> str:
    """The single ``error:`` line of a refused command (exit 2, no traceback), naming ``names``."""
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and (r.exception is None or isinstance(r.exception, SystemExit)), r.output
    lines = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, r.output
    for n in names:
        assert n in lines[0], (n, lines[0])
    return lines[0]


# ------------------------------------------------------------------ 1. spec files


@pytest.fixture
def image(tmp_path):
    p = tmp_path / "in.png"
    write_png(p, smooth_image(16, 24, seed=1))
    return p


@pytest.mark.parametrize(
    "content,names",
    [
        (b"[datasets.mine]\npath = 3\n", ["path", "string"]),
        (b'[datasets.mine]\npaht = "x"\npath = "y"\n', ["'paht'", "did you mean 'path'"]),
        (b'[degradation.lowq]\nchain = "qf5"\n', ["[degradation]", "did you mean 'degradations'"]),
        (b'[degradations.pil]\ntype = "jpeg"\nqualty = 30\n', ["'qualty'", "did you mean 'quality'"]),
        (b'[degradations.pil]\ntype = "jpg"\n', ["'jpg'", "did you mean 'jpeg'"]),
        (b'[methods.esr]\npath = "m.pth"\ntiles = 64\n', ["'tiles'", "did you mean 'tile'"]),
        (b'[datasets.mine]\npath = "x"\ntype = "pictures"\n', ["'pictures'", "images"]),
        (b"datasets = 3\n", ["[datasets]"]),
        (b"[datasets\n", ["not valid TOML"]),
        (b"\xff\xfe[datasets.mine]\n", ["not UTF-8"]),
    ],
)
def test_a_bad_spec_file_is_one_line(tmp_path, image, content, names):
    spec = tmp_path / "bench.toml"
    spec.write_bytes(content)
    one_error(
        runner.invoke(app, ["enhance", str(image), "-m", "identity", "--spec", str(spec), "-q"]), str(spec), *names
    )


def test_a_spec_folder_or_missing_file_is_one_line(tmp_path, image, image_folder):
    one_error(
        runner.invoke(app, ["enhance", str(image), "-m", "identity", "--spec", str(tmp_path), "-q"]),
        str(tmp_path),
        "folder",
    )
    one_error(
        runner.invoke(app, ["run", "-q", "-d", f"{image_folder}@qf20", "--spec", str(tmp_path / "nope.toml")]),
        "nope.toml",
    )
    bad = tmp_path / "bad.toml"
    bad.write_text('[datasets.mine]\npath = "imgs"\ntipe = "images"\n')
    one_error(runner.invoke(app, ["run", "-q", "-d", "mine-qf20", "--spec", str(bad)]), "'tipe'", "'type'")


def test_a_good_spec_file_still_works(tmp_path, image, image_folder):
    spec = tmp_path / "bench.toml"
    spec.write_text(
        f'[datasets.mine]\npath = "{image_folder.name}"\ntype = "images"\ndescription = "three photos"\n\n'
        '[degradations.pil30]\ntype = "jpeg"\nquality = 30\nencoder = "pillow"\n\n[degradations.lowq]\nchain = "qf5s444"\n'
    )
    r = runner.invoke(
        app, ["enhance", str(image), "-m", "identity", "--spec", str(spec), "-o", str(tmp_path / "out.png"), "-q"]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        [
            "run",
            "-q",
            "-m",
            "identity",
            "-d",
            "mine-pil30",
            "-d",
            "mine-lowq",
            "--metrics",
            "psnr",
            "--spec",
            str(spec),
            "--out",
            str(tmp_path / "run"),
        ],
    )
    assert r.exit_code == 0, r.output


# ------------------------------------------------------------------ 2. bench train


def train(*args, data=None, out=None):
    return runner.invoke(
        app, ["train", *args, "-d", data, "-o", str(out), "--batch", "2", "--patch", "16", "--val-items", "1", "-q"]
    )


@pytest.mark.parametrize(
    "content,names",
    [
        ("steps = \n", ["not valid TOML"]),
        ('batch = "4"\n', ["batch", "whole number"]),
        ("steps = 0\n", ["steps", "at least 1"]),
        ("patch = -16\n", ["patch", "at least 1"]),
        ("lr = -1e-4\n", ["lr", "positive"]),
        ('schedule = "cosin"\n', ["cosin", "cosine"]),
        ("step = 3\n", ["'step'", "did you mean 'steps'"]),
        ("[params]\nch = 4\ndpth = 3\n", ["'dpth'", "did you mean 'depth'"]),
        ("params = 3\n", ["params", "table"]),
    ],
)
def test_a_bad_training_config_is_one_line(tmp_path, image_folder, content, names):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(content)
    r = runner.invoke(
        app, ["train", "ssim", "--config", str(cfg), "-d", f"{image_folder}@qf20", "-o", str(tmp_path / "t"), "-q"]
    )
    one_error(r, str(cfg), *names)


def test_a_missing_or_folder_config_and_bad_options_are_one_line(tmp_path, image_folder):
    data = f"{image_folder}@qf20"
    one_error(
        runner.invoke(app, ["train", "ssim", "--config", str(tmp_path / "no.toml"), "-d", data]),
        "no.toml",
        "does not exist",
    )
    one_error(runner.invoke(app, ["train", "ssim", "--config", str(tmp_path), "-d", data]), str(tmp_path), "folder")
    one_error(runner.invoke(app, ["train", "ssim", "--lr", "0", "-d", data]), "--lr", "positive")
    one_error(
        runner.invoke(app, ["train", "ssim", "--param", "sim_weight=1", "-d", data]), "'sim_weight'", "'ssim_weight'"
    )
    one_error(train("ssim", "--steps", "1", "--param", "ch=wide", data=data, out=tmp_path / "w"), "ch", "wide")


def test_resume_from_a_damaged_or_foreign_checkpoint_is_one_line(tmp_path, image_folder):
    data = f"{image_folder}@qf20"
    out = tmp_path / "t"
    ssim = ["--param", "ch=4", "--param", "depth=3"]
    r = train("ssim", "--steps", "1", *ssim, data=data, out=out)
    assert r.exit_code == 0, r.output
    sr = ["--param", "ch=4", "--param", "blocks=1", "--param", "scale=2"]
    one_error(
        train("srresnet", "--steps", "2", "--resume", *sr, data=f"{image_folder}@x2", out=out),
        "checkpoint.pt",
        "srresnet",
    )
    r = train(
        "ssim", "--steps", "2", "--resume", *ssim, data=data, out=out
    )  # the right method and settings still resume
    assert r.exit_code == 0 and json.loads(r.stdout[r.stdout.index("{") :])["steps"] == 2, r.output
    damaged = tmp_path / "d"
    damaged.mkdir()
    (damaged / "checkpoint.pt").write_bytes((out / "checkpoint.pt").read_bytes()[:1000])
    one_error(train("ssim", "--steps", "2", "--resume", *ssim, data=data, out=damaged), "checkpoint.pt", "new --out")


def test_training_on_unreadable_or_tiny_images_is_one_line(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for i in range(2):
        write_png(bad / f"ok{i}.png", smooth_image(32, 32, seed=i))
    (bad / "zz.png").write_bytes(b"not a png")
    one_error(
        train("ssim", "--steps", "1", "--param", "ch=4", "--param", "depth=3", data=f"{bad}@qf20", out=tmp_path / "t1"),
        "zz",
    )
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    for i in range(3):
        write_png(tiny / f"t{i}.png", smooth_image(8, 8, seed=i))
    one_error(
        train(
            "ssim", "--steps", "1", "--param", "ch=4", "--param", "depth=3", data=f"{tiny}@qf20", out=tmp_path / "t2"
        ),
        "smaller than the input patch 16",
        "--patch",
    )


# ------------------------------------------------------------------ 3. bench enhance


def faststart_clip(path, n=120):
    """An H.264 clip whose index comes first, so that a truncated copy still opens and fails mid-stream."""
    with av.open(str(path), "w", options={"movflags": "faststart"}) as c:
        v = c.add_stream("libx264", rate=Fraction(25))
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        rng = np.random.default_rng(0)
        for _ in range(n):
            for p in v.encode(
                av.VideoFrame.from_ndarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), format="rgb24")
            ):
                c.mux(p)
        for p in v.encode():
            c.mux(p)


def no_partial_files(folder):
    return not [p for p in folder.iterdir() if ".partial" in p.name]


def test_a_truncated_video_leaves_no_output_and_the_rerun_is_not_refused(tmp_path):
    src, cut = tmp_path / "clip.mp4", tmp_path / "cut.mp4"
    faststart_clip(src)
    data = src.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.8)])
    dst = tmp_path / "out.mp4"
    for _ in range(2):  # the rerun fails the same way, not with "out.mp4 exists"
        one_error(
            runner.invoke(app, ["enhance", str(cut), "-m", "identity", "-o", str(dst), "-q"]), str(cut), "truncated"
        )
        assert not dst.exists() and no_partial_files(tmp_path)
    r = runner.invoke(app, ["enhance", str(src), "-m", "identity", "-o", str(dst), "-q"])
    assert r.exit_code == 0 and dst.exists() and no_partial_files(tmp_path), r.output


def test_enhance_input_and_output_errors_are_one_line(tmp_path, image):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video\n")
    one_error(
        runner.invoke(app, ["enhance", str(notes), "-m", "identity", "-o", str(tmp_path / "n.mp4"), "-q"]),
        str(notes),
        "not a video",
    )
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"not a png")
    one_error(
        runner.invoke(app, ["enhance", str(fake), "-m", "identity", "-o", str(tmp_path / "f.png"), "-q"]),
        str(fake),
        "not a readable image",
    )
    blocked = notes / "out.png"  # its folder would be a file
    one_error(
        runner.invoke(app, ["enhance", str(image), "-m", "identity", "-o", str(blocked), "-q"]), str(blocked), "-o"
    )
    r = runner.invoke(app, ["enhance", str(image), "-m", "identity", "-o", str(tmp_path / "ok.png"), "-q"])
    assert r.exit_code == 0 and (tmp_path / "ok.png").exists() and no_partial_files(tmp_path), r.output


class Broken(Method):
    """A method that fails on its first frame."""

    name = "broken-on-purpose"
    version = "1"
    scale = None

    def process(self, frames, ctx):
        raise RuntimeError("out of cheese")


def test_a_failing_method_is_one_line_and_leaves_no_output(tmp_path, image):
    from test_enhance import make_clip

    clip = tmp_path / "clip.mp4"
    make_clip(clip, n=3)
    registry.methods.register(Broken.name)(Broken)
    try:
        for src, dst in [(clip, tmp_path / "o.mp4"), (image, tmp_path / "o.png")]:
            r = runner.invoke(app, ["enhance", str(src), "-m", Broken.name, "-o", str(dst), "-q"])
            one_error(r, Broken.name, str(src), "out of cheese")
            assert not dst.exists() and no_partial_files(tmp_path)
    finally:
        registry.methods.unregister(Broken.name)


# ------------------------------------------------------------------ 4. bench report --html


@pytest.fixture
def a_run(tmp_path, image_folder):
    from benchmark.run.runner import RunConfig, run

    res = run(
        RunConfig(
            methods=["identity"],
            datasets=[f"{image_folder}@qf20"],
            metrics=["psnr"],
            out=str(tmp_path / "runs" / "good"),
        ),
        progress=False,
    )
    assert not res.failures
    return tmp_path / "runs" / "good"


def test_report_html_skips_folders_that_are_not_runs(tmp_path, a_run):
    (tmp_path / "runs" / "notes").mkdir()
    (tmp_path / "runs" / "notes" / "todo.txt").write_text("x")
    (tmp_path / "runs" / "README.md").write_text("runs go here")
    site = tmp_path / "site"
    r = runner.invoke(app, ["report", "--html", str(site), *map(str, sorted((tmp_path / "runs").iterdir()))])
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output
    assert (site / "index.html").exists() and "identity" in (site / "index.html").read_text()
    warned = [line for line in r.output.splitlines() if line.startswith("warning: skipped")]
    assert any("notes" in w and "not a run directory" in w for w in warned) and any("README.md" in w for w in warned), (
        r.output
    )


def test_a_garbled_manifest_is_skipped_by_name_and_alone_is_one_line(tmp_path, a_run):
    bad = tmp_path / "runs" / "garbled"
    shutil.copytree(a_run, bad)
    (bad / "manifest.json").write_text('{"run_id": "garbled", "started": ')
    site = tmp_path / "site"
    r = runner.invoke(app, ["report", "--html", str(site), str(a_run), str(bad)])
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output
    assert any(
        line.startswith("warning: skipped") and str(bad) in line and "manifest.json" in line
        for line in r.output.splitlines()
    ), r.output
    assert (site / "index.html").exists()
    one_error(runner.invoke(app, ["report", "--html", str(tmp_path / "site2"), str(bad)]), str(bad), "manifest.json")
    assert not (tmp_path / "site2").exists()  # nothing half-built
    one_error(runner.invoke(app, ["publish", str(site), str(bad)]), str(bad), "manifest.json")
    assert (site / "index.html").exists()  # the site it refused to add to is kept as it was


def test_a_spec_files_fps_reaches_its_frame_folder_and_is_checked(tmp_path, frame_folder):
    """`fps` was read by nobody before (a recipe's clip was encoded at the default rate silently)."""
    from benchmark.core.names import Specs, resolve

    spec = tmp_path / "fps.toml"
    spec.write_text(f'[datasets.clip]\npath = "{frame_folder}"\ntype = "frames"\nfps = 12.5\n')
    ds = resolve("clip-crf30", None, Specs.load([str(spec)]))
    assert ds.dataset.describe()["fps"] == 12.5 and next(ds.dataset.items()).fps == 12.5
    spec.write_text(f'[datasets.clip]\npath = "{frame_folder}"\nfps = "fast"\n')
    with pytest.raises(BenchError, match="fps = 'fast' should be a positive number"):
        Specs.load([str(spec)])


def test_opencv_assertions_become_one_readable_line_in_error_rows():
    import cv2

    from benchmark.errors import error_text

    try:
        cv2.resize(np.zeros((0, 0), np.uint8), (3, 3))
    except cv2.error as exc:
        text = error_text(exc)
    assert (
        text.startswith("OpenCV resize: assertion failed: !ssize.empty()") and "\n" not in text and ".cpp" not in text
    )
    assert error_text(ValueError("two\nlines")) == "ValueError: two lines"


def test_the_site_computes_no_interval_over_inf_without_a_numpy_warning():
    import warnings

    from benchmark.reports.significance import bootstrap_ci

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lo, hi = bootstrap_ci(np.array([np.inf, np.inf, 3.0]))
    assert np.isnan(lo) and np.isnan(hi)
    lo, hi = bootstrap_ci(np.array([1.0, 2.0, 3.0]))
    assert 1.0 <= lo <= hi <= 3.0


def test_a_bad_qf_setting_is_refused_before_any_work():
    from benchmark.errors import BenchError
    from benchmark.run.resolve import make_method

    for spec in ("gan:qf=abc", "ssim:qf=0", "gan:qf=101"):
        with pytest.raises(BenchError, match="is not a JPEG quality"):
            make_method(spec)
    assert make_method("gan:qf=20").qf == 20


def test_a_missing_standard_set_says_how_to_fetch_it(tmp_path, monkeypatch):
    """`bench run -m gan,ssim -d voc-qf20` without the data named the data root but not the fetch (issue 39)."""
    monkeypatch.delenv("BENCH_DATA_ROOT", raising=False)
    line = one_error(
        runner.invoke(
            app, ["run", "-m", "gan,ssim", "-d", "voc-qf20", "-o", str(tmp_path / "o")], env={"COLUMNS": "400"}
        ),
        "voc",
    )
    assert "`bench data fetch voc --data-root DIR`" in line
    line = one_error(
        runner.invoke(
            app,
            ["run", "-m", "identity", "-d", "live1-qf20", "--data-root", str(tmp_path), "-o", str(tmp_path / "o")],
            env={"COLUMNS": "400"},
        ),
        "live1",
    )
    assert f"`bench data fetch live1 --data-root {tmp_path}`" in line
