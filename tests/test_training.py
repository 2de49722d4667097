"""The shared trainer (seeded, resumable, exports safetensors + card) and the method adapters."""

import json

import numpy as np
import pytest
import torch

from benchmark import registry
from benchmark.errors import BenchError
from benchmark.files.weights import WeightsMissing
from benchmark.methods.adapters.trainable import WEIGHTS_DIR, weights_file
from benchmark.methods.networks import ArtifactGenerator, QFPredictor, SubPatchDiscriminator
from benchmark.methods.training import trainer as tr
from benchmark.run.runner import RunConfig, run

from conftest import smooth_image


def tiny(steps, **params):
    return tr.TrainConfig(steps=steps, batch=2, patch=32, val_every=2, checkpoint_every=2, val_items=1, params=params)


def cosine(steps, **params):
    cfg = tiny(steps, **params)
    cfg.schedule, cfg.lr_min = "cosine", 1e-5
    return cfg


def train_killed_at_step_3(monkeypatch, out, data, cfg) -> None:
    """An ssim training that dies (KeyboardInterrupt) at step 3, after its step-2 checkpoint."""
    recipe = tr.recipe_class("ssim")
    calls = {"n": 0}
    real_step = recipe.step

    def killed_at_step_3(self, x, y):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_step(self, x, y)

    monkeypatch.setattr(recipe, "step", killed_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        tr.train(recipe, out, data, cfg, progress=False)
    monkeypatch.undo()


def test_resume_continues_bit_for_bit(image_folder, tmp_path, monkeypatch):
    data = [f"{image_folder}@qf20"]
    p = {"ch": 4, "depth": 3, "qf": "5-60"}  # on-the-fly JPEG pairs and a cosine schedule must resume exactly too
    whole = tr.train(tr.recipe_class("ssim"), tmp_path / "a", data, cosine(4, **p), progress=False)
    train_killed_at_step_3(monkeypatch, tmp_path / "b", data, cosine(4, **p))
    resumed = tr.train(tr.recipe_class("ssim"), tmp_path / "b", data, cosine(4, **p), resume=True, progress=False)
    assert resumed["sha256"] == whole["sha256"]  # same weights, byte for byte
    curves = (tmp_path / "b" / "curves.csv").read_text().splitlines()
    assert (
        curves[0].startswith("step,seconds,lr,ssim_loss,l1")
        and len(curves) == 5
        and (tmp_path / "b" / "curves.svg").exists()
    )
    lrs = [float(r.split(",")[2]) for r in curves[1:]]
    assert (
        lrs == [tr.learning_rate(cosine(4), s) for s in (1, 2, 3, 4)]
        and lrs[0] == 2e-4
        and lrs[0] > lrs[1] > lrs[2] > lrs[3] > 1e-5
    )
    card = json.loads((tmp_path / "a" / "ssim.json").read_text())
    assert card["architecture"] == {"class": "HalfResGenerator", "ch": 4, "depth": 3} and card["seed"] == 0
    assert set(card["final_validation"]) == {"val_psnr", "val_psnr_input"} and card["data"]["val_items"] == 1
    with pytest.raises(BenchError, match="--resume"):
        tr.train(tr.recipe_class("ssim"), tmp_path / "a", data, tiny(4, ch=4, blocks=1), progress=False)


@pytest.mark.parametrize(
    "recipe,data,params",
    [
        ("gan", "@qf20", {"ch": 4, "depth": 3}),
        ("gan", "@qf20", {"ch": 4, "depth": 3, "qf": 20}),
        ("ssim", "@qf20", {"arch": "ArtifactGenerator", "ch": 4, "blocks": 1}),
        ("pix2pix", "@qp37", {"ch": 4, "depth": 2, "d_ch": 4}),
        ("pix2pix", "@qp37", {"ch": 4, "depth": 2, "d_ch": 4, "ssim_weight": 0.5, "adv_from": 1}),
        ("srresnet", "@x2", {"ch": 4, "blocks": 1, "scale": 2}),
        ("srgan", "@x2", {"ch": 4, "blocks": 1, "scale": 2, "d_ch": 4}),
        ("fast-srgan", "@x2", {"ch": 4, "blocks": 1, "scale": 2, "d_ch": 4}),
        ("videoboost", "@x2", {"ch": 4, "blocks": 1, "scale": 2, "d_ch": 4, "d_pretrain_steps": 1}),
    ],
)
def test_every_recipe_trains_and_exports(recipe, data, params, image_folder, tmp_path):
    card = tr.train(tr.recipe_class(recipe), tmp_path, [f"{image_folder}{data}"], tiny(2, **params), progress=False)
    rows = (tmp_path / "curves.csv").read_text().splitlines()
    assert len(rows) == 3 and "nan" not in rows[-1].lower()
    assert ("ssim_loss" in rows[0]) == (recipe in ("ssim", "gan") or "ssim_weight" in params)
    assert np.isfinite(card["final_validation"]["val_psnr"]) and (tmp_path / f"{recipe}.safetensors").exists()


def test_pix2pix_discriminator_learns_at_its_own_rate(image_folder, tmp_path, monkeypatch):
    recipe = tr.recipe_class("pix2pix")
    seen = []
    real_step = recipe.step

    def record(self, x, y):
        seen.append({k: o.param_groups[0]["lr"] for k, o in self.optims.items()})
        return real_step(self, x, y)

    monkeypatch.setattr(recipe, "step", record)
    tr.train(recipe, tmp_path, [f"{image_folder}@qp37"], tiny(2, ch=4, depth=2, d_ch=4, d_lr_scale=5.0), progress=False)
    assert len(seen) == 2 and all(r["discriminator"] == pytest.approx(5 * r["generator"]) for r in seen)


def test_untrained_generators_are_their_skip():
    """Residual generators start as the identity (artifact removal) or bicubic (SR), so
    training can only add to them."""
    import torch.nn.functional as F

    from benchmark.methods.networks import FastSRGenerator, HalfResGenerator, SRResNet

    x = torch.rand(1, 3, 21, 30) * 2 - 1  # odd sizes: padding must not shift anything
    assert torch.equal(HalfResGenerator(8, 4)(x), x)
    assert torch.equal(
        HalfResGenerator(8, 3, fold=4)(x), x
    )  # quarter resolution: 21x30 padded to 24x32 and cropped back
    bic = F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)
    assert torch.allclose(SRResNet(8, 2, 4, bn=False, residual=True)(x), bic, atol=1e-6)
    assert torch.allclose(
        FastSRGenerator(8, 2, 2, "bicubic")(x),
        F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False),
        atol=1e-6,
    )
    from benchmark.methods.networks import VideoBoostGenerator

    assert torch.allclose(
        VideoBoostGenerator(8, 1, 5)(x),
        F.interpolate(x, scale_factor=5, mode="bicubic", align_corners=False),
        atol=1e-6,
    )
    from benchmark.methods.networks import UNetGenerator

    assert torch.equal(UNetGenerator(4, 3)(x), x)


