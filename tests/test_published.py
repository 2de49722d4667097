"""Published models from their weights files (spandrel), tiled inference and declared scales.

Every model here is a tiny, randomly initialised instance of a spandrel architecture saved
in the test (no downloads)."""

import json
import os

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.core.imaging import read_image, write_png
from benchmark.core.tiling import auto_tile, run_tiled
from benchmark.errors import BenchError
from benchmark.run.runner import RunConfig, make_method, run

from conftest import smooth_image

spandrel = pytest.importorskip("spandrel")
from spandrel.architectures.Compact import Compact  # noqa: E402
from spandrel.architectures.DnCNN import DnCNN  # noqa: E402
from spandrel.architectures.DRUNet import DRUNet  # noqa: E402
from spandrel.architectures.ESRGAN import ESRGAN  # noqa: E402
from spandrel.architectures.SPAN import SPAN  # noqa: E402
from spandrel.architectures.SwinIR import SwinIR  # noqa: E402

# name -> (builder, file suffix, scale, input channels, architecture id spandrel should detect)
TINY = {
    "esrgan_x2": (lambda: ESRGAN(num_filters=8, num_blocks=1, scale=2), ".pth", 2, 3, "ESRGAN"),
    "compact_x4": (lambda: Compact(num_feat=8, num_conv=2, upscale=4), ".safetensors", 4, 3, "Compact"),
    "span_x2": (lambda: SPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=2), ".pth", 2, 3, "SPAN"),
    "swinir_x2": (
        lambda: SwinIR(
            img_size=16,
            in_chans=3,
            embed_dim=12,
            depths=[1],
            num_heads=[2],
            window_size=4,
            mlp_ratio=2,
            upscale=2,
            upsampler="pixelshuffle",
        ),
        ".pth",
        2,
        3,
        "SwinIR",
    ),
    "dncnn_gray": (lambda: DnCNN(in_nc=1, out_nc=1, nc=8, nb=5), ".pt", 1, 1, "DnCNN"),
    "drunet": (lambda: DRUNet(in_nc=4, out_nc=3, nc=[8, 16, 32, 64], nb=4), ".ckpt", 1, 3, "DRUNet"),
}


def save_tiny(key, folder, seed=0):
    build, suffix, *_ = TINY[key]
    torch.manual_seed(seed)
    net = build()
    for p in net.parameters():  # random but not degenerate: small weights keep outputs inside 0-1
        p.data.mul_(0.5)
    path = folder / f"{key}{suffix}"
    sd = {k: v.contiguous() for k, v in net.state_dict().items()}
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(sd, str(path))
    elif key == "esrgan_x2":
        torch.save({"params_ema": sd}, path)  # the Real-ESRGAN release layout
    else:
        torch.save(sd, path)
    return path


