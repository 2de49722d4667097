"""benchmark.run.plan: the plan on its own: units in order and content-addressed, item selection,
the per-frame pixel limit, the dry run's estimate from earlier costs."""

from __future__ import annotations

import pytest

from benchmark.api import Item
from benchmark.core.names import Specs
from benchmark.errors import BenchError
from benchmark.run.config import RunConfig
from benchmark.run.plan import estimate_seconds, limit_pixels, make_plan, select
from benchmark.run.resolve import make_method, resolve_run
from benchmark.run.unit import Unit

from conftest import smooth_image


def _plan(cfg: RunConfig):
    resolved = resolve_run(cfg, None, Specs.load([]))
    return resolved, make_plan(resolved, cfg, 0)


def test_units_are_items_times_methods_in_order_with_their_sizes(image_folder):
    cfg = RunConfig(methods=["identity", "bicubic"], datasets=[f"{image_folder}@x2"], metrics=["psnr"])
    _, plan = _plan(cfg)
    assert [(u.item_id, u.method) for u in plan.units] == [
        (i, m) for i in ("img0", "img1", "img2") for m in ("identity", "bicubic")
    ]
    assert plan.units[0].pixels == 48 * 64 and plan.units[0].frames == 1
    assert len({u.key for u in plan.units}) == 6 and plan.item(plan.units[2]).item_id == "img1"
    _, again = _plan(cfg)
    assert [u.key for u in again.units] == [u.key for u in plan.units]  # pure: the same plan twice


def test_limit_and_items_select_and_an_unknown_item_is_an_error(image_folder):
    cfg = RunConfig(methods=["identity"], datasets=[f"{image_folder}@qf20"], metrics=["psnr"])
    assert [u.item_id for u in _plan(RunConfig(**{**cfg.__dict__, "limit": 2}))[1].units] == ["img0", "img1"]
    resolved, _ = _plan(cfg)
    assert [i.item_id for i in select(resolved.specs[0], ["img2"])] == ["img2"]
    with pytest.raises(BenchError, match="no item named nope"):
        list(select(resolved.specs[0], ["nope"]))


def test_a_frame_above_the_pixel_limit_raises_naming_the_way_out():
    item = Item("big", "video", lambda: iter([smooth_image(20, 30), smooth_image(40, 60)]), lambda: "fp")
    frames = limit_pixels(item, 20 * 30).frames()
    assert next(frames).shape == (20, 30, 3)  # frames below the limit go on
    with pytest.raises(ValueError, match="above the limit.*--max-pixels"):
        next(frames)
    assert len(list(limit_pixels(item, 0).frames())) == 2  # 0: no limit


def test_the_estimate_scales_with_pixels_and_falls_back_to_per_unit():
    costs = {"x": {"method": "bicubic", "units": 2, "seconds": 4.0, "px_units": 2, "px_seconds": 4.0, "pixels": 2000}}
    m = make_method("bicubic")
    assert estimate_seconds(costs, Unit("k", "d", "i", "bicubic", "fp", pixels=500), m) == pytest.approx(1.0)
    assert estimate_seconds(costs, Unit("k", "d", "i", "bicubic", "fp"), m) == pytest.approx(2.0)
    assert estimate_seconds(costs, Unit("k", "d", "i", "identity", "fp"), make_method("identity")) is None