def test_videoboost_phases_follow_the_step_number_across_a_resume(image_folder, tmp_path, monkeypatch):
    """The discriminator's pre-training phase is steps 1..d_pretrain_steps of the run, also
    when the run is resumed in the middle (a per-process counter would pre-train it again)."""
    data = [f"{image_folder}@x2"]
    p = {"ch": 4, "blocks": 1, "scale": 2, "d_ch": 4, "d_pretrain_steps": 3}
    recipe = tr.recipe_class("videoboost")
    real_step, phases = recipe.step, []

    def recording(self, x, y, die_at=None):
        if len(phases) + 1 == die_at:
            raise KeyboardInterrupt  # dies after its step-2 checkpoint, inside the pre-training phase
        out = real_step(self, x, y)
        phases.append("d" if "d_pretrain" in out else "g")
        return out

    monkeypatch.setattr(recipe, "step", lambda self, x, y: recording(self, x, y, die_at=3))
    with pytest.raises(KeyboardInterrupt):
        tr.train(recipe, tmp_path, data, tiny(6, **p), progress=False)
    assert phases == ["d", "d"]
    phases.clear()
    monkeypatch.setattr(recipe, "step", recording)
    tr.train(recipe, tmp_path, data, tiny(6, **p), resume=True, progress=False)
    assert phases == ["d", "g", "g", "g"]  # steps 3..6: one more pre-training step, then the generator