def spandrel_reference(path, img):
    """spandrel's own inference on one uint8 HxWxC image, as uint8."""
    model = spandrel.ModelLoader().load_from_file(str(path)).eval()
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    if model.input_channels == 1 and img.shape[2] == 3:
        x = x.permute(1, 0, 2, 3)
    with torch.inference_mode():
        y = model(x)
    if model.input_channels == 1 and img.shape[2] == 3:
        y = y.permute(1, 0, 2, 3)
    return y.clamp(0, 1).mul(255).round().byte()[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize("key", list(TINY))
def test_weights_file_loads_with_its_scale_and_matches_spandrel(key, tmp_path):
    path = save_tiny(key, tmp_path)
    m = make_method(str(path))
    _, _, scale, channels, arch = TINY[key]
    assert (m.name, m.scale, m.arch, m.model.input_channels) == (key, scale, arch, channels)
    assert (
        m.weights_hash in json.dumps(m.identity())
        and m.version.startswith(f"1+{arch}-")
        and m.weights_hash[:12] in m.version
    )
    img = smooth_image(36, 44, c=3 if channels == 3 else 1, seed=1)
    m.setup("cpu")
    out = m.restore([img])[0]
    assert out.shape == (36 * scale, 44 * scale, img.shape[2]) and out.dtype == np.uint8
    ref = spandrel_reference(path, img)
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1


def test_gray_model_on_rgb_frames_and_rgb_model_on_gray_frames(tmp_path):
    gray = make_method(str(save_tiny("dncnn_gray", tmp_path)))
    gray.setup("cpu")
    rgb = smooth_image(32, 40, seed=2)
    out = gray.restore([rgb])[0]
    assert out.shape == rgb.shape
    for c in range(3):  # each channel through the gray model
        assert np.array_equal(out[:, :, c : c + 1], gray.restore([np.ascontiguousarray(rgb[:, :, c : c + 1])])[0])
    colour = make_method(str(save_tiny("compact_x4", tmp_path)))
    colour.setup("cpu")
    g = smooth_image(20, 24, c=1, seed=3)
    o = colour.restore([g])[0]
    full = colour.restore([np.repeat(g, 3, 2)])[0]
    assert o.shape == (80, 96, 1) and np.abs(o[:, :, 0].astype(int) - full.mean(axis=2)).max() <= 0.5 + 1e-9


@pytest.mark.parametrize("key,overlap", [("esrgan_x2", 48), ("compact_x4", 16), ("span_x2", 48), ("dncnn_gray", 32)])
def test_tiled_output_equals_untiled_within_one_grey_level(key, overlap, tmp_path):
    path = save_tiny(key, tmp_path)
    img = smooth_image(150, 190, seed=4)
    whole = make_method(f"{path}:tile=0")
    tiled = make_method(f"{path}:tile=96:overlap={overlap}")
    whole.setup("cpu")
    tiled.setup("cpu")
    a, b = whole.restore([img])[0], tiled.restore([img])[0]
    assert tiled.choose_tile(1, 150, 190) == 96 and whole.choose_tile(1, 150, 190) is None
    assert a.shape == b.shape
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_tiles_cover_the_frame_and_blend_to_the_exact_function():
    """A per-pixel function (receptive field 1) is reproduced exactly by any tiling: the blending
    weights of every output pixel sum to 1."""
    x = torch.from_numpy(smooth_image(103, 211, seed=5)).permute(2, 0, 1)[None]
    fn = lambda t: torch.nn.functional.interpolate(t.float() / 255, scale_factor=3, mode="nearest")  # noqa: E731
    ref = run_tiled(fn, x, 3, None, 0)
    for tile, overlap in [(32, 8), (40, 0), (50, 20), (64, 32)]:
        assert np.abs(run_tiled(fn, x, 3, tile, overlap).astype(int) - ref.astype(int)).max() <= 1


def test_tile_size_is_chosen_from_memory(tmp_path, monkeypatch):
    from benchmark.core import memory as pub

    m = make_method(str(save_tiny("compact_x4", tmp_path)))
    m.setup("cpu")
    bpp = m.bytes_per_pixel()
    assert bpp > 0
    monkeypatch.setattr(pub, "memory_budget", lambda device: bpp * 64 * 64)  # room for 64x64 pixels
    side = m.choose_tile(1, 2160, 3840)
    assert side is not None and 64 <= side <= 96  # at least overlap*2+16 = 80 wide
    assert m.choose_tile(1, 40, 40) is None  # a small frame is never tiled
    img = smooth_image(150, 130, seed=6)
    tiled = m.restore([img])[0]
    monkeypatch.setattr(pub, "memory_budget", lambda device: 1e12)
    assert np.abs(tiled.astype(int) - m.restore([img])[0].astype(int)).max() <= 1
    assert auto_tile(1e9, 100, 100) is None and auto_tile(100 * 100, 1000, 1000, multiple_of=8) == 96


def test_precision_follows_what_the_architecture_supports(tmp_path, monkeypatch):
    from benchmark.methods.adapters.published import resolve_precision

    compact = make_method(str(save_tiny("compact_x4", tmp_path))).model  # fp16 and bf16
    swinir = make_method(str(save_tiny("swinir_x2", tmp_path))).model  # bf16 only
    assert resolve_precision("auto", "cpu", compact) == torch.float32
    assert resolve_precision("auto", "cuda", compact) == torch.float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", "cuda:0", swinir) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("auto", "cuda", swinir) == torch.float32
    assert resolve_precision("bf16", "cpu", compact) == torch.bfloat16
    with pytest.raises(BenchError, match="does not support fp16"):
        resolve_precision("fp16", "cuda", swinir)
    with pytest.raises(BenchError, match="precision must be"):
        make_method(f"{tmp_path / 'compact_x4.safetensors'}:precision=fp8")
    m = make_method(f"{tmp_path / 'compact_x4.safetensors'}:precision=bf16")  # runs on the CPU too
    m.setup("cpu")
    img = smooth_image(20, 20, seed=8)
    ref = make_method(str(tmp_path / "compact_x4.safetensors"))
    ref.setup("cpu")
    assert np.abs(m.restore([img])[0].astype(int) - ref.restore([img])[0].astype(int)).max() <= 8
    assert m.identity()["params"] == {"precision": "bf16"} and ref.identity()["params"] == {}


def test_bad_files_are_clear_errors_naming_the_file(tmp_path):
    junk = tmp_path / "notes.pth"
    junk.write_bytes(b"certainly not a model")
    with pytest.raises(BenchError, match="notes.pth: not readable as model weights"):
        make_method(str(junk))
    torch.save(torch.nn.Conv2d(3, 3, 3), tmp_path / "whole.pth")  # a pickled module, not a state dict
    with pytest.raises(BenchError, match=r"whole.pth: .*Conv2d.*weights_only=True"):
        make_method(str(tmp_path / "whole.pth"))
    import pickle

    class Evil:  # a pickle that would run a command: refused, and the sentence says why (not torch's advice to load it anyway)
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"w": torch.zeros(1), "x": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(BenchError, match=r"evil.pth: .*pickle of Python objects \(posix.system\).*never code") as e:
        make_method(str(tmp_path / "evil.pth"))
    assert "weights_only` set to `False`" not in str(e.value)
    (tmp_path / "odd.pth").write_bytes(pickle.dumps(Evil(), protocol=4))
    with pytest.raises(
        BenchError, match=r"odd.pth: not readable as model weights \(UnpicklingError: Unsupported operand"
    ):
        make_method(str(tmp_path / "odd.pth"))
    torch.jit.save(torch.jit.script(torch.nn.Conv2d(3, 3, 3)), tmp_path / "scripted.pt")
    with pytest.raises(BenchError, match="scripted.pt: a TorchScript archive"):
        make_method(str(tmp_path / "scripted.pt"))
    torch.save({"encoder.weight": torch.zeros(4, 4)}, tmp_path / "other.pth")
    with pytest.raises(BenchError, match="other.pth: not a model spandrel"):
        make_method(str(tmp_path / "other.pth"))
    with pytest.raises(BenchError, match="no such file"):
        make_method(str(tmp_path / "missing.safetensors"))
    with pytest.raises(BenchError, match="not a weights file"):
        make_method(str(tmp_path / "image.png"))
    path = save_tiny("compact_x4", tmp_path)
    with pytest.raises(BenchError, match="tile must be"):
        make_method(f"{path}:tile=huge")
    with pytest.raises(BenchError, match="name=, tile="):
        make_method(f"{path}:strength=3")
    r = CliRunner().invoke(app, ["run", "-q", "-m", f"bicubic,{junk}", "-d", f"{tmp_path}@x4"])
    assert r.exit_code == 2 and "notes.pth" in r.output and "Traceback" not in r.output


def test_run_with_a_weights_file_beside_bicubic(tmp_path, image_folder):
    path = save_tiny("compact_x4", tmp_path)
    res = run(
        RunConfig(
            methods=["bicubic", str(path)], datasets=[f"{image_folder}@x4"], metrics=["psnr"], out=str(tmp_path / "o")
        ),
        progress=False,
    )
    assert not res.failures
    df = pd.read_parquet(tmp_path / "o" / "scores.parquet")
    assert set(df.method) == {"bicubic", "compact_x4"} and (df.status == "ok").all()
    version = df[df.method == "compact_x4"].method_version.iloc[0]
    assert version.startswith("1+Compact-")
    plugin = res.manifest["plugins"]["methods"]["compact_x4"]
    assert plugin["architecture"] == "Compact" and plugin["scale"] == 4 and len(plugin["sha256"]) == 64
    # a changed file is a new version: nothing cached is reused
    path.write_bytes(path.read_bytes())  # same bytes, same key
    assert make_method(str(path)).version == version
    save_tiny("compact_x4", tmp_path, seed=1)
    assert make_method(str(path)).version != version
    # name= labels the row
    assert make_method(f"{path}:name=mine").name == "mine"


def test_spec_file_names_a_weights_file(tmp_path, image_folder):
    save_tiny("compact_x4", tmp_path)
    spec = tmp_path / "bench.toml"
    spec.write_text('[methods.esr]\npath = "compact_x4.safetensors"\ntile = 64\n')
    res = run(
        RunConfig(
            methods=["bicubic", "esr"],
            datasets=[f"{image_folder}@x4"],
            metrics=["psnr"],
            specs=[str(spec)],
            out=str(tmp_path / "o"),
        ),
        progress=False,
    )
    assert not res.failures and set(res.rows.method) == {"bicubic", "esr"}
    plugin = res.manifest["plugins"]["methods"]["esr"]
    assert plugin["origin"] == f"spec file {spec}" and plugin["target"] == str(tmp_path / "compact_x4.safetensors")
    assert res.manifest["config"]["methods"][1]["params"] == {"tile": 64}
    src = tmp_path / "in.png"
    write_png(src, smooth_image(16, 20, seed=9))
    r = CliRunner().invoke(
        app, ["enhance", str(src), "-m", "esr:tile=0", "--spec", str(spec), "-o", str(tmp_path / "e.png"), "-q"]
    )
    assert r.exit_code == 0, r.output
    assert read_image(tmp_path / "e.png").shape == (64, 80, 3)
    spec.write_text('[methods.bicubic]\npath = "compact_x4.safetensors"\n')
    r = CliRunner().invoke(app, ["run", "-q", "--spec", str(spec), "-d", f"{image_folder}@x4"])
    assert r.exit_code == 2 and "collides" in r.output


def test_scale_mismatch_between_method_and_data_set_is_refused(tmp_path, image_folder):
    path = save_tiny("compact_x4", tmp_path)
    r = CliRunner().invoke(app, ["run", "-q", "-m", str(path), "-d", f"{image_folder}@qf20"])
    assert r.exit_code == 2 and "upscales x4" in r.output and "no downscale" in r.output
    r = CliRunner().invoke(app, ["run", "-q", "-m", "fast-srgan", "-d", f"{image_folder}@x4"])
    assert r.exit_code == 2 and "upscales x2" in r.output and "downscaled x4" in r.output
    dn = save_tiny("dncnn_gray", tmp_path)
    r = CliRunner().invoke(app, ["run", "-q", "-m", str(dn), "-d", f"{image_folder}@x2"])
    assert r.exit_code == 2 and "restores at x1" in r.output


def test_enhance_takes_the_scale_from_a_weights_file(tmp_path):
    src = tmp_path / "in.png"
    write_png(src, smooth_image(24, 30, seed=7))
    path = save_tiny("span_x2", tmp_path)
    r = CliRunner().invoke(app, ["enhance", str(src), "-m", str(path), "-o", str(tmp_path / "out.png"), "-q"])
    assert r.exit_code == 0, r.output
    assert read_image(tmp_path / "out.png").shape == (48, 60, 3)
    r = CliRunner().invoke(
        app, ["enhance", str(src), "-m", str(path), "--scale", "4", "-o", str(tmp_path / "x.png"), "-q"]
    )
    assert r.exit_code == 2 and "upscales x2" in r.output
