"""What a method costs (issue 35): params, MACs, peak memory and latency rows in every run."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from benchmark import registry
from benchmark.api import Context, Method
from benchmark.metrics.cost import COST_METRICS, NOT_APPLICABLE
from benchmark.run.cache import Cache
from benchmark.run.measure import CallRecorder, PeakMemory, cost_enabled, count_params, networks, uncounted
from benchmark.run.runner import RunConfig, run
from benchmark.run.stages.cost import CostProbe, cost_rows

COST = [m.name for m in COST_METRICS]


class TinyNet(nn.Module):
    """Two 3x3 convolutions around a batch norm: 3*8*9 + 8*3*9 = 432 MACs per pixel; 459 parameters."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)  # 16 parameters; its running statistics are buffers, not counted
        self.b = nn.Conv2d(8, 3, 3, padding=1)

    def forward(self, x):
        return self.b(torch.relu(self.bn(self.a(x))))


TINY_PARAMS = 3 * 8 * 9 + 8 + 16 + 8 * 3 * 9 + 3
TINY_MACS_PER_PIXEL = 3 * 8 * 9 + 8 * 3 * 9


@pytest.fixture
def tiny_method():
    calls: list = []

    @registry.methods.register("tinynet")
    class TinyNetMethod(Method):
        name = "tinynet"
        version = "1"

        def setup(self, device):
            torch.manual_seed(0)
            self.net = TinyNet().eval()

        def network(self):
            return self.net

        def start_clip(self, ctx):
            calls.append("start")

        def process(self, frames, ctx):
            calls.append(len(frames))
            with torch.inference_mode():
                self.net(torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255)
            return [255 - f for f in frames]

    yield calls
    registry.methods.unregister("tinynet")


def cost_of(df: pd.DataFrame, method: str) -> pd.DataFrame:
    return df[(df.method == method) & df.metric.isin(COST)].set_index("metric")


# ----------------------------------------------------------------------------- counting
def test_params_count_parameters_once_and_never_buffers():
    net = TinyNet()
    shared = nn.Sequential(net, nn.Sequential(net.a))  # net.a reached twice: counted once
    assert count_params([net]) == TINY_PARAMS == count_params([shared, net])
    assert sum(b.numel() for b in net.buffers()) > 0  # the batch-norm statistics exist, and are left out


def test_macs_of_a_hand_built_net_equal_the_analytic_count():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.Flatten(), nn.Linear(4 * 16 * 16, 10))
    with CallRecorder([net]) as rec, torch.inference_mode():
        net(torch.zeros(1, 3, 32, 32))
        net(torch.zeros(1, 3, 32, 32))  # the same call twice: replayed once, counted twice
        with uncounted():  # one-time work (a tiling probe) is not the frame's
            net(torch.zeros(1, 3, 32, 32))
    analytic = 4 * 3 * 3 * 3 * 16 * 16 + 4 * 16 * 16 * 10
    assert len(rec.calls) == 1 and rec.macs() == pytest.approx(2 * analytic, rel=1e-9)


def test_only_the_outermost_call_counts_when_a_network_and_its_part_are_both_named():
    net = TinyNet()
    with CallRecorder([net, net.a]) as rec, torch.inference_mode():
        net(torch.zeros(1, 3, 8, 8))
    assert rec.macs() == TINY_MACS_PER_PIXEL * 64


