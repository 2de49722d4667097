"""The inference engine (benchmark/core/engine.py, engine_openvino.py): the choice per device, eager
PyTorch without OpenVINO, conversion cached on disk and reused, networks that do not convert (or
not at every alignment) falling back with one line, the bound on compiled sizes, the version tags
the rows carry, and every shipped network against eager after rounding to 8 bits."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from torch import nn

from benchmark.api import Context
from benchmark.core import engine
from benchmark.errors import BenchError
from benchmark.run.resolve import make_method

from conftest import smooth_image

needs_openvino = pytest.mark.skipif(not engine.openvino_present(), reason="OpenVINO is not installed ([engine] extra)")
SHIPPED = ["ssim", "gan", "srresnet", "srgan", "fast-srgan", "pix2pix", "videoboost"]


@pytest.fixture(autouse=True)
def _engine_at_once(monkeypatch):
    """Networks go to the engine on their first call (not after WARM_S seconds of eager calls)."""
    monkeypatch.setattr(engine, "WARM_S", 0.0)


@pytest.fixture
def no_openvino(monkeypatch):
    """OpenVINO missing, as in an installation without the [engine] extra: its import fails."""
    for name in [m for m in sys.modules if m == "openvino" or m.startswith("openvino.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "openvino", None)


class Doubler(nn.Module):
    """A small network with weights: a 3x3 convolution."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return self.conv(x) * 2


class Two(nn.Module):
    """Returns two tensors: the engine takes networks with one output."""

    def forward(self, x):
        return x + 1, x - 1


class Branchy(nn.Module):
    """Branches on its input's width: traced for one branch, so other alignments must be refused."""

    def forward(self, x):
        return x * 3 if x.shape[-1] % 2 else x * 2


class Holder:
    """A method-like object around one module (what attach reads: name, network(), engine)."""

    name, base, engine = "holder", None, None

    def __init__(self, module):
        self.module = module

    def network(self):
        return self.module


def choice(tmp_path, precision="f32"):
    return engine.EngineChoice("openvino", precision, str(tmp_path / "engine"))


# ----------------------------------------------------------------------------- the choice
def test_auto_is_openvino_on_a_cpu_where_present_and_eager_without_it(monkeypatch, no_openvino):
    monkeypatch.delenv("BENCH_ENGINE", raising=False)
    assert engine.choose(None, None, "cpu").name == "eager"
    with pytest.raises(BenchError, match=r"pip install 'bench-enhance\[engine\]'"):
        engine.choose("openvino", None, "cpu")


@needs_openvino
def test_auto_picks_openvino_on_the_cpu_and_cuda_on_a_gpu(monkeypatch):
    monkeypatch.delenv("BENCH_ENGINE", raising=False)
    assert engine.choose("auto", None, "cpu") == engine.EngineChoice("openvino", "f32")
    assert engine.choose(None, "fp16", "cuda:0") == engine.EngineChoice("cuda", "f16")
    assert engine.choose("eager", None, "cuda").name == "cuda"  # eager PyTorch on a GPU
    with pytest.raises(BenchError, match="runs on the CPU"):
        engine.choose("openvino", None, "cuda")
    with pytest.raises(BenchError, match="runs on a GPU"):
        engine.choose("cuda", None, "cpu")
    with pytest.raises(BenchError, match="--engine 'tensorrt'"):
        engine.choose("tensorrt", None, "cpu")
    with pytest.raises(BenchError, match="--precision 'int8'"):
        engine.choose("eager", "int8", "cpu")
    monkeypatch.setenv("BENCH_ENGINE", "eager")
    assert engine.choose(None, None, "cpu").name == "eager"


