"""Stage 4: per-frame (and per-clip) scores of an output against its reference (cached per
metric). One failing metric is that metric's error for this item only."""

from __future__ import annotations

import itertools
import math
from typing import Any, Callable

from benchmark.api import ClipMetric, CorpusMetric, Metric
from benchmark.core.debug import debug
from benchmark.errors import error_text
from benchmark.run.cache import Cache
from benchmark.run.keys import score_key
from benchmark.run.stages.reference import Frames

Scores = dict[str, tuple[list[float | None] | None, str | None]]  # metric -> (values per frame, error)


def score(
    cache: Cache,
    metrics: list[Metric],
    out_key: str,
    ref_key: str,
    ref_frames: Frames,
    crop_border: int,
    tick: Callable[[], None] = lambda: None,
) -> tuple[Scores, bool]:
    """(metric name -> (values, error), whether anything was computed now). Speed and corpus
    metrics are not scored here."""
    results: Scores = {}
    todo: list[tuple[Metric, str]] = []
    for m in metrics:
        if m.kind == "speed" or isinstance(m, CorpusMetric):
            continue
        key = score_key(m, out_key, ref_key, crop_border)
        cached = cache.get_json(key)
        if cached is not None and not stale(m, cached):
            results[m.name] = (cached["values"], None)
        else:
            todo.append((m, key))
    if not todo:
        return results, False
    values, errors = _compute([m for m, _ in todo], cache, out_key, ref_frames, crop_border, tick)
    for m, key in todo:
        if m.name in errors:
            results[m.name] = (None, errors[m.name])
        else:
            cache.put_json(key, {"values": values[m.name], "metric": m.identity(), "crop_checked": True})
            results[m.name] = (values[m.name], None)
    return results, True


def stale(m: Metric, cached: dict[str, Any]) -> bool:
    """Whether a cached full-reference score may be the 100 dB that versions before the empty-crop
    check gave for a score over zero pixels: it holds 100.0 and was written without that check.
    It is computed again then (an honest 100 dB, a lossless output, is cached again as checked)."""
    return m.kind == "fr" and not cached.get("crop_checked") and any(v == 100.0 for v in cached.get("values") or [])


def _compute(
    todo: list[Metric], cache: Cache, out_key: str, ref_frames: Frames, crop_border: int, tick
) -> tuple[dict, dict[str, str]]:
    """One pass over the output and reference frames, every metric of ``todo`` at once."""
    values: dict[str, list[float | None]] = {m.name: [] for m in todo}
    errors: dict[str, str] = {}
    for m in todo:
        if isinstance(m, ClipMetric):
            _guard(errors, m, "start", lambda m=m: m.start(crop_border))
    for i, (out, ref) in enumerate(itertools.zip_longest(cache.read_frames(out_key), ref_frames())):
        if out is None or ref is None:
            raise ValueError(f"output and reference differ in frame count (at frame {i})")
        for m in todo:
            if m.name in errors:
                continue
            if isinstance(m, ClipMetric):
                _guard(errors, m, f"frame {i}", lambda m=m: m.update(out, ref))
            else:
                _guard(
                    errors,
                    m,
                    f"frame {i}",
                    lambda m=m: values[m.name].append(
                        _finite(m.score(out, ref if m.kind == "fr" else None, crop_border))
                    ),
                )
        tick()
    for m in todo:
        if isinstance(m, ClipMetric) and m.name not in errors:
            _guard(
                errors,
                m,
                "finish",
                lambda m=m: values[m.name].extend(None if v is None else _finite(v) for v in m.finish()),
            )
    return values, errors


def _finite(v: Any) -> float:
    v = float(v)
    if math.isnan(v):
        raise ValueError("metric returned NaN")
    return v


def _guard(errors: dict[str, str], m: Metric, where: str, fn: Callable[[], Any]) -> None:
    """Run one metric step; a failure disables that metric for this item only."""
    try:
        fn()
    except Exception as exc:
        debug(exc)
        errors[m.name] = f"{where}: {error_text(exc)}"
