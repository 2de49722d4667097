"""Multi-frame and frame-recurrent methods fit the Method contract; tsmooth beats its per-frame
twin on the temporal metrics where the twin flickers."""

import numpy as np
import pandas as pd
import pytest
from test_temporal_metrics import clip

from benchmark import registry
from benchmark.api import Context, Method, restore_stream
from benchmark.core.imaging import write_png
from benchmark.run.runner import RunConfig, make_method, run


class WindowMean(Method):
    """Mean of the frame and its window (past 2, future 1), recording every call."""

    name = "window-mean"
    window = (2, 1)

    def __init__(self, **p):
        super().__init__(**p)
        self.calls, self.starts = [], 0

    def start_clip(self, ctx):
        self.starts += 1

    def process(self, frames, ctx):
        before, after = ctx.context
        self.calls.append((len(frames), ctx.context, ctx.first_frame))
        out = []
        for j in range(before, len(frames) - after):
            lo, hi = max(0, j - 2), min(len(frames), j + 2)
            out.append(np.mean([f.astype(np.float64) for f in frames[lo:hi]], axis=0))
        return out


def numbered(n):
    return [np.full((4, 5, 1), 10 * i, np.uint8) for i in range(n)]


def test_windowed_method_gets_its_context_and_the_same_result_at_any_batch_size():
    frames = numbered(7)
    # by hand: frame i averages frames max(0,i-2)..min(6,i+1)
    expected = [np.round(np.mean([10 * k for k in range(max(0, i - 2), min(7, i + 2))])) for i in range(7)]
    for batch in (1, 3, 8):
        m = WindowMean()
        outs = list(restore_stream(m, iter(frames), Context(kind="video"), batch))
        assert [int(o[0, 0, 0]) for o in outs] == expected, batch
        assert m.starts == 1
        first_frames = [c[2] for c in m.calls]
        assert first_frames == list(range(0, 7, batch))
        # context: as much past as exists (up to 2), one future frame except at the end
        for n, (before, after), first in m.calls:
            core = min(batch, 7 - first)
            assert (before, core, after) == (min(2, first), n - before - after, 1 if first + core < 7 else 0)
    m = WindowMean()
    assert len(m.calls) == 0 and list(restore_stream(m, [frames[0]], Context(), 4))[0].shape == (4, 5, 1)
    assert m.calls == [(1, (0, 0), 0)]  # an image: no context


def test_past_context_longer_than_the_batch_is_kept_whole():
    """window (3, 0) at batch 1: frame i sees min(3, i) past frames, the right ones."""

    class Past3(Method):
        name = "past3"
        window = (3, 0)

        def process(self, frames, ctx):
            before, _ = ctx.context
            assert before == min(3, ctx.first_frame)
            assert [int(f[0, 0, 0]) for f in frames] == [
                10 * k for k in range(ctx.first_frame - before, ctx.first_frame + 1)
            ]
            return frames[before:]

    outs = list(restore_stream(Past3(), numbered(7), Context(kind="video"), 1))
    assert [int(o[0, 0, 0]) for o in outs] == [10 * i for i in range(7)]


def test_recurrent_state_is_reset_per_clip_in_bench_run(tmp_path):
    """A frame-recurrent method (running sum of frames) sees every clip from its start, in order."""

    @registry.methods.register("running-sum")
    class RunningSum(Method):
        name = "running-sum"

        def start_clip(self, ctx):
            self.total = None

        def process(self, frames, ctx):
            out = []
            for f in frames:
                self.total = f.astype(np.float64) if self.total is None else self.total + f
                out.append(np.clip(self.total, 0, 255))
            return out

    try:
        for name in ("a", "b"):
            d = tmp_path / "clips" / name
            d.mkdir(parents=True)
            for i in range(5):
                write_png(d / f"{i:08d}.png", np.full((16, 16, 3), 20, np.uint8))
        res = run(
            RunConfig(
                datasets=[str(tmp_path / "clips")],
                methods=["running-sum"],
                metrics=["psnr"],
                batch_size=2,
                out=str(tmp_path / "o"),
            ),
            progress=False,
        )
        assert not res.failures
        frame_rows = res.rows[(res.rows.metric == "psnr") & (res.rows.scope == "frame")]
        for _, g in frame_rows.groupby("item_id"):  # frame 0 is exact in both clips: the sum restarted
            assert g.sort_values("frame").value.tolist()[0] == 100 and g.sort_values("frame").value.tolist()[1] < 100
    finally:
        registry.methods.unregister("running-sum")


