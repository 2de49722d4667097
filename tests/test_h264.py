"""``h264``: the quarter-resolution restorer of H.264-decoded frames, its recipe and its method."""

import json

import numpy as np
import pytest
import torch

from benchmark import registry
from benchmark.errors import BenchError
from benchmark.methods import training as tr
from benchmark.methods.h264 import H264Method, H264Net, H264Recipe, level_of, parse_crf, share_references
from benchmark.weights import WeightsMissing
from conftest import smooth_image


def tiny(steps, **params):
    return tr.TrainConfig(steps=steps, batch=2, patch=32, val_every=2, checkpoint_every=2, val_items=1,
                          params={"ch": 4, "depth": 2, **params})


def write_weights(folder, net, name="h264"):
    """``net``'s weights and a card, as ``bench train`` exports them."""
    from safetensors.torch import save_file

    from benchmark.imaging import sha256_file

    path = folder / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    arch = {"class": "H264Net", "ch": net.body[0].out_channels, "depth": sum(isinstance(m, torch.nn.Conv2d) for m in net.body), "fold": net.fold}
    (folder / f"{name}.json").write_text(json.dumps({"architecture": arch, "sha256": sha256_file(path)}))
    return path


def random_net(seed=0, ch=8, depth=3):
    """A net whose every weight is random (the trained tail is not zero): it changes frames."""
    torch.manual_seed(seed)
    net = H264Net(ch=ch, depth=depth)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.05)
    return net.eval()


def test_trains_on_several_crfs_and_validates_against_the_input(image_folder, tmp_path):
    data = [f"{image_folder}@crf30", f"{image_folder}@crf40"]
    card = tr.train(H264Recipe, tmp_path, data, tiny(2), progress=False)
    header = (tmp_path / "curves.csv").read_text().splitlines()[0].split(",")
    for k in ("charbonnier", "val_psnr", "val_psnr_input", "val_psnr_crf_known", "val_gain_crf30", "val_gain_crf40"):
        assert k in header
    assert card["architecture"] == {"class": "H264Net", "ch": 4, "depth": 2, "fold": 4}
    assert np.isfinite(card["final_validation"]["val_psnr"]) and (tmp_path / "h264.safetensors").exists()
    # --resume continues the checkpoint to more steps
    more = tr.train(H264Recipe, tmp_path, data, tiny(4), resume=True, progress=False)
    assert more["steps"] == 4 and len((tmp_path / "curves.csv").read_text().splitlines()) == 5


def test_untrained_net_is_the_identity_and_takes_any_size():
    net = H264Net(ch=4, depth=3).eval()
    x = torch.rand(2, 3, 37, 50) * 2 - 1
    with torch.no_grad():
        assert torch.equal(net(x), x) and torch.equal(net(x, 35), x) and net(x, [30, float("nan")]).shape == x.shape


def test_patches_carry_their_crf_unless_hidden(image_folder):
    source = tr.PairSource([f"{image_folder}@crf30", f"{image_folder}@crf40"], None, 1)
    rng = np.random.default_rng(0)
    known = H264Recipe(tiny(1, blind=0.0), "cpu")
    x, y = known.sample(source, rng, 8, 32)
    assert x.shape == (8, 4, 32, 32) and y.shape == (8, 3, 32, 32)
    assert set(x[:, 3, 0, 0].tolist()) <= {30.0, 40.0} and torch.isfinite(x[:, 3]).all()
    x, _ = H264Recipe(tiny(1, blind=1.0), "cpu").sample(source, rng, 8, 32)
    assert torch.isnan(x[:, 3]).all()
    with pytest.raises(BenchError, match="multiple of 16"):
        known.sample(source, rng, 2, 40)


def test_levels_and_shared_references():
    assert level_of("bsd200-pan-crf35") == 35 and level_of("/tmp/crf20/clip@qp46") == 46 and level_of("vid4-hevccrf30") == 30
    assert np.isnan(level_of("bsd200")) and np.isnan(level_of("/data/crf20-clips@x2"))
    ref = np.zeros((4, 4, 3), np.uint8)
    pairs = [(ref + 1, ref.copy(), "a-crf30/i"), (ref + 2, ref.copy(), "a-crf30/i"), (ref + 3, ref.copy(), "a-crf40/i"), (ref + 4, ref.copy(), "a-crf40/i")]
    shared = share_references(pairs)
    assert shared[0][1] is shared[2][1] and shared[1][1] is shared[3][1] and shared[0][1] is not shared[1][1]
    assert [int(d[0, 0, 0]) for d, _, _ in shared] == [1, 2, 3, 4]


def test_method_restores_frames_and_tiles_match_whole_frames(tmp_path):
    weights = str(write_weights(tmp_path, random_net()))
    frame = smooth_image(96, 144, seed=1)
    gray = frame.mean(axis=2, keepdims=True).astype(np.uint8)
    whole = registry.methods.get("h264")(weights=weights, tile=0)
    out = whole.process([frame, frame], whole_ctx())
    assert len(out) == 2 and out[0].shape == frame.shape and out[0].dtype == np.uint8 and not np.array_equal(out[0], frame)
    assert whole.process([gray], whole_ctx())[0].shape == gray.shape
    tiled = H264Method(weights=weights, tile=64)
    t = tiled.process([frame], whole_ctx())[0]
    diff = np.abs(t.astype(int) - out[0].astype(int))
    assert diff.mean() < 0.5 and diff.max() <= 8
    assert tiled.params.get("tile") == 64 and "tile" not in H264Method(weights=weights).params


def test_crf_input_changes_the_output_and_is_checked(tmp_path):
    weights = str(write_weights(tmp_path, random_net(1)))
    frame = smooth_image(64, 80, seed=2)
    outs = {c: H264Method(crf=c, weights=weights).process([frame], whole_ctx())[0] for c in ("auto", 25, 45)}
    assert not np.array_equal(outs[25], outs[45]) and not np.array_equal(outs["auto"], outs[25])
    assert H264Method(crf=35, weights=weights).params["crf"] == 35 and "crf" not in H264Method(weights=weights).params
    assert parse_crf("auto") is None and parse_crf("30") == 30.0
    for bad in ("high", 60, -1):
        with pytest.raises(BenchError, match="crf="):
            H264Method(crf=bad, weights=weights)


def test_missing_weights_say_how_to_train_them(tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH_WEIGHTS_DIR", raising=False)
    monkeypatch.setattr(H264Method, "weights_dir", tmp_path)
    with pytest.raises(WeightsMissing, match="bench train.*checkpoints/h264"):
        H264Method()
    with pytest.raises(WeightsMissing, match="not found"):
        H264Method(weights=str(tmp_path / "nope.safetensors"))


def whole_ctx():
    from benchmark.api import Context

    return Context(device="cpu")