def test_quarter_resolution_generator_is_recorded_and_reloaded(image_folder, tmp_path):
    """fold=4 enters the card (fold=2, the shipped default, does not: older cards stay valid),
    and the exported weights rebuild the same network from the card."""
    from safetensors.torch import load_file

    from benchmark.methods.networks import build_generator

    card = tr.train(
        tr.recipe_class("ssim"), tmp_path, [f"{image_folder}@qf20"], tiny(2, ch=4, depth=3, fold=4), progress=False
    )
    assert card["architecture"] == {"class": "HalfResGenerator", "ch": 4, "depth": 3, "fold": 4}
    g = build_generator(card["architecture"])
    g.load_state_dict(load_file(tmp_path / "ssim.safetensors"))
    assert g.fold == 4 and g.body[0].in_channels == 48


def test_on_the_fly_jpeg_pairs(image_folder):
    """qf=LO-HI: each target patch is JPEG-compressed at a QF of the range; a share is gray
    (Y replicated to three channels), on the 16-pixel MCU grid."""
    from benchmark.methods.training.galteri import SSIMRecipe, jpeg, parse_qf_range
    from benchmark.methods.training.trainer import to_uint8

    src = tr.PairSource([f"{image_folder}@qf20"], None, val_items=1)
    recipe = SSIMRecipe(tr.TrainConfig(params={"qf": "10", "gray": 0.5}), "cpu")
    x, y = recipe.sample(src, np.random.default_rng(0), 16, 32)
    xs, ys = to_uint8(x), to_uint8(y)
    gray = [bool((t[..., 0] == t[..., 1]).all() and (t[..., 1] == t[..., 2]).all()) for t in ys]
    assert 2 <= sum(gray) <= 14
    for xi, yi, g in zip(xs, ys, gray):
        src_frame = yi[..., :1] if g else yi
        want = jpeg(np.ascontiguousarray(src_frame), 10)
        assert np.array_equal(xi, np.repeat(want, 3, 2) if g else want)  # exactly the JPEG of the target at QF10
    assert parse_qf_range("5-60") == (5, 60) and parse_qf_range(30) == (30, 30)
    with pytest.raises(BenchError, match="qf="):
        parse_qf_range("high")


def test_qf_predictor_recipe_trains(image_folder, tmp_path):
    from benchmark.core.imaging import write_png

    for i in range(3):  # the predictor trains on 96x96 crops (the small frames are skipped)
        write_png(image_folder / f"big{i}.png", smooth_image(128, 128, seed=10 + i))
    card = tr.train(tr.recipe_class("qf-predictor"), tmp_path, [str(image_folder)], tiny(2, ch=4), progress=False)
    assert set(card["final_validation"]) == {"val_qf_mae", "val_bin_accuracy"}


def test_sub_patch_discriminator_judges_every_16x16_sub_patch():
    d = SubPatchDiscriminator(sub=16, ch=4)
    out = d(torch.zeros(2, 3, 128, 96), torch.zeros(2, 3, 128, 96))
    assert out.shape == (2 * 8 * 6, 1)


def test_generator_handles_any_size_and_qf_predictor_sees_dct():
    g = ArtifactGenerator(4, 1)
    assert g(torch.zeros(1, 3, 37, 53)).shape == (1, 3, 37, 53)
    q = QFPredictor(4)
    assert q(torch.zeros(3, 1, 64, 64)).shape == (3,)
    assert torch.allclose(
        q.dct.reshape(64, 64) @ q.dct.reshape(64, 64).T, torch.eye(64), atol=1e-5
    )  # orthonormal DCT basis


def test_trained_weights_run_as_a_method_and_enter_the_cache_key(image_folder, tmp_path):
    card = tr.train(
        tr.recipe_class("srresnet"),
        tmp_path / "t",
        [f"{image_folder}@x2"],
        tiny(2, ch=4, blocks=1, scale=2),
        progress=False,
    )
    weights = tmp_path / "t" / "srresnet.safetensors"
    m = registry.methods.get("srresnet")(weights=str(weights))
    assert m.weights_hash == card["sha256"] and m.identity()["weights"] == card["sha256"]
    res = run(
        RunConfig(methods=["bicubic"], datasets=[f"{image_folder}@x2"], metrics=["psnr"], out=str(tmp_path / "o")),
        progress=False,
    )
    assert not res.failures
    from benchmark.api import Context

    out = m.process([smooth_image(20, 24)], Context(scale=2))
    assert out[0].shape == (40, 48, 3) and out[0].dtype == np.uint8
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")  # tampered: the card's checksum no longer matches
    with pytest.raises(WeightsMissing, match="SHA-256"):
        registry.methods.get("srresnet")(weights=str(weights))


