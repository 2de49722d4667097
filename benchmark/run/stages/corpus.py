"""Corpus metrics (mAP, CIDEr ...): the metric's model run on every output (and reference)
frame of a unit (cached), then, once a data set's units are done, its values computed from
those predictions over the whole set (cached), and the gains over ``identity``."""

from __future__ import annotations

import itertools
from typing import Any, Callable, Iterator

from benchmark.api import CorpusMetric, CorpusRecord, Item, Method, Metric
from benchmark.core.debug import debug
from benchmark.core.names import DatasetSpec
from benchmark.errors import error_text
from benchmark.run.cache import Cache, CacheDamaged
from benchmark.run.keys import corpus_values_key, prediction_key
from benchmark.run.results import make_row, no_values
from benchmark.run.stages.reference import Frames

GAIN_BASELINE = "identity"


def predictions(
    cache: Cache,
    met: CorpusMetric,
    frames_key: str,
    frames: Frames,
    batch_size: int,
    setup: Callable[[CorpusMetric], None] = lambda m: None,
) -> tuple[list[Any], bool]:
    """(the metric's model run on every frame of ``frames_key``, whether computed now); cached by content."""
    key = prediction_key(met, frames_key)
    cached = cache.get_json(key)
    if cached is not None:
        return cached["predictions"], False
    setup(met)
    preds: list[Any] = []
    stream = frames()
    while batch := list(itertools.islice(stream, batch_size)):  # the clip's frames, batch_size at a time
        preds += met.predict_many(batch)
    cache.put_json(key, {"predictions": preds, "predictor": met.predictor_identity()})
    return preds, True


def predict_unit(
    cache: Cache, met: CorpusMetric, item: Item, out_key: str, ref_key: str, ref_frames: Frames, batch_size: int, setup
) -> tuple[dict[str, str], bool]:
    """({output, reference} keys for the data set's corpus unit, or {error}; whether computed now)."""
    try:
        _, a = predictions(cache, met, out_key, lambda: cache.read_frames(out_key), batch_size, setup)
        b = False
        if met.needs_reference(item.annotations):
            _, b = predictions(cache, met, ref_key, ref_frames, batch_size, setup)
    except CacheDamaged:
        raise
    except (Exception, SystemExit) as exc:  # a model's sys.exit() ends this item's predictions, not the run
        debug(exc)
        return {"error": f"{item.item_id}: {error_text(exc)}"}, True
    return {"output": out_key, "reference": ref_key}, a or b


def cached_predictions(cache: Cache, met: CorpusMetric, frames_key: str) -> list[Any]:
    cached = cache.get_json(prediction_key(met, frames_key))
    if cached is None:
        raise ValueError(
            f"the {met.name} predictions for {frames_key[:12]} are not in the cache {cache.root} (removed or damaged); rerun"
        )
    return cached["predictions"]


def corpus_cached(cache: Cache, corpus: dict[str, Any], metrics: list[Metric], item: Item) -> bool:
    """Whether the predictions a finished unit's corpus entries point to are still in the cache."""
    by_name = {m.name: m for m in metrics if isinstance(m, CorpusMetric)}
    for name, c in (corpus or {}).items():
        met = by_name.get(name)
        if met is None or "error" in c:
            continue
        keys = [c["output"]] + ([c["reference"]] if met.needs_reference(item.annotations) else [])
        if any(cache.get_json(prediction_key(met, k)) is None for k in keys):
            return False
    return True


def unit_predictions(cache: Cache, metrics: list[Metric], corpus: dict[str, Any]) -> dict[str, Any]:
    """The cached predictions a unit's corpus entries point to, by cache key (sent back to
    the driver, whose cache may be another node's)."""
    out = {}
    for name, c in (corpus or {}).items():
        if "error" in c:
            continue
        met = next(m for m in metrics if m.name == name)
        for k in (c["output"], c["reference"]):
            pkey = prediction_key(met, k)
            cached = cache.get_json(pkey)
            if cached is not None:
                out[pkey] = cached
    return out


