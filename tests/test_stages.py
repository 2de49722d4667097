"""The run's parts one at a time, without a run: cache keys, each stage over a Cache, the
rows, the plan and the run folder's lock (the end-to-end runs are in test_runner.py)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark import registry
from benchmark.api import Context, Item, Method, Metric, digest
from benchmark.core.names import Specs, resolve
from benchmark.errors import BenchError
from benchmark.run.cache import Cache
from benchmark.run.config import RunConfig
from benchmark.run.keys import crop_border, keys, output_key, score_key, unit_key
from benchmark.run.plan import limit_pixels, make_plan, select
from benchmark.run.resolve import make_method, resolve_run
from benchmark.run.rundir import RunFolder, run_config
from benchmark.run.stages import degrade, degraded_frames, reference, restore, score
from benchmark.run.stages.corpus import collect, gain_rows
from benchmark.run.stages.rows import base_row, error_rows, score_rows

from conftest import smooth_image


def _item(frames: list[np.ndarray], item_id: str = "a", kind: str = "image") -> Item:
    return Item(item_id, kind, lambda: iter(frames), lambda: digest("test", item_id, len(frames)))


def test_cache_keys_are_those_of_earlier_versions():
    """Entries made before the runner was taken apart still hit: the keys, pinned from 8785d63."""
    spec = resolve("clips-x2", None, Specs.load([]))
    ref, deg, out = keys(spec, "fp-123", make_method("bicubic"), 0)
    assert ref == "e74cd723097d051be522bb8b70db98a9d2557e56d93c98bcec6cd75460d71702"
    assert deg == "047eba3ff53f5151298f045cec7facc52576a6f009ac7869cbdeae2c9fea7122"
    assert out == "7c5fd8ac99b8c1469640662ba64830b4f5b4d7759bba8ee36e811e60a930a861"
    assert (
        keys(spec, "fp-123", make_method("identity"), 0)[2]
        == "7e7731b36d57750f54c034793651575225ec5d8d43e1911be90f6d6b81096c2d"
    )
    psnr = registry.metrics.get("psnr")()
    assert score_key(psnr, out, ref, 2) == "20d62e5e1c7e624af788983b86f75678827a546af2d544dae7a8081894da9a91"
    assert (
        unit_key(spec, "carphone", "fp-123", make_method("bicubic"), [psnr], None, 0)
        == "2c722d6612639ce486dbfdc018fdff09ac4dcfb6f9f06499a4af284f07dc1c42"
    )


def test_identity_at_scale_1_passes_its_input_through(tmp_path):
    spec = resolve(f"{tmp_path}@qf20", None, Specs.load([]))
    ident, bic = make_method("identity"), make_method("bicubic")
    _, deg, out = keys(spec, "fp", ident, 0)
    assert out == deg and output_key(bic, spec, deg, 0) != deg
    assert crop_border(None, spec) == 0 and crop_border(3, spec) == 3


def test_reference_crops_to_the_scale_grid_and_is_cached(tmp_path):
    cache = Cache(tmp_path / "c")
    spec = resolve(f"{tmp_path}@x4", None, Specs.load([]))
    item = _item([smooth_image(50, 63)])
    key, frames = reference(cache, spec, item)
    assert [f.shape for f in frames()] == [(48, 60, 3)] and cache.has_frames(key)
    at1 = resolve(f"{tmp_path}@qf20", None, Specs.load([]))
    key1, frames1 = reference(cache, at1, item)
    assert not cache.has_frames(key1) and next(frames1()).shape == (50, 63, 3)  # the item's own frames


def test_degrade_is_cached_with_the_codec_info(tmp_path):
    cache = Cache(tmp_path / "c")
    spec = resolve(f"{tmp_path}@qf10", None, Specs.load([]))
    img = smooth_image(32, 40)
    item = _item([img])
    ref_key, ref_frames = reference(cache, spec, item)
    ticks = []
    key, info = degrade(cache, spec, item, ref_key, ref_frames, lambda: ticks.append(1))
    assert key != ref_key and info["bpp"] > 0 and ticks == [1]
    again, info2 = degrade(cache, spec, item, ref_key, lambda: pytest.fail("reference read again"))
    assert again == key and info2 == info
    out = next(degraded_frames(cache, key, ref_key, ref_frames))
    assert out.shape == img.shape and not np.array_equal(out, img)


class _Halve(Method):
    name = "halve"
    version = "1"

    def process(self, frames, ctx):
        return [f // 2 for f in frames]


def test_restore_computes_once_and_readies_the_method_once(tmp_path):
    cache = Cache(tmp_path / "c")
    spec = resolve(f"{tmp_path}@qf20", None, Specs.load([]))
    m = _Halve()
    ready = []
    ctx = Context(scale=1, degradation="qf20", item_id="a", kind="image", fps=None, device="cpu", seed=0)
    frame = smooth_image(16, 16)
    key, meta, computed = restore(cache, m, spec, ctx, "deg", iter([frame]), 8, lambda: None, ready.append)
    assert computed and ready == [m] and meta["frames"] == 1
    assert np.array_equal(next(cache.read_frames(key)), frame // 2)
    key2, _, computed2 = restore(cache, m, spec, ctx, "deg", iter([frame]), 8, lambda: None, ready.append)
    assert key2 == key and not computed2 and ready == [m]


class _Fails(Metric):
    name = "fails"
    version = "1"
    kind = "fr"

    def score(self, out, ref, crop_border):
        return float("nan")


def test_score_caches_values_and_makes_a_nan_an_error(tmp_path):
    cache = Cache(tmp_path / "c")
    frame = smooth_image(16, 16)
    with cache.writer("out") as w:
        w.add(frame // 2)
    psnr = registry.metrics.get("psnr")()
    scores, computed = score(cache, [psnr, _Fails()], "out", "ref", lambda: iter([frame]), 0)
    assert computed and scores["fails"] == (None, "frame 0: ValueError: metric returned NaN")
    ((values, err),) = [scores["psnr"]]
    assert err is None and len(values) == 1 and 0 < values[0] < 100
    cached, computed = score(cache, [psnr], "out", "ref", lambda: pytest.fail("reference read again"), 0)
    assert not computed and cached["psnr"] == (values, None)
    with pytest.raises(ValueError, match="frame count"):
        score(cache, [_Fails()], "out", "ref", lambda: iter([frame, frame]), 0)


def test_a_cached_100_db_from_before_the_empty_crop_check_is_scored_again(tmp_path):
    cache = Cache(tmp_path / "c")
    tiny = smooth_image(5, 7)
    with cache.writer("out") as w:
        w.add(tiny)
    psnr = registry.metrics.get("psnr")()
    key = score_key(psnr, "out", "ref", 4)
    cache.put_json(
        key, {"values": [100.0], "metric": psnr.identity()}
    )  # as the old code cached a score over zero pixels
    scores, computed = score(cache, [psnr], "out", "ref", lambda: iter([tiny]), 4)
    assert computed and scores["psnr"][0] is None and "nothing left to score" in scores["psnr"][1]
    lossless = smooth_image(16, 16)  # an honest 100 dB (output = reference) is computed again once, then kept
    with cache.writer("same") as w:
        w.add(lossless)
    cache.put_json(score_key(psnr, "same", "ref", 0), {"values": [100.0], "metric": psnr.identity()})
    scores, computed = score(cache, [psnr], "same", "ref", lambda: iter([lossless]), 0)
    assert computed and scores["psnr"] == ([100.0], None)
    _, computed = score(cache, [psnr], "same", "ref", lambda: pytest.fail("scored again"), 0)
    assert not computed


def test_rows_of_a_clip_per_frame_and_per_clip_and_error_rows(tmp_path):
    spec = resolve(f"{tmp_path}@crf30", None, Specs.load([]))
    clip = _item([smooth_image(8, 8)] * 3, "clip", kind="video")
    psnr, fps = registry.metrics.get("psnr")(), registry.metrics.get("fps")()
    base = base_row("r1", spec, clip, 0, {"bpp": 0.5})
    rows, failures = score_rows(base, spec, clip, _Halve(), [psnr, fps], {"psnr": ([30.0, 31.0, 32.0], None)}, 3, 0.5)
    assert [(r["metric"], r["scope"], r["frame"], r["value"]) for r in rows] == [
        ("psnr", "frame", 0, 30.0),
        ("psnr", "frame", 1, 31.0),
        ("psnr", "frame", 2, 32.0),
        ("psnr", "clip", -1, 31.0),
        ("fps", "clip", -1, 6.0),
    ]
    assert not failures and all(r["bpp"] == 0.5 and r["elapsed_s"] == 0.5 for r in rows)
    rows, failures = error_rows(base, spec, clip, _Halve(), [psnr], "method", RuntimeError("boom"))
    assert rows[0]["status"] == "error" and rows[0]["error"] == "method: RuntimeError: boom"
    assert failures == [f"{spec.name} / clip / halve: method: RuntimeError: boom"]


def test_gain_rows_subtract_identity():
    from benchmark.run.results import make_row, no_values

    rows = [
        make_row(
            **no_values(
                run_id="r",
                dataset="d",
                base="d",
                degradation="qf10",
                item_id="*",
                frame=-1,
                scope="dataset",
                method=m,
                method_version="1",
                metric="voc-ap50/dog",
                metric_version="1",
                value=v,
                higher_is_better=True,
                unit="",
                crop_border=0,
                status="ok",
                error=None,
            )
        )
        for m, v in (("identity", 0.5), ("gan", 0.7))
    ]
    (g,) = gain_rows(rows)
    assert g["metric"] == "voc-ap50-gain/dog" and g["method"] == "gan" and g["value"] == pytest.approx(0.2)
    slots = collect(
        [
            (_item([], "x"), "gan", {"map": {"output": "o", "reference": "r"}}),
            (_item([], "y"), "gan", {"map": {"error": "y: bad"}}),
        ]
    )
    assert slots[("gan", "map")] == {"items": [("x", {}, "o", "r")], "errors": ["y: bad"]}


def test_plan_is_pure_and_keyed_by_content(image_folder):
    cfg = RunConfig(methods=["identity", "bicubic"], datasets=[f"{image_folder}@x2"], metrics=["psnr"])
    resolved = resolve_run(cfg, None, Specs.load([]))
    plan = make_plan(resolved, cfg, 0)
    assert [(u.item_id, u.method) for u in plan.units] == [
        (i, m) for i in ("img0", "img1", "img2") for m in ("identity", "bicubic")
    ]
    assert plan.units[0].pixels == 64 * 48 and len({u.key for u in plan.units}) == 6
    again = make_plan(resolve_run(cfg, None, Specs.load([])), cfg, 0)
    assert [u.key for u in again.units] == [u.key for u in plan.units]
    with pytest.raises(BenchError, match="no item named nope"):
        list(select(resolved.specs[0], ["nope"]))
    big = limit_pixels(plan.item(plan.units[0]), 100)
    with pytest.raises(ValueError, match="--max-pixels"):
        list(big.frames())


def test_run_folder_lock_refuses_a_second_run_and_dies_with_its_holder(tmp_path):
    cfg = RunConfig(methods=["identity"], datasets=[f"{tmp_path}@qf20"], out=str(tmp_path / "o"))
    _, d = run_config(cfg, resolve_run(cfg, None, Specs.load([])))
    first = RunFolder.open(cfg, d)
    with pytest.raises(BenchError, match=r"in use by another bench run \(pid \d+"):
        RunFolder.open(cfg, d)
    first.unlock()
    second = RunFolder.open(cfg, d)  # free again
    second._lock.close()  # as a killed process's would be: the kernel drops the lock
    RunFolder.open(cfg, d).unlock()