def test_peak_memory_on_the_cpu_sees_a_numpy_allocation():
    with PeakMemory("cpu") as mem:
        a = np.ones(64 * 2**20 // 8)
        del a
    assert 60 * 2**20 < mem.peak_bytes < 160 * 2**20 and "RSS" in mem.how


def test_cost_is_on_by_default_and_turned_off_by_the_option_or_the_variable(monkeypatch):
    monkeypatch.delenv("BENCH_COST", raising=False)
    assert cost_enabled() and cost_enabled(None) and not cost_enabled(False)
    monkeypatch.setenv("BENCH_COST", "off")
    assert not cost_enabled() and cost_enabled(True)


def test_network_hook_defaults_to_none_and_a_wrong_type_is_refused():
    assert Method().network() is None and networks(Method()) == []

    class Bad(Method):
        def network(self):
            return "a string"

    with pytest.raises(TypeError, match="torch.nn.Module"):
        networks(Bad())


# ----------------------------------------------------------------------------- in a run
def test_image_run_records_cost_rows_without_an_extra_call(image_folder, tmp_path, tiny_method):
    cfg = dict(
        methods=["identity", "tinynet"],
        datasets=[f"{image_folder}@qf20"],
        metrics=["psnr"],
        cost=True,
        cache_dir=str(tmp_path / "c"),
    )
    df = run(RunConfig(**cfg, out=str(tmp_path / "a")), progress=False).rows
    assert [c for c in tiny_method if c != "start"] == [
        1,
        1,
        1,
        1,
    ]  # a warm-up on a corner, then each image once, measured in its own call
    tiny = cost_of(df, "tinynet")
    assert (
        list(tiny.index) == COST
        and (tiny.status == "ok").all()
        and (tiny.scope == "dataset").all()
        and (tiny.item_id == "*").all()
    )
    pixels = [48 * 64, 40 * 56, 64 * 64]
    assert tiny.loc["params", "value"] == TINY_PARAMS
    assert tiny.loc["macs", "value"] == pytest.approx(TINY_MACS_PER_PIXEL * np.mean(pixels), rel=1e-9)
    assert tiny.loc["macs-per-mp", "value"] == pytest.approx(TINY_MACS_PER_PIXEL * 1e6, rel=1e-9)
    assert tiny.loc["peak-mem", "value"] > 0 and tiny.loc["peak-mem", "unit"] == "MiB@cpu"
    assert (
        0 < tiny.loc["latency-p50", "value"] <= tiny.loc["latency-p95", "value"]
        and tiny.loc["latency-p95", "unit"] == "ms@cpu"
    )
    ident = cost_of(df, "identity")  # a pass-through without a network: every figure is not applicable, with its reason
    assert (ident.status == NOT_APPLICABLE).all() and ident["value"].isna().all()
    assert "no network" in ident.loc["params", "error"] and "pass-through" in ident.loc["latency-p50", "error"]
    csv = pd.read_csv(tmp_path / "a" / "scores.csv")
    assert (
        csv[csv.method == "identity"].query("metric in @COST").status == NOT_APPLICABLE
    ).all()  # not read back as NaN

    again = run(RunConfig(**cfg, out=str(tmp_path / "b")), progress=False).rows  # all cached: nothing runs
    assert [c for c in tiny_method if c != "start"] == [1, 1, 1, 1]
    cols = ["value", "unit", "status"]
    pd.testing.assert_frame_equal(cost_of(again, "tinynet")[cols], tiny[cols])

    off = run(RunConfig(**{**cfg, "cost": False}, out=str(tmp_path / "off")), progress=False).rows
    assert not off.metric.isin(COST).any()


def test_clip_costs_one_extra_call_on_its_first_frame_and_outputs_are_unchanged(frame_folder, tmp_path, tiny_method):
    cfg = dict(methods=["tinynet"], datasets=[f"{frame_folder}@crf30"], metrics=["psnr"], batch_size=4)
    off = run(
        RunConfig(**cfg, cost=False, out=str(tmp_path / "off"), cache_dir=str(tmp_path / "c0")), progress=False
    ).rows
    tiny_method.clear()
    df = run(RunConfig(**cfg, cost=True, out=str(tmp_path / "on"), cache_dir=str(tmp_path / "c1")), progress=False).rows
    # a warm-up on a corner, the probe on the first frame alone (clip state reset around each), then the stream
    assert tiny_method == ["start", 1, "start", "start", 1, "start", "start", 4, 2]
    psnr = ["item_id", "frame", "scope", "value"]
    pd.testing.assert_frame_equal(
        df[df.metric == "psnr"][psnr].reset_index(drop=True), off[off.metric == "psnr"][psnr].reset_index(drop=True)
    )
    tiny = cost_of(df, "tinynet")
    assert (tiny.status == "ok").all() and tiny.loc["macs", "value"] == TINY_MACS_PER_PIXEL * 64 * 80


def test_a_broken_network_hook_is_an_error_row_and_the_scores_stand(image_folder, tmp_path):
    @registry.methods.register("badhook")
    class BadHook(Method):
        name = "badhook"

        def network(self):
            return 42

        def process(self, frames, ctx):
            return frames

    try:
        df = run(
            RunConfig(
                methods=["badhook"],
                datasets=[f"{image_folder}@qf20"],
                metrics=["psnr"],
                cost=True,
                out=str(tmp_path / "o"),
            ),
            progress=False,
        ).rows
    finally:
        registry.methods.unregister("badhook")
    assert (df[df.metric == "psnr"].status == "ok").all()
    rows = cost_of(df, "badhook")
    assert rows.loc["params", "status"] == "error" and "network(): TypeError" in rows.loc["params", "error"]
    assert rows.loc["latency-p50", "status"] == "ok"  # the time is measured all the same


# ----------------------------------------------------------------------------- a data set's rows
def test_rows_weight_sizes_by_frames_and_take_the_largest_peak():
    from benchmark.core.names import resolve

    spec = resolve("photos-qf20", None)
    m = Method()
    m.name = "m"

    def rec(frames, pixels, macs, peak, lat):
        probe = {"network": True, "params": 7, "macs": macs, "peak_bytes": peak, "device": "cpu", "memory": "rss"}
        return {
            "frames": frames,
            "out_pixels": pixels,
            "latency_ms": lat,
            "latency_device": "cpu",
            "passthrough": False,
            "probe": probe,
        }

    rows = cost_rows(
        spec,
        [m],
        "r",
        [("m", rec(1, 100, 1000.0, 2**20, [1.0])), ("m", rec(3, 200, 3000.0, 3 * 2**20, [2.0, 3.0, 4.0])), ("m", None)],
    )
    got = {r["metric"]: r["value"] for r in rows}
    assert got["params"] == 7 and got["macs"] == pytest.approx((1000 + 3 * 3000) / 4)
    assert got["macs-per-mp"] == pytest.approx(1e6 * (1000 + 9000) / (100 + 600)) and got["peak-mem"] == 3.0
    assert got["latency-p50"] == pytest.approx(2.5) and got["latency-p95"] == pytest.approx(
        np.percentile([1, 2, 3, 4], 95)
    )
    failed = cost_rows(spec, [m], "r", [("m", None)])
    assert {r["status"] for r in failed} == {"error"}


# ----------------------------------------------------------------------------- the targets
def test_dncnn_params_and_macs_on_a_256x256_gray_frame(data_root, tmp_path):
    """The published DnCNN-S: params = the elements of its state dict's tensors (weights and
    biases: batch norm merged); MACs = sum over its convolutions of out x in x 3 x 3 x 256^2."""
    from benchmark.core.names import resolve
    from benchmark.methods.adapters.published import read_state_dict
    from benchmark.run.resolve import make_method

    weights = Path(data_root).parent / "weights" / "published" / "dncnn_25.pth"
    if not weights.is_file():
        pytest.skip("the published DnCNN weights are not here")
    sd = read_state_dict(weights)
    convs = [t for k, t in sd.items() if k.endswith("weight") and t.ndim == 4]
    analytic = sum(o * i * kh * kw for o, i, kh, kw in (tuple(t.shape) for t in convs)) * 256 * 256
    method = make_method(str(weights))
    method.setup("cpu")
    probe = CostProbe(Cache(tmp_path), method, resolve("set12-noise25", data_root), Context(), "cpu")
    frame = np.random.default_rng(0).integers(0, 256, (256, 256, 1), dtype=np.uint8)
    probe._cached(frame)
    probe.alone(frame)
    assert probe.values["params"] == sum(t.numel() for t in sd.values()) == 555_137
    assert probe.values["macs"] == pytest.approx(analytic, rel=0.01)


@pytest.mark.parametrize("name", ["srresnet", "srgan", "fast-srgan", "videoboost", "pix2pix", "gan", "ssim"])
def test_shipped_models_params_equal_their_cards(name):
    from benchmark.run.resolve import make_method

    method = make_method(name)
    method.setup("cpu")
    if name in ("gan", "ssim"):  # the six per-QF generators and the QF predictor
        card = sum(c["parameters"] for c in method.cards.values())  # their cards, the predictor's among them
    else:
        card = method.card["parameters"]
    assert count_params(networks(method)) == card


def test_shipped_listing_counts_each_card_and_its_macs():
    from benchmark.files.modelcost import network_macs, shipped

    listed = {e["name"]: e for e in shipped()}
    assert listed["srgan"]["params"] == listed["srgan"]["card_params"] == 247_139
    assert all(e.get("params") == e["card_params"] for e in listed.values()), [
        e for e in listed.values() if e.get("params") != e["card_params"]
    ]
    net = nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), nn.ReLU(), nn.Conv2d(5, 3, 1))
    assert network_macs(net, 3, 16) == (3 * 5 * 9 + 5 * 3) * 16 * 16