Slots = dict[tuple[str, str], dict[str, list]]  # (method, metric) -> {"items": [...], "errors": [...]}


def collect(entries: list[tuple[Item, str, dict[str, Any]]]) -> Slots:
    """The corpus entries of a data set's finished units, (item, method, corpus) in plan
    order, gathered per (method, metric)."""
    slots: Slots = {}
    for item, method, corpus in entries:
        for met_name, c in (corpus or {}).items():
            slot = slots.setdefault((method, met_name), {"items": [], "errors": []})
            if "error" in c:
                slot["errors"].append(c["error"])
            else:
                slot["items"].append((item.item_id, item.annotations, c["output"], c["reference"]))
    return slots


def corpus_rows(
    cache: Cache,
    spec: DatasetSpec,
    methods: list[Method],
    metrics: list[Metric],
    run_id: str,
    slots: Slots,
    failures: list[str],
) -> list[dict[str, Any]]:
    """The data set's rows of every corpus metric and method (error rows for a failed one), and their gains."""
    rows: list[dict[str, Any]] = []
    for method in methods:
        for met in (m for m in metrics if isinstance(m, CorpusMetric)):
            slot = slots.get((method.name, met.name))
            if slot is None:  # every item failed before scoring (already reported)
                continue
            row = no_values(
                run_id=run_id,
                dataset=spec.name,
                base=spec.base,
                degradation=spec.degradation,
                item_id="*",
                frame=-1,
                scope="dataset",
                method=method.name,
                method_version=method.version,
                metric_version=met.version,
                higher_is_better=met.higher_is_better,
                unit=met.unit,
                crop_border=0,
            )
            if slot["errors"]:
                err = f"{len(slot['errors'])} item(s) failed; first: {slot['errors'][0]}"
                rows.append(make_row(**row, metric=met.name, value=float("nan"), status="error", error=err))
                continue
            try:
                values = corpus_values(cache, met, slot["items"])
            except Exception as exc:
                debug(exc)
                msg = f"compute: {error_text(exc)}"
                failures.append(f"{spec.name} / {method.name} / {met.name}: {msg}")
                rows.append(make_row(**row, metric=met.name, value=float("nan"), status="error", error=msg))
                continue
            for name, v in values.items():
                rows.append(make_row(**row, metric=name, value=float(v), status="ok", error=None))
    return rows + gain_rows(rows)


def corpus_values(cache: Cache, met: CorpusMetric, items: list[tuple[str, Any, str, str]]) -> dict[str, float]:
    """The metric's values over the set, from the cached predictions (cached themselves)."""

    def records() -> Iterator[CorpusRecord]:
        for item_id, ann, out_key, ref_key in items:
            preds = cached_predictions(cache, met, out_key)
            refs = cached_predictions(cache, met, ref_key) if met.needs_reference(ann) else None
            yield CorpusRecord(item_id, ann, preds, refs)

    ckey = corpus_values_key(met, items)
    cached = cache.get_json(ckey)
    if cached is not None:
        return cached["values"]
    values = met.compute(records())
    cache.put_json(ckey, {"values": {k: float(v) for k, v in values.items()}, "metric": met.identity()})
    return values


def gain_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Corpus rows of each method minus the ``identity`` row of the same data set and
    metric: ``voc-ap50/dog`` becomes ``voc-ap50-gain/dog`` (the reference study's
    per-class AP gains). Empty when the run has no ``identity`` method."""
    base = {
        (r["dataset"], r["metric"]): r["value"] for r in rows if r["method"] == GAIN_BASELINE and r["status"] == "ok"
    }
    out = []
    for r in rows:
        b = base.get((r["dataset"], r["metric"]))
        if r["method"] == GAIN_BASELINE or r["status"] != "ok" or b is None:
            continue
        head, sep, tail = r["metric"].partition("/")
        out.append(make_row(**{**r, "metric": f"{head}-gain{sep}{tail}", "value": r["value"] - b}))
    return out
