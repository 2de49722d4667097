"""``h264``: the quarter-resolution restorer of H.264-decoded frames, its recipe and its method."""

import json

import numpy as np
import pytest
import torch

from benchmark import registry
from benchmark.api import Context, restore_stream
from benchmark.errors import BenchError
from benchmark.files.weights import WeightsMissing
from benchmark.methods import training as tr
from benchmark.methods.adapters.h264 import H264Method, parse_crf
from benchmark.methods.networks import H264Net
from benchmark.methods.training.h264 import H264Recipe, clip_spans, level_of, share_references

from conftest import smooth_image


def tiny(steps, **params):
    return tr.TrainConfig(
        steps=steps,
        batch=2,
        patch=32,
        val_every=2,
        checkpoint_every=2,
        val_items=1,
        params={"ch": 4, "depth": 2, **params},
    )


def write_weights(folder, net, name="h264"):
    """``net``'s weights and a card, as ``bench train`` exports them."""
    from safetensors.torch import save_file

    from benchmark.core.imaging import sha256_file

    path = folder / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    arch = {
        "class": "H264Net",
        "ch": net.body[0].out_channels,
        "depth": sum(isinstance(m, torch.nn.Conv2d) for m in net.body),
        "fold": net.fold,
        "radius": net.radius,
    }
    (folder / f"{name}.json").write_text(json.dumps({"architecture": arch, "sha256": sha256_file(path)}))
    return path


def random_net(seed=0, ch=8, depth=3, radius=0):
    """A net whose every weight is random (the trained tail is not zero): it changes frames."""
    torch.manual_seed(seed)
    net = H264Net(ch=ch, depth=depth, radius=radius)
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
    assert card["architecture"] == {"class": "H264Net", "ch": 4, "depth": 2, "fold": 4, "radius": 0}
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
    assert (
        level_of("bsd200-pan-crf35") == 35
        and level_of("/tmp/crf20/clip@qp46") == 46
        and level_of("vid4-hevccrf30") == 30
    )
    assert np.isnan(level_of("bsd200")) and np.isnan(level_of("/data/crf20-clips@x2"))
    ref = np.zeros((4, 4, 3), np.uint8)
    pairs = [
        (ref + 1, ref.copy(), "a-crf30/i"),
        (ref + 2, ref.copy(), "a-crf30/i"),
        (ref + 3, ref.copy(), "a-crf40/i"),
        (ref + 4, ref.copy(), "a-crf40/i"),
    ]
    shared = share_references(pairs)
    assert shared[0][1] is shared[2][1] and shared[1][1] is shared[3][1] and shared[0][1] is not shared[1][1]
    assert [int(d[0, 0, 0]) for d, _, _ in shared] == [1, 2, 3, 4]


def test_method_restores_frames_and_tiles_match_whole_frames(tmp_path):
    weights = str(write_weights(tmp_path, random_net()))
    frame = smooth_image(96, 144, seed=1)
    gray = frame.mean(axis=2, keepdims=True).astype(np.uint8)
    whole = registry.methods.get("h264")(weights=weights, tile=0)
    out = whole.process([frame, frame], whole_ctx())
    assert (
        len(out) == 2 and out[0].shape == frame.shape and out[0].dtype == np.uint8 and not np.array_equal(out[0], frame)
    )
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
    return Context(device="cpu")


class FakeClips:
    """Two clips of 4 and 3 frames whose every degraded pixel is 10 * clip + frame (and the
    reference 100 + that), as the trainer's pair source lists them: in order, clip by clip."""

    def __init__(self, size=32):
        def pair(c, t):
            v = np.full((size, size, 3), 10 * c + t, np.uint8)
            return v, v + 100, f"set-crf30/clip{c}"

        self.names = ["set-crf30"]
        self.train = [pair(c, t) for c, n in ((1, 4), (2, 3)) for t in range(n)]
        self.val = list(self.train)