def test_the_version_names_the_engine_unless_outputs_are_eagers(monkeypatch):
    ov = engine.EngineChoice("openvino", "f32")
    m = make_method("fast-srgan")
    before = m.version
    engine.settle(m, ov)
    assert m.version == f"{before}+openvino-f32" and m.engine == ov
    engine.settle(m, engine.EngineChoice("openvino", "bf16"))  # bound once
    assert m.version == f"{before}+openvino-f32"
    eager = make_method("fast-srgan")
    engine.settle(eager, engine.EAGER)
    assert eager.version == before
    half = make_method("fast-srgan")
    engine.settle(half, engine.EngineChoice("eager", "bf16"))
    assert half.version == f"{before}+eager-bf16"  # reduced precision is always named
    ident = make_method("identity")
    engine.settle(ident, ov)
    assert ident.engine is None and "+" not in ident.version  # no network: nothing to say


# ----------------------------------------------------------------------------- fallbacks
def test_without_openvino_the_networks_run_eagerly_with_one_line(no_openvino, tmp_path):
    said = []
    net = Doubler().eval()
    x = torch.rand(1, 3, 20, 24)
    want = net(x)
    assert engine.attach(Holder(net), choice(tmp_path), said.append) == 1
    with torch.inference_mode():
        assert torch.equal(net(x), want) and torch.equal(net(x), want)
    assert len(said) == 1 and "runs in eager PyTorch" in said[0] and "openvino" in said[0].lower()


@needs_openvino
def test_a_network_that_does_not_convert_runs_eagerly_said_once(tmp_path):
    said = []
    net = Two().eval()
    engine.attach(Holder(net), choice(tmp_path), said.append)
    with torch.inference_mode():
        a, b = net(torch.zeros(1, 3, 8, 8))
        net(torch.zeros(1, 3, 8, 8))
    assert float(a.mean()) == 1 and float(b.mean()) == -1
    assert len(said) == 1 and "2 outputs" in said[0]


@needs_openvino
def test_an_alignment_that_disagrees_runs_eagerly_and_the_others_on_openvino(tmp_path):
    said = []
    net = Branchy().eval()
    engine.attach(Holder(net), choice(tmp_path), said.append)
    odd, even = torch.ones(1, 3, 9, 11), torch.ones(1, 3, 9, 12)
    with torch.inference_mode():
        assert float(net(odd).mean()) == 3
        assert float(net(even).mean()) == 2  # eager's own branch, not the traced one
        assert float(net(even).mean()) == 2
    backend = net.forward.backend
    assert len(said) == 1 and "9x12" in said[0] and (9, 12) in backend.refused and (9, 11) in backend.checked


@needs_openvino
def test_probes_meta_tensors_and_gradients_run_eagerly(tmp_path):
    net = Doubler().eval()
    engine.attach(Holder(net), choice(tmp_path))
    calls = []
    backend = net.forward.backend
    net.forward.backend = lambda x: calls.append(x.shape) or backend(x)
    with torch.inference_mode():
        net(torch.rand(1, 3, 16, 16))
        with engine.eager_only():
            net(torch.rand(1, 3, 16, 16))
    assert net(torch.rand(1, 3, 16, 16)).requires_grad  # training: autograd through the module's own forward
    meta = net.forward.eager(torch.empty(1, 3, 16, 16, device="meta"))
    assert meta.device.type == "meta" and len(calls) == 1
    assert not net.forward.plain((torch.rand(1, 3, 16, 16, dtype=torch.float64),), {})
    assert not net.forward.plain((torch.rand(3, 16, 16),), {}) and not net.forward.plain(
        (torch.rand(1, 3, 8, 8),), {"scale": 2}
    )