def test_missing_weights_say_how_to_get_them(tmp_path):
    with pytest.raises(WeightsMissing, match="bench train"):
        weights_file("no-such-model")


SHIPPED = sorted(p.stem for p in WEIGHTS_DIR.glob("*.safetensors"))


@pytest.mark.skipif(not SHIPPED, reason="no shipped weights yet")
def test_shipped_weights_match_their_cards():
    for name in SHIPPED:
        path, card = weights_file(name)
        for key in ("architecture", "steps", "seed", "command", "final_validation", "train_seconds", "data"):
            assert key in card, (name, key)


def test_method_settings_on_the_command_line(image_folder, tmp_path):
    from benchmark.run.runner import make_method

    tr.train(
        tr.recipe_class("srresnet"),
        tmp_path / "t",
        [f"{image_folder}@x2"],
        tiny(2, ch=4, blocks=1, scale=2),
        progress=False,
    )
    spec = f"srresnet:weights={tmp_path / 't' / 'srresnet.safetensors'}"
    m = make_method(spec)
    assert m.name == spec and m.params["weights"].endswith("srresnet.safetensors")
    res = run(
        RunConfig(
            methods=["bicubic", spec], datasets=[f"{image_folder}@x2"], metrics=["psnr"], out=str(tmp_path / "o")
        ),
        progress=False,
    )
    assert not res.failures and set(res.rows.method) == {"bicubic", spec}
    assert res.manifest["plugins"]["methods"][spec]["origin"] == "built-in"
    with pytest.raises(BenchError, match="expected name:key=value"):
        make_method("bicubic:oops")
    with pytest.raises(BenchError, match="lam=100 and lam=1000"):
        make_method("pix2pix:lam=7")


