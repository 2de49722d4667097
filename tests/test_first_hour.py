"""A newcomer's first hour (issue 17): the default run compares methods, `bench list` fits 80
columns and says which metrics cannot run here, a run checks metrics before it starts, help
shows flags as flags, typos get the right suggestion, `bench enhance` never overwrites without
--force, and a folder is read as frames only when it looks like one."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from benchmark import registry
from benchmark.cli import app
from benchmark.core.imaging import write_png
from benchmark.core.names import resolve
from benchmark.errors import BenchError
from benchmark.reports import leaderboard

from conftest import smooth_image

runner = CliRunner()


# ---------------------------------------------------------------------------- the default run
def test_default_run_is_a_comparison_and_says_what_ran(tmp_path):
    r = runner.invoke(
        app,
        ["run", "--limit", "1", "--max-frames", "2", "--metrics", "psnr,fps", "-o", str(tmp_path / "o")],
        env={"COLUMNS": "200"},
    )
    assert r.exit_code == 0, r.output
    df = pd.read_parquet(tmp_path / "o" / "scores.parquet")
    assert (df.status == "ok").all()
    by_set = {d: set(g.method) for d, g in df.groupby("dataset")}
    assert by_set == {"photos-qf20": {"identity", "ssim", "gan"}, "clips-x2": {"bicubic", "fast-srgan"}}
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["config"]["methods_per_dataset"] == {
        "photos-qf20": ["identity", "ssim", "gan"],
        "clips-x2": ["bicubic", "fast-srgan"],
    }
    out = r.output
    assert "No --methods or --dataset: the embedded comparison" in out and "identity (the baseline) vs ssim, gan" in out
    best = [l for l in out.splitlines() if l.startswith("best:")]
    assert len(best) == 2  # one per data set: with one item no paired test can separate the methods, and it says so
    psnr = df[(df.metric == "psnr") & (df.scope == "image")].set_index("method").value
    assert (
        best[0].startswith("best: too few items on psnr")
        and "n=1: the smallest two-sided Wilcoxon p is 2/2^1" in best[0]
    )
    assert "*" not in out.replace("* best", "") and "= tied for best" in out
    assert psnr.idxmax() in best[0]


def test_methods_or_datasets_alone_keep_their_defaults(tmp_path):
    r = runner.invoke(
        app,
        [
            "run",
            "-q",
            "-m",
            "identity",
            "--limit",
            "1",
            "--max-frames",
            "2",
            "--metrics",
            "psnr",
            "-o",
            str(tmp_path / "a"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert set(pd.read_parquet(tmp_path / "a" / "scores.parquet").dataset) == {"photos-qf20", "clips-crf35"}
    r = runner.invoke(
        app, ["run", "-q", "-d", "photos-qf20", "--limit", "1", "--metrics", "psnr", "-o", str(tmp_path / "b")]
    )
    assert r.exit_code == 0, r.output
    assert set(pd.read_parquet(tmp_path / "b" / "scores.parquet").method) == {"identity"}


def test_fps_format_and_legend():
    assert leaderboard.fmt(164112.3, "frames/s") == "164,112"
    assert leaderboard.fmt(24.46, "frames/s") == "24.5"
    rows = []
    for method, v in (("identity", 30.0), ("ssim", 31.0)):
        rows.append(
            {
                "dataset": "d",
                "method": method,
                "metric": "psnr",
                "item_id": "a",
                "value": v,
                "scope": "image",
                "status": "ok",
                "higher_is_better": True,
                "unit": "dB",
            }
        )
    from rich.console import Console

    def printed(df):
        con = Console(width=120, record=True, file=open("/dev/null", "w"))
        leaderboard.print_tables(leaderboard.summarize(df), con)
        return con.export_text()

    one = printed(pd.DataFrame(rows[:1]))
    assert "*" not in one and "best:" not in one  # nothing is best of one: no promise of a *
    assert "bold" not in leaderboard.to_markdown(leaderboard.summarize(pd.DataFrame(rows[:1])))
    assert "**bold** = best" in leaderboard.to_markdown(leaderboard.summarize(pd.DataFrame(rows)))
    two = printed(
        pd.DataFrame(rows)
    )  # one item each: no test can separate them, so no '*' but a tie for first, and why
    assert "31.00=" in two and "30.00=" in two and "*" not in two and "= tied for best" in two
    assert "best: too few items on psnr: identity = ssim (n=1" in two
    many = pd.DataFrame([{**r, "item_id": f"i{i}", "value": r["value"] + 0.01 * i} for i in range(12) for r in rows])
    starred = printed(many)  # better on each of 12 items: significantly best
    assert "31.06*" in starred and "* = best, significantly better" in starred and "best: ssim on psnr" in starred


# ---------------------------------------------------------------------------- help and typos
@pytest.mark.parametrize(
    "cmd", [["run"], ["train"], ["enhance"], ["recipe"], ["list"], ["models", "fetch"], ["data", "fetch"]]
)
def test_flags_show_no_value_in_help(cmd):
    r = runner.invoke(app, [*cmd, "--help"], env={"COLUMNS": "150"})
    assert r.exit_code == 0, r.output
    assert "<bool>" not in r.output
    if cmd != ["list"]:
        line = next(l for l in r.output.splitlines() if "--quiet" in l)
        assert "-q" in line


def test_typo_in_degradation_keeps_its_number():
    with pytest.raises(BenchError) as e:
        resolve("photos-qf20x", None)
    hint = re.search(r"Did you mean ([^?]*)\?", str(e.value)).group(1)
    assert hint == "'qf20'"
    with pytest.raises(BenchError) as e:
        resolve("photos-crf35x", None)
    assert "Did you mean 'crf35'?" in str(e.value)
    with pytest.raises(BenchError) as e:
        resolve("photos-qg20", None)
    assert "'qf20'" in str(e.value)


# ---------------------------------------------------------------------------- bench list, weights
def test_list_fits_80_columns():
    r = runner.invoke(app, ["list"], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    entries = sum(len(registry.REGISTRIES[k].names()) for k in registry.KINDS)
    table_lines = [l for l in lines if not l.startswith("  ")]  # the notes below a table are one soft-wrapped line each
    assert all(len(l) <= 80 for l in table_lines), max(table_lines, key=len)
    assert len(lines) < entries + 40, len(lines)  # one line an entry (the old table: 511 lines)
    r = runner.invoke(app, ["list", "metrics", "--long"], env={"COLUMNS": "80"})
    assert r.exit_code == 0 and "rgb2ycbcr" in r.output and "window:" in r.output


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    pytest.importorskip("pyiqa")
    home = tmp_path / "torch"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home / "hub"


def test_list_flags_learned_metrics_without_weights(empty_torch_home):
    r = runner.invoke(app, ["list", "metrics"], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    rows = {l.split()[0]: l for l in r.output.splitlines() if l and not l.startswith(" ")}
    for name in ("lpips", "lpips-vgg", "dists", "musiq", "clipiqa"):
        assert "unavailable" in rows[name], rows[name]
    assert "ok" in rows["psnr"] and "ok" in rows["niqe"]
    notes = " ".join(l.strip() for l in r.output.splitlines() if l.startswith("  "))
    assert "run `bench metrics fetch lpips`" in notes and "run `bench metrics fetch dists`" in notes
    assert "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth (sha256 7be5be79" in notes
    assert (
        f"{empty_torch_home}/checkpoints/alexnet-owt-7be5be79.pth" in notes
        and f"{empty_torch_home}/clip/RN50.pt" in notes
    )


def test_run_with_missing_weights_fails_once_before_starting(empty_torch_home, tmp_path, image_folder, monkeypatch):
    import urllib.request

    import torch.hub

    def no_network(*a, **k):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    out = tmp_path / "o"
    r = runner.invoke(
        app,
        ["run", "-d", f"{image_folder}@qf20", "--metrics", "psnr,lpips,clipiqa", "-o", str(out)],
        env={"COLUMNS": "400"},
    )
    assert r.exit_code == 2, r.output
    text = " ".join(r.output.split())
    assert text.count("error:") == 1 and "Traceback" not in text
    assert (
        f"{empty_torch_home}/checkpoints/alexnet-owt-7be5be79.pth" in text
        and f"{empty_torch_home}/clip/RN50.pt" in text
    )
    assert "bench metrics fetch lpips" in text
    assert not out.exists()  # nothing ran
    # with the files in place the metric is usable (availability only: sizes; the weights here are dummies)
    from benchmark.files import metricweights
    from benchmark.metrics.perceptual import LPIPS

    for f in metricweights.files_of(LPIPS.weights_files):
        path = metricweights.local_path(f)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as h:
            h.truncate(f.size)  # sparse: the declared size, no data
    assert LPIPS.availability() == ""


def test_declared_weights_are_the_files_pyiqa_loads():
    pytest.importorskip("pyiqa")
    import torchvision.models as tvm
    from pyiqa.archs import clip_model, dists_arch, lpips_arch, musiq_arch

    from benchmark.files import metricweights
    from benchmark.metrics import learned

    urls = {m.name: {u for _, u in m.weights} for m in (learned.MUSIQ, learned.CLIPIQA)}
    files = (
        metricweights.FILES
    )  # bench's own lpips/dists: torchvision's backbones, the DISTS authors' file (pyiqa's mirror first)
    assert (
        files["alexnet"].urls[0] == tvm.AlexNet_Weights.IMAGENET1K_V1.url
        and files["vgg16"].urls[0] == tvm.VGG16_Weights.IMAGENET1K_V1.url
    )
    assert files["dists-weights"].urls[0] == dists_arch.default_model_urls["url"]
    assert lpips_arch.default_model_urls["0.1_alex"].endswith(
        "-df73285e.pth"
    )  # the lpips wheel's alex.pth (sha256 df73285e...)
    assert urls["musiq"] == {musiq_arch.default_model_urls["koniq10k"]}
    assert urls["clipiqa"] == {clip_model._MODELS["RN50"]}


# ---------------------------------------------------------------------------- bench enhance outputs
def test_enhance_never_overwrites_without_force(tmp_path):
    from test_enhance import make_clip

    src = tmp_path / "clip.mp4"
    make_clip(src, n=6)
    r = runner.invoke(app, ["enhance", str(src), "-m", "identity", "-q"])
    assert r.exit_code == 0, r.output
    plain = tmp_path / "clip.identity.mp4"
    before = plain.read_bytes()
    r = runner.invoke(app, ["enhance", str(src), "-m", "identity", "--side-by-side", "-q"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "clip.identity.sbs.mp4").is_file() and plain.read_bytes() == before  # a distinct name
    r = runner.invoke(app, ["enhance", str(src), "-m", "identity", "-q"], env={"COLUMNS": "300"})
    assert r.exit_code == 2 and "exists; pass --force" in r.output and plain.read_bytes() == before
    r = runner.invoke(app, ["enhance", str(src), "-m", "identity", "-q", "--force"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app, ["enhance", str(src), "-m", "identity", "-q", "--force", "-o", str(src)], env={"COLUMNS": "300"}
    )
    assert r.exit_code == 2 and "is the input" in r.output
    folder = tmp_path / "imgs"
    folder.mkdir()
    write_png(folder / "a.png", smooth_image(16, 16))
    assert (
        runner.invoke(app, ["enhance", str(folder), "-m", "identity", "-o", str(tmp_path / "out"), "-q"]).exit_code == 0
    )
    r = runner.invoke(
        app, ["enhance", str(folder), "-m", "identity", "-o", str(tmp_path / "out"), "-q"], env={"COLUMNS": "300"}
    )
    assert r.exit_code == 2 and str(tmp_path / "out" / "a.png") in r.output


# ---------------------------------------------------------------------------- folder type guessing
def _folder(tmp_path, name, stems, sizes=None):
    d = tmp_path / name
    d.mkdir()
    for i, stem in enumerate(stems):
        h, w = (sizes or [(24, 32)] * len(stems))[i]
        write_png(d / f"{stem}.png", smooth_image(h, w, seed=i))
    return d


def test_numbered_photos_are_not_frames(tmp_path, capsys):
    bsds = _folder(tmp_path, "bsds", ["101085", "101087", "102061"])
    spec = resolve(f"{bsds}@qf20", None)
    assert spec.dataset.kind == "image" and [i.item_id for i in spec.dataset.items()] == ["101085", "101087", "102061"]
    err = capsys.readouterr().err
    assert err.count("read as images") == 1 and "not consecutively" in err and "type=frames" in err
    frames = _folder(tmp_path, "frames", [f"{i:08d}" for i in range(4)])
    spec = resolve(str(frames), None)
    assert spec.dataset.kind == "video" and len(list(spec.dataset.items())) == 1
    assert "read as frames (4 images numbered consecutively 0..3, all 32x24)" in capsys.readouterr().err
    mixed = _folder(tmp_path, "mixed", ["1", "2", "3"], [(24, 32), (32, 24), (24, 32)])
    assert resolve(str(mixed), None).dataset.kind == "image"
    assert "2 sizes" in capsys.readouterr().err


def test_the_folder_guess_is_said_once_for_a_sweep(tmp_path, capsys):
    """One line per folder, not one per sweep level (issue 39)."""
    bsds = _folder(tmp_path, "sweep", ["101085", "101087", "102061"])
    for q in (10, 20, 30, 40):
        assert resolve(f"{bsds}@qf{q}", None).dataset.kind == "image"
    assert capsys.readouterr().err.count("read as images") == 1


def test_folder_type_override(tmp_path, image_folder):
    bsds = _folder(tmp_path, "bsds", ["101085", "101087", "102061"])
    spec = resolve(f"{bsds}@qf20:type=frames", None)
    assert spec.dataset.kind == "video" and spec.degradation == "qf20"
    frames = _folder(tmp_path, "frames", [f"{i:08d}" for i in range(3)])
    spec = resolve(f"{frames}@type=images", None)
    assert spec.dataset.kind == "image" and spec.degradation == "none" and len(list(spec.dataset.items())) == 3
    with pytest.raises(BenchError, match="type=pictures"):
        resolve(f"{bsds}@qf20:type=pictures", None)
    r = runner.invoke(
        app, ["run", "-q", "-d", f"{bsds}@qf30:type=images", "--metrics", "psnr", "-o", str(tmp_path / "o")]
    )
    assert r.exit_code == 0, r.output
    df = pd.read_parquet(tmp_path / "o" / "scores.parquet")
    assert set(df.scope) == {"image"} and df.item_id.nunique() == 3
    assert np.isfinite(df.value).all()


# ---------------------------------------------------------------------------- install
def _pyproject():
    import tomllib
    from pathlib import Path

    return tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]


def test_torch_ranges_admit_the_cpu_build():
    """README: install the CPU wheels first (2.14.1+cpu), then `pip install -e .` must keep them."""
    from packaging.requirements import Requirement

    reqs = {r.name: r for r in map(Requirement, _pyproject()["dependencies"])}
    for name, version in (("torch", "2.14.1"), ("torchvision", "0.29.1")):
        assert reqs[name].specifier.contains(version) and reqs[name].specifier.contains(f"{version}+cpu")


def test_one_opencv_is_declared_and_installed_ones_agree():
    """bench names one OpenCV distribution. pyiqa (opencv-python-headless, and facexlib's
    opencv-python) and ultralytics (opencv-python) bring the other with [iqa]/[detect]; both then
    write the same cv2/ files, which is only sound when their versions are the same."""
    import importlib.metadata as md

    from packaging.requirements import Requirement

    project = _pyproject()
    declared = [
        Requirement(r).name for r in project["dependencies"] + sum(project["optional-dependencies"].values(), [])
    ]
    assert [n for n in declared if n.startswith("opencv")] == ["opencv-python-headless"]
    versions = {}
    for dist in ("opencv-python", "opencv-python-headless"):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    assert len(set(versions.values())) == 1, versions
    import cv2

    assert next(iter(versions.values())).startswith(cv2.__version__)