def test_bench_models_shows_params_and_gmacs_of_a_file_on_disk(data_root, tmp_path, monkeypatch):
    import shutil

    from typer.testing import CliRunner

    from benchmark.cli import app
    from benchmark.files import zoo

    weights = Path(data_root).parent / "weights" / "published" / "dncnn_25.pth"
    if not weights.is_file():
        pytest.skip("the published DnCNN weights are not here")
    monkeypatch.setenv("BENCH_MODELS_DIR", str(tmp_path))
    shutil.copy(
        weights, tmp_path / zoo.get("drunet-color").filename
    )  # any model file under a zoo name is counted as it is
    out = CliRunner().invoke(app, ["models"], env={"COLUMNS": "200"}).output
    assert "555,137 params, 36.31 GMACs at 256x256" in out and "fetch the file to count" in out
    assert "247,139 params, 31.01 GMACs at 256x256" in out  # the shipped srgan generator


def test_cost_table_and_pareto_front_read_the_rows():
    from benchmark.reports.costs import cost_table, is_cost, pareto_front, quality_vs_cost

    def row(method, metric, value, scope="dataset", status="ok", unit="", error=None, hib=False):
        return {
            "dataset": "d",
            "method": method,
            "metric": metric,
            "value": value,
            "scope": scope,
            "status": status,
            "unit": unit,
            "error": error,
            "higher_is_better": hib,
            "item_id": "*" if scope == "dataset" else "i",
        }

    na = dict(status=NOT_APPLICABLE, error="no network: x")
    df = pd.DataFrame(
        [
            row("a", "psnr", 30.0, "image", hib=True),
            row("b", "psnr", 31.0, "image", hib=True),
            row("c", "psnr", 29.0, "image", hib=True),
            row("a", "macs", 2e9, unit="MACs"),
            row("b", "macs", 8e9, unit="MACs"),
            row("c", "macs", 4e9, unit="MACs"),
            row("a", "peak-mem", 10.0, unit="MiB@cpu"),
            row("n", "params", np.nan, **na),
        ]
    )
    assert is_cost(df).sum() == 5
    t = cost_table(df).set_index("method")
    assert t.loc["a", "GMACs/frame"] == 2.0 and t.loc["a", "peak MiB"] == 10.0 and t.loc["a", "device"] == "cpu"
    assert np.isnan(t.loc["n", "params"]) and "params: no network: x" in t.loc["n", "notes"]
    q = quality_vs_cost(df, "psnr", "macs").set_index("method")
    assert q["pareto"].to_dict() == {"a": True, "b": True, "c": False}  # c: worse and dearer than a
    assert pareto_front(pd.Series([1.0, 1.0]), pd.Series([1.0, np.nan])).tolist() == [True, False]