def test_clip_spans_and_patches_stack_the_neighbours_of_their_clip():
    assert clip_spans([(0, 0, "a"), (0, 0, "a"), (0, 0, "b")]) == [(0, 2), (0, 2), (2, 3)]
    source = FakeClips()
    recipe = H264Recipe(tiny(1, radius=1, blind=0.0), "cpu")
    x, y = recipe.sample(source, np.random.default_rng(0), 64, 32)
    assert x.shape == (64, 10, 32, 32) and y.shape == (64, 3, 32, 32)
    level = ((x[:, :9, 0, 0] + 1) * 127.5).round().int()  # back to the uint8 values: 10 * clip + frame
    prev, centre, nxt = level[:, 0], level[:, 3], level[:, 6]
    target = ((y[:, 0, 0, 0] + 1) * 127.5).round().int()
    assert torch.equal(target, centre + 100)  # the reference is the centre frame's
    clip, frame = centre // 10, centre % 10
    last = torch.where(clip == 1, 3, 2)
    assert torch.equal(prev, clip * 10 + (frame - 1).clamp(min=0))  # the clip's first frame stands in before it
    assert torch.equal(nxt, clip * 10 + torch.minimum(frame + 1, last))  # never a frame of the next clip
    assert set(frame.tolist()) == {0, 1, 2, 3} and torch.all(x[:, 9] == 30)


def test_multi_frame_net_is_the_identity_untrained_and_takes_a_still():
    net = H264Net(ch=4, depth=3, radius=2).eval()
    x = torch.rand(1, 15, 40, 48) * 2 - 1
    with torch.no_grad():
        assert torch.equal(net(x), x[:, 6:9])
        still = random_net(3, radius=2)
        one = torch.rand(1, 3, 40, 48) * 2 - 1
        assert torch.equal(still(one), still(one.repeat(1, 5, 1, 1)))
        with pytest.raises(ValueError, match="5 RGB frames"):
            still(x[:, :6])


def test_multi_frame_method_sees_each_frame_with_its_neighbours_whatever_the_batch(tmp_path):
    net = random_net(4, radius=1)
    weights = str(write_weights(tmp_path, net))
    method = H264Method(weights=weights, tile=0)
    assert method.window == (1, 1) and H264Method.window == (0, 0)
    clip = [smooth_image(48, 64, seed=s) for s in range(5)]
    outs = {b: list(restore_stream(method, iter(clip), whole_ctx(), b)) for b in (1, 2, 5)}
    assert all(np.array_equal(outs[1][t], outs[b][t]) for b in (2, 5) for t in range(5))
    with torch.no_grad():  # frame t from t-1, t, t+1; the ends repeat the clip's first and last frames
        for t in range(5):
            near = [clip[min(max(t + k, 0), 4)] for k in (-1, 0, 1)]
            x = torch.from_numpy(np.concatenate(near, 2)).permute(2, 0, 1)[None].float().div(127.5).sub(1)
            want = net(x).clamp(-1, 1).add(1).mul(127.5).round().byte()[0].permute(1, 2, 0).numpy()
            assert np.array_equal(outs[1][t], want)
    tiled = list(restore_stream(H264Method(weights=weights, tile=32), iter(clip), whole_ctx(), 2))
    diff = np.abs(np.stack(tiled).astype(int) - np.stack(outs[1]).astype(int))
    assert diff.mean() < 0.5 and diff.max() <= 8
    gray = [f.mean(axis=2, keepdims=True).astype(np.uint8) for f in clip[:2]]
    assert [o.shape for o in restore_stream(method, iter(gray), whole_ctx(), 1)] == [gray[0].shape] * 2


def test_multi_frame_training_runs_and_exports_its_radius(image_folder, tmp_path):
    card = tr.train(H264Recipe, tmp_path, [f"{image_folder}@crf30"], tiny(2, radius=1), progress=False)
    assert card["architecture"]["radius"] == 1 and np.isfinite(card["final_validation"]["val_psnr"])
    assert H264Method(weights=str(tmp_path / "h264.safetensors")).window == (1, 1)