def test_the_add_a_method_guide_works_as_written(tmp_path, image_folder):
    """Build the guide's package from docs/methods.md verbatim, train it, ship its weights, run it."""
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    import pandas as pd

    doc = (Path(__file__).parents[1] / "docs" / "methods.md").read_text()
    guide = doc[doc.index("## Add a method adapter") :]
    toml = re.search(r"```toml\n(.*?)```", guide, re.S).group(1)
    code = re.search(r"```python\n(.*?)```", guide, re.S).group(1)
    pkg = tmp_path / "bench-sharpen"
    (pkg / "bench_sharpen" / "weights").mkdir(parents=True)
    (pkg / "pyproject.toml").write_text(toml)
    (pkg / "bench_sharpen" / "__init__.py").write_text(code)
    site = tmp_path / "site"
    env = {**os.environ, "COLUMNS": "250", "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    bench = [sys.executable, "-m", "benchmark.cli"]

    def install():
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-build-isolation",
                "--no-deps",
                "--no-index",
                "--upgrade",
                "--target",
                str(site),
                str(pkg),
            ],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stderr

    install()
    r = subprocess.run(
        [
            *bench,
            "train",
            "sharpen",
            "-d",
            f"{image_folder}@qf30",
            "--steps",
            "3",
            "--batch",
            "2",
            "--patch",
            "32",
            "--val-items",
            "1",
            "--out",
            str(tmp_path / "t"),
            "-q",
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr + r.stdout
    for f in ("sharpen.safetensors", "sharpen.json"):
        (pkg / "bench_sharpen" / "weights" / f).write_bytes((tmp_path / "t" / f).read_bytes())
    install()  # ship: the weights are package data now
    listed = subprocess.run([*bench, "list", "methods"], env=env, capture_output=True, text=True)
    assert any(l.strip("│ ").startswith("sharpen ") and "bench-sharpen" in l for l in listed.stdout.splitlines()), (
        listed.stdout
    )
    ran = subprocess.run(
        [
            *bench,
            "run",
            "-q",
            "-m",
            "identity,sharpen",
            "-d",
            f"{image_folder}@qf30",
            "--metrics",
            "psnr",
            "-o",
            str(tmp_path / "o"),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stderr
    df = pd.read_parquet(tmp_path / "o" / "scores.parquet")
    assert set(df.method) == {"identity", "sharpen"} and (df.status == "ok").all()


@pytest.mark.skipif("qf-predictor" not in SHIPPED, reason="no shipped QF predictor")
def test_predict_qf_prints_path_and_quality(tmp_path):
    from skimage import data as skdata
    from typer.testing import CliRunner

    from benchmark.cli import app
    from benchmark.core.imaging import write_png
    from benchmark.degradations.jpeg import JPEG

    paths = []
    for q in (10, 40):
        p = tmp_path / f"astronaut_q{q}.png"
        write_png(p, JPEG(q).apply(skdata.astronaut()))
        paths.append(p)
    r = CliRunner().invoke(app, ["predict-qf", *map(str, paths)])
    assert r.exit_code == 0, r.output
    lines = [l.split("\t") for l in r.output.strip().splitlines()]
    assert [l[0] for l in lines] == list(map(str, paths))
    q10, q40 = (float(l[1]) for l in lines)
    assert abs(q10 - 10) < 5 and abs(q40 - 40) < 8, (q10, q40)  # the shipped predictor's held-out error is ~2 QF


@pytest.mark.skipif(
    not {f"gan-qf{q}" for q in (5, 10, 20, 30, 40, 60)} <= set(SHIPPED), reason="the gan ensemble is not shipped"
)
def test_ensemble_picks_the_generator_of_the_predicted_qf():
    from skimage import data as skdata

    from benchmark.api import Context
    from benchmark.degradations.jpeg import JPEG

    img = JPEG(10).apply(skdata.astronaut()[:256, :256])
    auto = registry.methods.get("gan")()
    auto.setup("cpu")
    assert auto.choose(img) == 10
    forced = registry.methods.get("gan")(qf=40)
    forced.setup("cpu")
    assert forced.choose(img) == 40 and forced.identity() != auto.identity()
    out = auto.process([img, img[..., :1]], Context())
    assert out[0].shape == img.shape and out[1].shape == (256, 256, 1)
    assert not np.array_equal(out[0], img)


@pytest.mark.parametrize("n", [2, 4, 8])
@pytest.mark.parametrize("h,w", [(16, 24), (13, 21)])
def test_self_ensemble_undoes_each_view_and_keeps_the_8x8_grid(n, h, w):
    from benchmark.methods.adapters.galteri import self_ensemble

    x = torch.rand(1, 3, h, w)
    # a generator that commutes with flips and transposes: every view undone gives the input back
    assert torch.allclose(self_ensemble(lambda v: v * 2, x, n), x * 2, atol=1e-6)

    def marks_first_pixel(v):  # not equivariant: adds 1 at the top-left pixel of whatever it sees
        v = v.clone()
        v[..., 0, 0] += 1
        return v

    d = self_ensemble(marks_first_pixel, x, n) - x
    corners = {(0, 0): 0, (0, -1): 0, (-1, 0): 0, (-1, -1): 0}
    views = {2: [(0, 0), (-1, -1)], 4: [(0, 0), (-1, -1), (0, -1), (-1, 0)]}
    views[8] = views[4] * 2  # each corner twice: a transpose keeps the top-left and bottom-right corners
    for c in views[n]:
        corners[c] += 1
    padded = h % 8 or w % 8  # the views saw the image padded to 16x24: their other corners lie in the pad
    for (i, j), k in corners.items():
        expected = k / n if (i, j) == (0, 0) or not padded else 0.0
        assert float(d[0, 0, i, j]) == pytest.approx(expected, abs=1e-6), ((i, j), n)
    assert float(d.abs().sum()) == pytest.approx(
        3 * sum(k / n for c, k in corners.items() if c == (0, 0) or not padded), abs=1e-4
    )


def test_self_ensemble_setting_is_checked_and_enters_the_identity():
    if not {f"ssim-qf{q}" for q in (5, 10, 20, 30, 40, 60)} <= set(SHIPPED):
        pytest.skip("the ssim ensemble is not shipped")
    m = registry.methods.get("ssim")
    assert m().self_ensemble == 2 and m(self_ensemble=2).identity() == m().identity()
    assert m(self_ensemble=1).identity() != m().identity()
    with pytest.raises(BenchError, match="self_ensemble=3 is not one of 1, 2, 4, 8"):
        m(self_ensemble=3)


def test_method_version_records_the_perceptual_backbone(image_folder, tmp_path):
    card = tr.train(
        tr.recipe_class("srgan"),
        tmp_path,
        [f"{image_folder}@x2"],
        tiny(2, ch=4, blocks=1, scale=2, d_ch=4),
        progress=False,
    )
    assert card["params"]["perceptual_backbone"] in ("vgg19", "mobilenetv2")
    m = registry.methods.get("srgan")(weights=str(tmp_path / "srgan.safetensors"))
    assert m.version == f"1+{card['params']['perceptual_backbone']}"


@pytest.mark.skipif("qf-predictor" not in SHIPPED, reason="no shipped QF predictor")
def test_qf_confusion_table_and_rows(tmp_path):
    import pandas as pd
    from typer.testing import CliRunner

    from benchmark.cli import app

    r = CliRunner().invoke(app, ["predict-qf", "--confusion", "photos", "-o", str(tmp_path / "qf")])
    assert r.exit_code == 0, r.output
    assert "diagonal" in r.output
    df = pd.read_parquet(tmp_path / "qf" / "scores.parquet")
    conf = df[df.metric.str.startswith("qf-confusion/")]
    n_photos = 5
    assert len(conf) == 36 and conf.value.sum() == 6 * n_photos
    per_true = conf.assign(t=conf.metric.str.split("/").str[1]).groupby("t").value.sum()
    assert (per_true == n_photos).all()


class _Exploit:
    """Unpickling this runs code: what a checkpoint must never be able to do."""

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(_Exploit.target),))


def test_resume_never_unpickles_code(image_folder, tmp_path):
    data = [f"{image_folder}@qf20"]
    out = tmp_path / "t"
    tr.train(tr.recipe_class("ssim"), out, data, tiny(2, ch=4, depth=3), progress=False)
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    _Exploit.target = str(tmp_path / "pwned")
    state["extra"] = _Exploit()
    torch.save(state, out / "checkpoint.pt")
    with pytest.raises(BenchError, match="not a checkpoint bench can resume safely"):
        tr.train(tr.recipe_class("ssim"), out, data, tiny(4, ch=4, depth=3), resume=True, progress=False)
    assert not (tmp_path / "pwned").exists()  # weights_only=True refused the object before running it


def test_uncarded_weights_warn(tmp_path, monkeypatch):
    from benchmark.errors import BenchWarning

    src, _ = weights_file("qf-predictor")
    (tmp_path / "qf-predictor.safetensors").write_bytes(src.read_bytes())
    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(tmp_path))
    with pytest.warns(BenchWarning, match="no card"):
        path, card = weights_file("qf-predictor")
    assert path == tmp_path / "qf-predictor.safetensors" and card["sha256"]
    (tmp_path / "qf-predictor.json").write_text(json.dumps({"sha256": card["sha256"]}))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", BenchWarning)
        weights_file("qf-predictor")  # with a card: no warning


def test_a_grown_fine_tune_resumes_without_its_init_file_and_its_card_names_it(image_folder, tmp_path, monkeypatch):
    """blocks= grows zero-initialised residual blocks onto smaller weights (the same function at
    the start); a resumed run takes its weights from the checkpoint, so the --init file may be
    gone, and the card still names it."""
    import dataclasses

    import torch

    from benchmark.methods.networks import HalfResGenerator

    data = [f"{image_folder}@qf20"]
    tr.train(tr.recipe_class("ssim"), tmp_path / "small", data, cosine(2, ch=4, depth=3, qf="10"), progress=False)
    init = tmp_path / "small.safetensors"
    init.write_bytes((tmp_path / "small" / "ssim.safetensors").read_bytes())
    grown = HalfResGenerator(4, 3, blocks=2)
    tr.load_init(grown, str(init))
    base = HalfResGenerator(4, 3)
    tr.load_init(base, str(init))
    x = torch.rand(1, 3, 21, 30)
    assert torch.equal(grown(x), base(x))  # grown = the small network until trained
    with pytest.raises(BenchError, match="shapes differ"):
        tr.load_init(HalfResGenerator(8, 3), str(init))
    cfg = dataclasses.replace(cosine(4, ch=4, depth=3, blocks=2, qf="10"), init=str(init))
    train_killed_at_step_3(monkeypatch, tmp_path / "g", data, cfg)
    init.unlink()
    card = tr.train(
        tr.recipe_class("ssim"), tmp_path / "g", data, dataclasses.replace(cfg, init=None), resume=True, progress=False
    )
    assert card["init"] == "small.safetensors" and card["architecture"] == {
        "class": "HalfResGenerator",
        "ch": 4,
        "depth": 3,
        "blocks": 2,
    }
    assert card["steps"] == 4
