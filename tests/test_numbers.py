"""No silent wrong number: each input that used to give a plausible but wrong value (or a
value counted twice, or a value under the wrong name) now gives an error row naming the cause
or stops the run before any work (exit 2); the good case next to it keeps its value."""

import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from benchmark import registry
from benchmark.cli import app
from benchmark.core.imaging import write_png
from benchmark.errors import BenchError
from benchmark.run.runner import RunConfig, make_method, run

from conftest import smooth_image

cli = CliRunner()


def invoke(*args):
    return cli.invoke(app, [str(a) for a in args], env={"COLUMNS": "250"})


# ------------------------------------------------------------ 1. a score over zero pixels
FR_METRICS = ["psnr", "psnr-y", "ssim", "ssim-y", "psnr-b", "ms-ssim", "tof", "flicker"]


def score_once(name, out, ref, border):
    m = registry.metrics.get(name)()
    if m.availability():
        pytest.skip(f"{name}: {m.availability()}")
    if hasattr(m, "start"):  # a clip metric: a clip of one frame
        m.start(border)
        m.update(out, ref)
        return m.finish()[0]
    return m.score(out, ref, border)


@pytest.mark.parametrize("name", FR_METRICS)
def test_every_full_reference_metric_refuses_a_frame_the_crop_border_empties(name):
    ref = smooth_image(4, 4, seed=1)
    out = smooth_image(4, 4, seed=2)
    with pytest.raises(ValueError, match="nothing left to score after a crop border of 4 on a 4x4 frame"):
        score_once(name, out, ref, 4)
    with pytest.raises(ValueError, match="crop border of 100 on a 7x5 frame"):
        score_once(name, smooth_image(5, 7, seed=2), smooth_image(5, 7, seed=1), 100)


def test_a_normal_frame_keeps_its_value_under_a_crop_border():
    from skimage.metrics import peak_signal_noise_ratio

    ref, out = smooth_image(48, 64, seed=1), smooth_image(48, 64, seed=2)
    psnr = registry.metrics.get("psnr")()
    assert psnr.score(out, ref, 4) == pytest.approx(
        peak_signal_noise_ratio(ref[4:-4, 4:-4], out[4:-4, 4:-4], data_range=255), abs=1e-12
    )
    assert psnr.score(ref, ref, 4) == 100.0  # identical images: the stated cap, not an empty frame's
    assert psnr.score(out, ref, 23) == pytest.approx(
        peak_signal_noise_ratio(ref[23:-23, 23:-23], out[23:-23, 23:-23], data_range=255)
    )