@pytest.fixture
def flickering_method():
    """A per-frame method whose error is fresh on every frame (temporal flicker)."""

    @registry.methods.register("flickery")
    class Flickery(Method):
        name = "flickery"

        def process(self, frames, ctx):
            out = []
            for f in frames:
                rng = np.random.default_rng(int(f.astype(np.int64).sum()) % 2**32)
                out.append(np.clip(f + rng.normal(0, 6, f.shape), 0, 255))
            return out

    yield
    registry.methods.unregister("flickery")


def test_tsmooth_ranks_above_its_per_frame_twin_on_temporal_metrics(tmp_path, flickering_method):
    d = tmp_path / "pan"
    d.mkdir()
    for i, f in enumerate(clip(8)):
        write_png(d / f"{i:08d}.png", f)
    res = run(
        RunConfig(
            datasets=[str(d)],
            methods=["flickery", "tsmooth:base=flickery"],
            metrics=["psnr", "tof", "flicker"],
            batch_size=3,
            out=str(tmp_path / "o"),
        ),
        progress=False,
    )
    assert not res.failures
    clip_rows = res.rows[res.rows.scope == "clip"].pivot_table(index="method", columns="metric", values="value")
    twin, smooth = clip_rows.loc["flickery"], clip_rows.loc["tsmooth:base=flickery"]
    assert smooth["flicker"] < 0.75 * twin["flicker"]
    assert smooth["tof"] < twin["tof"]
    assert smooth["psnr"] > twin["psnr"]  # averaging aligned frames also removes the independent error
    # the pan is tracked: smoothing the reference itself changes it little (no ghosting)
    m = make_method("tsmooth")
    frames = clip(6)
    outs = list(restore_stream(m, frames, Context(kind="video"), 4))
    err = [np.abs(o.astype(float) - f)[8:-8, 8:-8].mean() for o, f in zip(outs, frames)]
    assert max(err) < 1.5


def test_tsmooth_reads_its_bases_cached_output_instead_of_running_it_again(tmp_path, flickering_method):
    """``flickery`` then ``tsmooth:base=flickery`` in one run: tsmooth takes the base's frames
    from the cache (the base runs once), with the same rows as a run of tsmooth alone, and its
    time includes the base's measured time for those frames."""
    d = tmp_path / "pan"
    d.mkdir()
    for i, f in enumerate(clip(7)):
        write_png(d / f"{i:08d}.png", f)
    calls = []
    cls = registry.methods.get("flickery")
    real = cls.process
    cls.process = lambda self, frames, ctx: calls.append(len(frames)) or real(self, frames, ctx)
    try:
        both = run(
            RunConfig(
                datasets=[str(d)],
                methods=["flickery", "tsmooth:base=flickery"],
                metrics=["psnr", "tof", "fps"],
                batch_size=3,
                out=str(tmp_path / "a"),
                cache_dir=str(tmp_path / "ca"),
            ),
            progress=False,
        )
        assert sum(calls) == 7  # the base ran once, in its own unit
        calls.clear()
        alone = run(
            RunConfig(
                datasets=[str(d)],
                methods=["tsmooth:base=flickery"],
                metrics=["psnr", "tof", "fps"],
                batch_size=3,
                out=str(tmp_path / "b"),
                cache_dir=str(tmp_path / "cb"),
            ),
            progress=False,
        )
        assert sum(calls) == 7  # here tsmooth ran it
    finally:
        cls.process = real
    pick = ["item_id", "frame", "scope", "metric", "value"]

    def rows(r):
        return r.rows[(r.rows.method == "tsmooth:base=flickery") & (r.rows.metric != "fps")][pick].reset_index(
            drop=True
        )

    pd.testing.assert_frame_equal(rows(both), rows(alone))
    fps = both.rows[(both.rows.metric == "fps") & (both.rows.scope == "clip")].set_index("method").value
    assert fps["tsmooth:base=flickery"] < fps["flickery"]  # its time holds the base's


def test_tsmooth_upscales_with_an_sr_base_and_checks_its_settings():
    frames = [f[::2, ::2] for f in clip(4)]
    m = make_method("tsmooth:base=bicubic")
    outs = list(restore_stream(m, frames, Context(kind="video", scale=2), 2))
    assert [o.shape for o in outs] == [(96, 128, 3)] * 4
    assert m.identity()["base"]["name"] == "bicubic"
    with pytest.raises(Exception, match="radius"):
        make_method("tsmooth:radius=0")
    with pytest.raises(Exception, match="guide must be auto, input or output"):
        make_method("tsmooth:guide=flow")
    with pytest.raises(Exception, match="flow must be dis or farneback, got 'raft'"):
        make_method("tsmooth:flow=raft")
    with pytest.raises(Exception, match="layer must be auto, all or detail"):
        make_method("tsmooth:layer=edges")
    labels = {
        m: make_method(m).identity()["params"] for m in ("tsmooth", "tsmooth:flow=farneback", "tsmooth:layer=detail")
    }
    assert "flow" not in labels["tsmooth"] and "layer" not in labels["tsmooth"]  # defaults stay out of the identity
    assert (
        labels["tsmooth:flow=farneback"]["flow"] == "farneback" and labels["tsmooth:layer=detail"]["layer"] == "detail"
    )
    with pytest.raises(Exception, match="unknown method|no method|not-a-method"):
        make_method("tsmooth:base=not-a-method")