# ----------------------------------------------------------------------------- the disk cache
@needs_openvino
def test_a_converted_network_is_reused_from_disk_and_sizes_stay_bounded(tmp_path, monkeypatch):
    from benchmark.core import engine_openvino

    x = torch.rand(2, 3, 30, 40)
    first = Doubler(seed=1).eval()
    want = first(x).detach()
    engine.attach(Holder(first), choice(tmp_path))
    with torch.inference_mode():
        assert torch.allclose(first(x), want, atol=1e-5)
    assert len(list((tmp_path / "engine" / "ir").glob("*.xml"))) == 1

    import openvino

    def refuse(*args, **kwargs):
        raise AssertionError("converted again: the disk cache was not used")

    monkeypatch.setattr(openvino, "convert_model", refuse)
    again = Doubler(seed=1).eval()  # the same weights in a new module (a new process, say)
    engine.attach(Holder(again), choice(tmp_path))
    with torch.inference_mode():
        assert torch.allclose(again(x), want, atol=1e-5)
        backend = again.forward.backend
        assert (30 % 64, 40 % 64) in backend.checked  # the check made before is kept beside the network
        for side in range(20, 20 + 2 * engine_openvino.KEEP_SHAPES):
            for _ in range(2):  # a size met twice is compiled for itself (once: the open-size compilation)
                again(torch.rand(1, 3, side, side))
    assert len(backend.compiled) == engine_openvino.KEEP_SHAPES
    other = Doubler(seed=2).eval()  # other weights: another network, converted (refused here)
    said = []
    engine.attach(Holder(other), choice(tmp_path), said.append)
    with torch.inference_mode():
        other(x)
    assert len(said) == 1 and "cannot convert" in said[0]


# ----------------------------------------------------------------------------- the shipped networks
@needs_openvino
@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_network_on_openvino_matches_eager_after_rounding(name, tmp_path):
    """At f32, OpenVINO's outputs differ from eager PyTorch's by about 1e-6 of the range before
    rounding: after rounding to 8 bits all but a few values in 10^5 are equal, none more than 1 apart
    (so the rows name the engine: ``+openvino-f32``)."""
    frame = smooth_image(72, 104, seed=3)
    odd = smooth_image(67, 85, seed=4)
    m = make_method(name)
    m.setup("cpu")
    ctx = Context(scale=m.scale or 1, device="cpu")
    eager = [m.process([f], ctx)[0] for f in (frame, odd)]
    assert engine.attach(m, choice(tmp_path), pytest.fail) >= 1  # every network converts: nothing said
    fast = [m.process([f], ctx)[0] for f in (frame, odd)]
    for e, o in zip(eager, fast):
        diff = np.abs(e.astype(int) - o.astype(int))
        assert diff.max() <= 1 and (diff == 0).mean() >= 0.999, (name, diff.max(), (diff == 0).mean())


@needs_openvino
@pytest.mark.parametrize("scale", [2, 3, 4, 5])
def test_bicubic_upsampling_folded_into_a_convolution_is_the_same_function(scale, tmp_path):
    import torch.nn.functional as F

    class Up(nn.Module):
        def forward(self, x):
            return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)

    net = Up().eval()
    engine.attach(Holder(net), choice(tmp_path), pytest.fail)
    with torch.inference_mode():
        for shape in ((2, 3, 37, 51), (1, 3, 9, 12)):
            x = torch.rand(*shape)
            assert float((net(x) - net.forward.eager(x)).abs().max()) < 1e-5
    ops = [n.get_type_name() for n in net.forward.backend.model.get_ordered_ops()]
    assert "GroupConvolution" in ops and "Interpolate" not in ops