def test_a_tiny_image_is_an_error_row_not_100_db(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    write_png(d / "tiny.png", smooth_image(5, 7, seed=1))  # x4: the reference is 4x4, a crop border of 4 leaves nothing
    write_png(d / "ok.png", smooth_image(48, 64, seed=2))
    res = run(
        RunConfig(
            methods=["bicubic"], datasets=[f"{d}@x4"], metrics=["psnr", "psnr-y", "psnr-b"], out=str(tmp_path / "o")
        ),
        progress=False,
    )
    rows = res.rows.set_index(["item_id", "metric"])
    for metric in ("psnr", "psnr-y", "psnr-b"):
        bad = rows.loc[("tiny", metric)]
        assert bad["status"] == "error" and np.isnan(bad["value"])
        assert (
            "nothing left to score after a crop border of 4 on a 4x4 frame" in bad["error"]
            and "TypeError" not in bad["error"]
        )
        good = rows.loc[("ok", metric)]
        assert good["status"] == "ok" and 0 < good["value"] < 100


# ------------------------------------------------------- 2. a missing explicit weights file
def test_a_missing_explicit_weights_file_is_an_error_naming_it(tmp_path, image_folder):
    with pytest.raises(BenchError, match="nope.safetensors not found"):
        make_method("fast-srgan:weights=nope.safetensors")
    r = invoke(
        "run", "-q", "-m", "fast-srgan:weights=nope.safetensors", "-d", f"{image_folder}@x2", "-o", tmp_path / "o"
    )
    assert r.exit_code == 2 and "error:" in r.output and "nope.safetensors" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o").exists()
    r = invoke(
        "run", "-q", "-m", f"fast-srgan:weights={tmp_path}", "-d", f"{image_folder}@x2"
    )  # a folder is no file either
    assert r.exit_code == 2 and "a folder at" in r.output
    # the ensembles take no weights= at all: it was silently ignored
    with pytest.raises(BenchError, match="takes no weights="):
        make_method("gan:weights=nope.safetensors")


def test_an_existing_explicit_weights_file_is_used(tmp_path):
    from benchmark.methods.adapters.trainable import WEIGHTS_DIR

    for f in ("fast-srgan.safetensors", "fast-srgan.json"):
        shutil.copy(WEIGHTS_DIR / f, tmp_path / f)
    mine = make_method(f"fast-srgan:weights={tmp_path / 'fast-srgan.safetensors'}")
    shipped = make_method("fast-srgan")
    assert mine.weights_hash == shipped.weights_hash and mine.name != shipped.name


# ------------------------------------------------------------ 3. two files with one stem
def test_two_files_with_one_stem_are_two_items(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    write_png(d / "a.png", smooth_image(32, 40, seed=1))
    from PIL import Image

    Image.fromarray(smooth_image(32, 40, seed=2)).save(d / "a.jpg", quality=90)
    write_png(d / "b.png", smooth_image(32, 40, seed=3))
    res = run(
        RunConfig(methods=["identity"], datasets=[f"{d}@qf20"], metrics=["psnr"], out=str(tmp_path / "o")),
        progress=False,
    )
    values = res.rows.set_index("item_id")["value"]
    assert sorted(values.index) == ["a.jpg", "a.png", "b"]  # b keeps its id: only a clash changes one
    assert values["a.jpg"] != values["a.png"]


def test_two_videos_with_one_stem_are_two_items(tmp_path):
    from benchmark.datasets.base import FolderDataset

    d = tmp_path / "vids"
    d.mkdir()
    for name in ("a.mp4", "a.mkv", "b.mp4"):
        (d / name).write_bytes(b"")  # listed, not decoded
    ids = [i.item_id for i in FolderDataset(path=d, type="videos").items()]
    assert sorted(ids) == ["a.mkv", "a.mp4", "b"]


def test_a_data_set_with_one_id_twice_is_refused(tmp_path, image_folder, monkeypatch):
    import benchmark.datasets.base as base

    shutil.copy(image_folder / "img0.png", image_folder / "img0.jpg")
    monkeypatch.setattr(
        base, "item_ids", lambda paths: {p: p.stem for p in paths}
    )  # the old ids: a plug-in could do the same
    r = invoke("run", "-q", "-m", "identity", "-d", f"{image_folder}@qf20", "-o", tmp_path / "o")
    assert (
        r.exit_code == 2
        and "two items have the id 'img0'" in r.output
        and "img0.jpg" in r.output
        and "img0.png" in r.output
    )


# ------------------------------------------------------ 4. two settings of one model
def tiny_model(folder):
    import torch
    from safetensors.torch import save_file
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(0)
    net = Compact(num_feat=8, num_conv=2, upscale=2)
    for p in net.parameters():
        p.data.mul_(0.5)
    path = folder / "tiny_x2.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return path


def test_two_settings_of_a_weights_file_are_two_methods(tmp_path, image_folder):
    pytest.importorskip("spandrel")
    path = tiny_model(tmp_path)
    assert make_method(str(path)).name == "tiny_x2"
    assert make_method(f"{path}:tile=64").name == "tiny_x2:tile=64"
    assert make_method(f"{path}:tile=64:name=mine").name == "mine"
    spec = tmp_path / "bench.toml"
    spec.write_text('[methods.esr]\npath = "tiny_x2.safetensors"\ntile = 64\n')
    from benchmark.core.names import Specs

    specs = Specs.load([spec])
    assert make_method("esr", specs).name == "esr" and make_method("esr:tile=0", specs).name == "esr:tile=0"
    runs = []
    for i, m in enumerate((str(path), f"{path}:tile=64")):
        runs.append(tmp_path / f"r{i}")
        assert (
            invoke("run", "-q", "-m", m, "-d", f"{image_folder}@x2", "--metrics", "psnr", "-o", runs[-1]).exit_code == 0
        )
    r = invoke("report", *runs, "-o", tmp_path / "rep")
    assert r.exit_code == 0, r.output
    board = pd.read_csv(tmp_path / "rep" / "leaderboard.csv")
    assert sorted(board.method) == ["tiny_x2", "tiny_x2:tile=64"] and (board.n == 3).all()


def test_the_same_method_twice_names_it_and_suggests_name():
    r = invoke("run", "-q", "-m", "identity,bicubic,identity", "-d", "photos-qf20")
    assert r.exit_code == 2 and "'identity' is given twice" in r.output and ":name=" in r.output


# --------------------------------------------- 5. a report over two runs counts each item once
def test_a_report_over_two_runs_of_one_command_counts_each_item_once(tmp_path, image_folder):
    runs = [tmp_path / "r1", tmp_path / "r2"]
    for out in runs:
        r = invoke("run", "-q", "-m", "identity,bicubic", "-d", f"{image_folder}@qf20", "--metrics", "psnr", "-o", out)
        assert r.exit_code == 0, r.output
    r = invoke("report", *runs, runs[0], "-o", tmp_path / "rep")
    assert r.exit_code == 0, r.output
    board = pd.read_csv(tmp_path / "rep" / "leaderboard.csv")
    assert (board.n == 3).all() and len(board) == 2
    one = pd.read_csv(runs[0] / "scores.csv").groupby("method").value.mean()
    assert board.set_index("method")["mean"].to_dict() == pytest.approx(one.to_dict())


def test_the_newest_run_wins_a_repeated_value():
    from benchmark.reports.leaderboard import newest_rows

    def rows(value):
        return pd.DataFrame(
            [
                {
                    "dataset": "d",
                    "method": "m",
                    "metric": "psnr",
                    "item_id": "a",
                    "frame": 0,
                    "scope": "image",
                    "value": value,
                }
            ]
        )

    newer, older = (rows(2.0), "2026-12-02T08:00:00"), (rows(1.0), "2026-12-01T08:00:00")
    assert newest_rows([newer, older]).value.tolist() == [2.0]
    assert newest_rows([older, newer]).value.tolist() == [2.0]


def test_a_value_repeated_under_another_crop_border_or_version_is_said():
    from benchmark.errors import BenchWarning
    from benchmark.reports.leaderboard import newest_rows

    def rows(value, crop, version="1"):
        return pd.DataFrame(
            [
                {
                    "dataset": "d",
                    "method": "m",
                    "metric": "psnr",
                    "item_id": "a",
                    "frame": 0,
                    "scope": "image",
                    "value": value,
                    "crop_border": crop,
                    "method_version": version,
                    "metric_version": "1",
                }
            ]
        )

    with pytest.warns(BenchWarning, match=r"d / m / psnr: .*crop_border 0 -> 8.*newest run's values"):
        assert newest_rows([(rows(1.0, 0), "2026-12-01"), (rows(2.0, 8), "2026-12-02")]).value.tolist() == [2.0]
    with pytest.warns(BenchWarning, match="method_version 1 -> 2"):
        newest_rows([(rows(1.0, 0), "2026-12-01"), (rows(2.0, 0, "2"), "2026-12-02")])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same protocol twice: nothing to say
        newest_rows([(rows(1.0, 0), "2026-12-01"), (rows(1.0, 0), "2026-12-02")])


# -------------------------------------------------------------------------- 6. smaller ones
def test_an_absent_gpu_stops_the_run_before_any_work(tmp_path, image_folder, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    r = invoke("run", "-q", "-m", "identity", "-d", f"{image_folder}@qf20", "--device", "cuda", "-o", tmp_path / "o")
    assert r.exit_code == 2 and "--device cuda: no CUDA GPU" in r.output and not (tmp_path / "o").exists()
    r = invoke("run", "-q", "-m", "identity", "-d", f"{image_folder}@qf20", "--device", "gpu")
    assert r.exit_code == 2 and "is not a device" in r.output
    r = invoke(
        "run",
        "-q",
        "-m",
        "identity",
        "-d",
        f"{image_folder}@qf20",
        "--metrics",
        "psnr",
        "--device",
        "cpu",
        "-o",
        tmp_path / "c",
    )
    assert r.exit_code == 0, r.output


def summary_with_identity_fps():
    from benchmark.reports.leaderboard import summarize

    rows = []
    for method, fps, psnr in (("identity", float("inf"), 30.0), ("bicubic", 500.0, 31.0), ("gan", 20.0, 32.0)):
        for metric, value, unit in (("psnr", psnr, "dB"), ("fps", fps, "frames/s")):
            rows.append(
                {
                    "dataset": "d",
                    "base": "d",
                    "degradation": "",
                    "method": method,
                    "metric": metric,
                    "item_id": "a",
                    "frame": -1,
                    "scope": "image",
                    "value": value,
                    "status": "ok",
                    "higher_is_better": True,
                    "unit": unit,
                }
            )
    return pd.DataFrame(rows), summarize(pd.DataFrame(rows))


def test_infinite_speed_is_not_best(capsys):
    from rich.console import Console

    from benchmark.reports.leaderboard import best_line, print_tables, to_markdown
    from benchmark.reports.sitedata import leaderboards

    rows, summary = summary_with_identity_fps()
    lead = summary[summary.leader].set_index("metric")["method"].to_dict()
    assert lead == {"psnr": "gan", "fps": "bicubic"}
    assert set(summary[(summary.metric == "fps") & summary.best].method) == {
        "bicubic",
        "gan",
    }  # one item: tied, never identity's inf
    line = best_line(summary)
    assert (
        line.startswith("best: ") and "on psnr, fps" not in line and "too few items on fps: bicubic = gan (n=1" in line
    )
    print_tables(summary, Console(width=250))
    assert "inf = no time measured" in capsys.readouterr().out and "inf = no time measured" in to_markdown(summary)
    cells = {r["method"]: r["cells"] for r in leaderboards(rows)[0]["rows"]}
    assert not cells["identity"][1]["best"] and cells["bicubic"][1]["best"]
    finite = summary[summary.method != "identity"]
    assert "inf" not in to_markdown(finite)  # no legend line without an infinite value


def test_dry_run_with_everything_cached_says_0_s(tmp_path, image_folder):
    args = [
        "run",
        "-q",
        "-m",
        "identity",
        "-d",
        f"{image_folder}@qf20",
        "--metrics",
        "psnr",
        "--cache-dir",
        tmp_path / "c",
    ]
    assert invoke(*args, "-o", tmp_path / "o").exit_code == 0
    r = invoke(*args, "-o", tmp_path / "other", "--dry-run")
    assert r.exit_code == 0 and "estimated 0 s, all cached" in r.output and "unknown" not in r.output
    r = invoke(*args, "-o", tmp_path / "o", "--dry-run")
    assert r.exit_code == 0 and "estimated 0 s, all done" in r.output
