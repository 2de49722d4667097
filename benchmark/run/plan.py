"""The plan: data set items x methods -> content-addressed :class:`Unit` s, in order, and
the dry run's estimate. Pure: no model is loaded and no frame decoded (items are listed,
image sizes read from their headers)."""

from __future__ import annotations

import itertools
import os
import stat
from dataclasses import dataclass, replace
from typing import Any, Iterator

import numpy as np

from benchmark.api import CorpusMetric, Item, Method, Metric
from benchmark.core.imaging import TooLarge, image_file_size
from benchmark.core.names import DatasetSpec
from benchmark.errors import BenchError
from benchmark.run.cache import Cache
from benchmark.run.config import ENV_MAX_PIXELS, RunConfig
from benchmark.run.keys import cost_key, crop_border, keys, prediction_key, score_key, unit_key
from benchmark.run.resolve import Resolved
from benchmark.run.unit import Unit


@dataclass
class Plan:
    """The run's units in order (data set, item, method), and the items they refer to."""

    units: list[Unit]
    items: dict[tuple[str, str], Item]

    def item(self, unit: Unit) -> Item:
        return self.items[(unit.dataset, unit.item_id)]


def make_plan(resolved: Resolved, cfg: RunConfig, pixel_limit: int) -> Plan:
    """A unit's key is its content address: the same data set and degradation, item bytes,
    method identity, metrics, crop border and seed give the same key in any run."""
    units: list[Unit] = []
    items: dict[tuple[str, str], Item] = {}
    for spec in resolved.specs:
        for item in itertools.islice(select(spec, cfg.items), cfg.limit):
            try:
                size = source_size(item)  # a FIFO, a device or a 20 GB "image" is refused here, unread and unhashed
                fingerprint = item.fingerprint()
            except Exception as exc:  # an unreadable file: identified by name, and it fails below with the reason
                size, fingerprint = None, f"unreadable: {item.source or item.item_id}: {type(exc).__name__}"
            item = limit_pixels(item, pixel_limit)
            if (spec.name, item.item_id) in items:  # one id twice: one item scored, reported twice
                other = items[(spec.name, item.item_id)]
                raise BenchError(
                    f"{spec.name}: two items have the id {item.item_id!r} ({other.source or '?'} and {item.source or '?'}); "
                    "a data set's item ids must be unique"
                )
            items[(spec.name, item.item_id)] = item
            if size:
                spec.check_size(item.item_id, *size)  # a blur kernel larger than the image: refused before any work
            for method in resolved.methods_for[spec.name]:
                key = unit_key(spec, item.item_id, fingerprint, method, resolved.metrics, cfg.crop_border, cfg.seed)
                units.append(
                    Unit(
                        key,
                        spec.name,
                        item.item_id,
                        method.name,
                        fingerprint,
                        frames=1 if item.kind == "image" else None,
                        pixels=size[0] * size[1] if size else None,
                    )
                )
    return Plan(units, items)


def select(spec: DatasetSpec, wanted_ids: list[str] | None) -> Iterator[Item]:
    """The items of ``spec`` the run covers (all, or those named)."""
    wanted = set(wanted_ids or ())
    if not wanted:
        yield from spec.dataset.items()
        return
    seen = set()
    for item in spec.dataset.items():
        seen.add(item.item_id)
        if item.item_id in wanted:
            yield item
    if not wanted & seen:
        raise BenchError(
            f"{spec.name}: no item named {', '.join(sorted(wanted))}; it has {', '.join(sorted(seen)[:20])}"
        )


def limit_pixels(item: Item, limit: int) -> Item:
    """``item`` whose frames raise, naming the way out, when one is above ``limit`` pixels
    (an image file is measured from its header, before it is read: :func:`source_size`)."""
    hint = f"raise it with --max-pixels N or {ENV_MAX_PIXELS}=N (0: no limit), memory grows with the frame size"

    def refuse(w: int, h: int) -> None:
        if limit and w * h > limit:
            raise ValueError(
                f"{w}x{h} = {w * h / 1e6:.1f} MP is above the limit of {limit / 1e6:g} MP per frame; {hint}"
            )

    def frames() -> Iterator[np.ndarray]:
        try:
            size = source_size(item, limit)
        except TooLarge as exc:  # a header Pillow calls a decompression bomb
            raise ValueError(f"{exc}; {hint}") from None
        if size:
            refuse(*size)
        for f in item.frames():
            refuse(f.shape[1], f.shape[0])
            yield f

    return replace(item, frames=frames)