@needs_openvino
@pytest.mark.parametrize(
    "out_ch, kernel, padding", [(3, 9, 4), (3, 3, 1), (1, (5, 3), (2, 1)), (4, 3, 0), (2, 4, (1, 2))]
)
def test_a_convolution_to_few_channels_widened_to_output_phases_is_the_same_function(out_ch, kernel, padding, tmp_path):
    """engine_passes.widen_narrow_convolutions: stride 2 to 4x the channels and depth-to-space, cropped
    to the original's size, on odd and even sides, one-sided and no padding, a kernel of even side."""

    class Tail(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Conv2d(3, 8, 3, 1, 1)
            self.tail = nn.Conv2d(8, out_ch, kernel, 1, padding)

        def forward(self, x):
            return self.tail(torch.relu(self.body(x)))

    torch.manual_seed(0)
    net = Tail().eval()
    engine.attach(Holder(net), choice(tmp_path), pytest.fail)
    with torch.inference_mode():
        for shape in ((2, 3, 37, 51), (1, 3, 16, 20), (1, 3, 9, 12)):
            x = torch.rand(*shape)
            want = net.forward.eager(x)
            got = net(x)
            assert got.shape == want.shape and float((got - want).abs().max()) < 1e-5, shape
    convs = [n for n in net.forward.backend.model.get_ordered_ops() if n.get_type_name() == "Convolution"]
    assert [list(n.get_attributes()["strides"]) for n in convs] == [[1, 1], [2, 2]]
    assert convs[1].get_output_partial_shape(0)[1].get_length() == 4 * out_ch


@needs_openvino
def test_a_network_converts_while_a_cost_probe_watches_every_network(tmp_path):
    """The cost probe's hooks reach every network of the method (and their engines' locks): the
    copy that is traced leaves them out."""
    from benchmark.run.measure import CallRecorder

    m = make_method("gan")
    m.setup("cpu")
    engine.attach(m, choice(tmp_path), pytest.fail)
    frame = smooth_image(72, 96, seed=5)
    with CallRecorder(engine.networks_of(m)) as rec:
        m.process([frame], Context(device="cpu"))
    assert rec.calls and rec.macs() > 0


def test_a_base_method_is_bound_with_its_method_and_reduced_precision_runs_under_autocast(tmp_path):
    m = make_method("tsmooth:base=fast-srgan")
    before = m.base.version
    engine.settle(m, engine.EngineChoice("eager", "bf16"))
    assert m.base.engine == m.engine and m.base.version == f"{before}+eager-bf16"
    half = make_method("fast-srgan")
    half.setup("cpu")
    frame = smooth_image(40, 56, seed=6)
    ctx = Context(scale=2, device="cpu")
    full = half.process([frame], ctx)[0]
    assert engine.attach(half, engine.EngineChoice("eager", "bf16")) == 1
    low = half.process([frame], ctx)[0]
    diff = np.abs(full.astype(int) - low.astype(int))
    assert 0 < diff.max() <= 16  # bf16 is not f32: close, never equal everywhere


@needs_openvino
def test_tiled_inference_on_openvino_keeps_few_sizes_compiled(tmp_path):
    frame = smooth_image(100, 140, seed=7)
    ctx = Context(scale=2, device="cpu")
    eager = make_method("fast-srgan:tile=48")
    eager.setup("cpu")
    fast = make_method("fast-srgan:tile=48")
    fast.setup("cpu")
    engine.attach(fast, choice(tmp_path), pytest.fail)
    want = eager.process([frame], ctx)[0]
    for _ in range(2):
        got = fast.process([frame], ctx)[0]
    diff = np.abs(want.astype(int) - got.astype(int))
    assert diff.max() <= 1 and (diff == 0).mean() >= 0.999
    backend = fast.model.forward.backend
    assert set(backend.compiled) <= {(48, 48)} and len(backend.compiled) <= 4  # every tile one size


@needs_openvino
def test_a_network_goes_to_the_engine_once_it_is_worth_it(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "WARM_S", 3600.0)
    x = torch.rand(1, 3, 24, 32)
    net = Doubler(seed=3).eval()
    engine.attach(Holder(net), choice(tmp_path))
    with torch.inference_mode():
        net(x)
    assert net.forward.backend.model is None and net.forward.eager_s > 0  # a short job: never converted
    monkeypatch.setattr(engine, "WARM_S", 0.0)
    with torch.inference_mode():
        net(x)
    assert net.forward.backend.model is not None
    monkeypatch.setattr(engine, "WARM_S", 3600.0)
    again = Doubler(seed=3).eval()  # the same network in another process: on disk, so on the engine at once
    engine.attach(Holder(again), choice(tmp_path))
    with torch.inference_mode():
        again(x)
    assert again.forward.backend.model is not None and again.forward.eager_s == 0