def test_tsmooth_on_a_flickering_upscaler_is_guided_by_its_outputs(tmp_path):
    """x2: the flow comes from the base outputs (guide=auto), and the smoothed twin flickers less."""

    @registry.methods.register("flickery-x2")
    class FlickeryX2(Method):
        name = "flickery-x2"
        scale = 2

        def process(self, frames, ctx):
            import cv2

            out = []
            for f in frames:
                rng = np.random.default_rng(int(f.astype(np.int64).sum()) % 2**32)
                up = cv2.resize(f, (f.shape[1] * 2, f.shape[0] * 2), interpolation=cv2.INTER_CUBIC).astype(np.float64)
                out.append(np.clip(up + rng.normal(0, 6, up.shape), 0, 255))
            return out

    try:
        d = tmp_path / "pan"
        d.mkdir()
        for i, f in enumerate(clip(8)):
            write_png(d / f"{i:08d}.png", f)
        methods = ["flickery-x2", "tsmooth:base=flickery-x2", "tsmooth:base=flickery-x2:guide=output"]
        res = run(
            RunConfig(
                datasets=[f"{d}@x2"],
                methods=methods,
                metrics=["psnr", "tof", "flicker"],
                batch_size=3,
                out=str(tmp_path / "o"),
            ),
            progress=False,
        )
        assert not res.failures
        rows = res.rows[res.rows.scope == "clip"].pivot_table(index="method", columns="metric", values="value")
        twin, auto, output = rows.loc[methods[0]], rows.loc[methods[1]], rows.loc[methods[2]]
        assert auto.to_dict() == output.to_dict()  # auto is output-guided when the size changes
        assert auto["flicker"] < 0.75 * twin["flicker"] and auto["tof"] < twin["tof"] and auto["psnr"] > twin["psnr"]
        assert (
            make_method("tsmooth:base=flickery-x2:guide=output").identity()
            != make_method("tsmooth:base=flickery-x2").identity()
        )
    finally:
        registry.methods.unregister("flickery-x2")


@pytest.fixture
def cubic_x2():
    """An x2 upscaler that is exactly OpenCV's bicubic: it has no detail over the bicubic layer."""

    @registry.methods.register("cubic-x2")
    class CubicX2(Method):
        name = "cubic-x2"
        scale = 2

        def process(self, frames, ctx):
            import cv2

            return [
                cv2.resize(f.astype(np.float32), (f.shape[1] * 2, f.shape[0] * 2), interpolation=cv2.INTER_CUBIC)
                for f in frames
            ]

    yield
    registry.methods.unregister("cubic-x2")


def test_tsmooth_averages_only_the_detail_when_the_size_changes(cubic_x2):
    """layer=auto is detail at x2: a base with no detail over bicubic comes out as it went in, whatever
    the flow does; averaging whole frames (layer=all) moves it, and at x1 auto averages whole frames."""
    frames = [f[::2, ::2] for f in clip(6)]
    ctx = Context(kind="video", scale=2)
    base = [o.astype(np.float64) for o in restore_stream(make_method("cubic-x2"), frames, ctx, 3)]
    smoothed = {
        layer: [
            o.astype(np.float64)
            for o in restore_stream(make_method(f"tsmooth:base=cubic-x2:layer={layer}"), frames, ctx, 3)
        ]
        for layer in ("auto", "detail", "all")
    }
    for a, b in zip(smoothed["auto"], smoothed["detail"]):
        np.testing.assert_array_equal(a, b)
    err = {layer: [np.abs(o - b) for o, b in zip(smoothed[layer], base)] for layer in ("detail", "all")}
    assert max(e.max() for e in err["detail"]) <= 1.0  # the base's rounding to 8 bits is all there is to average
    assert np.mean([e.mean() for e in err["all"]]) > 5 * np.mean(
        [e.mean() for e in err["detail"]]
    )  # the flow's errors reach whole frames
    same = clip(5)
    x1 = {
        layer: list(restore_stream(make_method(f"tsmooth:layer={layer}"), same, Context(kind="video"), 3))
        for layer in ("auto", "all")
    }
    for a, b in zip(x1["auto"], x1["all"]):
        np.testing.assert_array_equal(a, b)
