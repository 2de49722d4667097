"""Rows of a unit: one tidy row per (item, frame, method, metric), and error rows that name
the stage and the cause when a unit could not be scored (docs/results.md). Every row is made
by :func:`benchmark.run.results.make_row`; ``base_row`` is only the columns an item's rows share."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.api import CorpusMetric, Item, Method, Metric
from benchmark.core.names import DatasetSpec
from benchmark.errors import error_text
from benchmark.run.results import Row, make_row
from benchmark.run.stages.score import Scores


def base_row(
    run_id: str, spec: DatasetSpec, item: Item, crop_border: int, info: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The columns every row of an item shares (with the codec's bpp and bitrate when known)."""
    info = info or {}
    return {
        "run_id": run_id,
        "dataset": spec.name,
        "base": spec.base,
        "degradation": spec.degradation,
        "item_id": item.item_id,
        "crop_border": crop_border,
        "bpp": info.get("bpp", float("nan")),
        "bitrate_kbps": info.get("bitrate_kbps", float("nan")),
        "elapsed_s": float("nan"),
    }


def whole(item: Item) -> dict[str, Any]:
    """The frame and scope of an item's one value: the clip's, or the image's."""
    return {"frame": -1, "scope": "clip"} if item.kind == "video" else {"frame": 0, "scope": "image"}


def error_rows(
    base: dict[str, Any],
    spec: DatasetSpec,
    item: Item,
    method: Method,
    metrics: list[Metric],
    stage: str,
    exc: BaseException | str,
) -> tuple[list[Row], list[str]]:
    """An error row per metric, and the failure line, for a unit stopped at ``stage``."""
    msg = f"{stage}: {error_text(exc)}" if isinstance(exc, Exception) else f"{stage}: {exc}"
    rows = [
        make_row(
            **base,
            **whole(item),
            method=method.name,
            method_version=method.version,
            metric=met.name,
            metric_version=met.version,
            value=float("nan"),
            higher_is_better=met.higher_is_better,
            unit=met.unit,
            status="error",
            error=msg,
        )
        for met in metrics
    ]
    return rows, [f"{spec.name} / {item.item_id} / {method.name}: {msg}"]


def score_rows(
    base: dict[str, Any],
    spec: DatasetSpec,
    item: Item,
    method: Method,
    metrics: list[Metric],
    scores: Scores,
    frames: int,
    seconds: float,
    input_note: str = "",
) -> tuple[list[Row], list[str]]:
    """The rows of a scored unit: per frame (a clip) and per item, the speed metric from the
    restore time; a failed metric is an error row. Corpus metrics get their rows later.
    ``input_note`` (``+uint8-input``: float input rounded for an 8-bit method) follows the
    method's version in every row."""
    rows: list[Row] = []
    failures: list[str] = []
    video = item.kind == "video"
    one = whole(item)
    common = {**base, "method": method.name, "method_version": method.version + input_note, "elapsed_s": seconds}
    for met in metrics:
        if isinstance(met, CorpusMetric):
            continue
        mrow = {
            **common,
            "metric": met.name,
            "metric_version": met.version,
            "higher_is_better": met.higher_is_better,
            "unit": met.unit,
        }
        if met.kind == "speed":
            fps = frames / seconds if seconds > 0 else float("inf")
            rows.append(make_row(**mrow, **one, value=fps, status="ok", error=None))
            continue
        values, err = scores[met.name]
        if err is not None:
            failures.append(f"{spec.name} / {item.item_id} / {method.name} / {met.name}: {err}")
            rows.append(make_row(**mrow, **one, value=float("nan"), status="error", error=err))
            continue
        if video:
            rows += [
                make_row(**mrow, frame=i, scope="frame", value=v, status="ok", error=None)
                for i, v in enumerate(values)
                if v is not None
            ]
        present = [v for v in values if v is not None]
        if present:  # a temporal metric has no value on a still image
            rows.append(make_row(**mrow, **one, value=float(np.mean(present)), status="ok", error=None))
    return rows, failures