def source_size(item: Item, limit: int = 0) -> tuple[int, int] | None:
    """(width, height) of an image item's file from its header, None when it has none (no file, or a
    header Pillow cannot size). The file is checked before anything reads it: a FIFO, a device or a
    file larger than its picture can be is a ValueError naming it (:func:`benchmark.core.imaging.image_file_size`);
    over ``limit`` (0: none) by a header Pillow calls a decompression bomb, :class:`TooLarge`."""
    if item.kind != "image" or not item.source:
        return None
    try:
        if stat.S_ISDIR(os.stat(item.source).st_mode):
            return None
    except OSError:  # not a path (a plug-in's label): its loader reads it
        return None
    return image_file_size(item.source, limit)


# ----------------------------------------------------------------------------- the dry run
def unit_cached(cache: Cache, resolved: Resolved, cfg: RunConfig, unit: Unit) -> bool:
    """Whether a unit's output and every score and prediction it needs are in the cache."""
    spec = resolved.spec(unit.dataset)
    ref, _, out = keys(spec, unit.fingerprint, resolved.method(unit.dataset, unit.method), cfg.seed, unit.item_id)
    if not cache.has_frames(out):
        return False
    crop = crop_border(cfg.crop_border, spec)
    for m in resolved.metrics:
        if m.kind == "speed":
            continue
        if isinstance(m, CorpusMetric):
            if cache.get_json(prediction_key(m, out)) is None:
                return False
        elif cache.get_json(score_key(m, out, ref, crop)) is None:
            return False
    return True


def estimate_seconds(
    costs: dict[str, Any], unit: Unit, method: Method, metrics: list[Metric] | None = None
) -> float | None:
    """A unit's expected time from earlier units: per pixel when both have a size, else
    per unit; None when nothing comparable was measured."""
    recs = [costs[k] for k in ([cost_key(method, metrics)] if metrics is not None else []) if k in costs]
    recs = recs or [r for r in costs.values() if isinstance(r, dict) and r.get("method") == unit.method]
    if not recs:
        return None
    px = sum(r.get("pixels", 0) for r in recs)
    if unit.pixels and px:
        return unit.pixels * sum(r["px_seconds"] for r in recs) / px
    return sum(r["seconds"] for r in recs) / max(1, sum(r["units"] for r in recs))


def dry_run(plan: Plan, resolved: Resolved, cfg: RunConfig, cache: Cache, done: set[str]) -> dict[str, Any]:
    """Each unit as ``done`` (in ``done``: the resumable run folder's), ``cached`` (a rerun only
    reads it) or ``todo`` with its estimated time from the costs measured in earlier runs."""
    costs = cache.costs()
    units = []
    for u in plan.units:
        state = "done" if u.key in done else ("cached" if unit_cached(cache, resolved, cfg, u) else "todo")
        est = (
            estimate_seconds(costs, u, resolved.method(u.dataset, u.method), resolved.metrics)
            if state == "todo"
            else 0.0
        )
        units.append(
            {
                "unit": u.key,
                "dataset": u.dataset,
                "item_id": u.item_id,
                "method": u.method,
                "state": state,
                "pixels": u.pixels,
                "estimated_s": est,
            }
        )
    todo = [x for x in units if x["state"] == "todo"]
    known = [x["estimated_s"] for x in todo if x["estimated_s"] is not None]
    return {
        "units": units,
        "counts": {k: sum(1 for x in units if x["state"] == k) for k in ("done", "cached", "todo")},
        "estimated_s": sum(known) if known else None,
        "estimated_units": len(known),
    }
