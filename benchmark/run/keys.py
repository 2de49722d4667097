"""Cache keys: the content address of every stage's result. A key is the digest of what
changes the result (kind, identities, parameters, input keys), never of paths or batch
sizes, so the same work has the same key in any run. Changing one of these changes every
cache entry of its kind: bump on purpose and say so."""

from __future__ import annotations

from typing import Any

from benchmark.api import CorpusMetric, Method, Metric, digest
from benchmark.core.names import DatasetSpec


def reference_preps(spec: DatasetSpec) -> list:
    """The degradations of ``spec`` that change the reference itself (e.g. a noise protocol's crop)."""
    return [d for d in spec.chain if d.transforms_reference]


def reference_key(spec: DatasetSpec, fingerprint: str) -> str:
    """An item's reference as scored: its own frames at scale 1, else cropped to the scale's grid."""
    preps = reference_preps(spec)
    if spec.scale == 1 and not preps:
        return digest("reference", fingerprint)
    return digest("reference", fingerprint, spec.scale, [d.describe() for d in preps])


def seeded(spec: DatasetSpec) -> bool:
    """Whether a step of ``spec``'s chain is random (noise, a random degradation chain): its
    degraded input then depends on the item and the run's seed."""
    return any(d.seeded for d in spec.chain)


def degraded_key(spec: DatasetSpec, ref_key: str, seed: int = 0, item_id: str = "") -> str:
    """Cache key of an item's degraded input (its reference when the chain is empty). A seeded
    chain's key also holds the item id and the run's seed its noise is drawn from (only then:
    the keys of deterministic chains are those of earlier versions)."""
    if not spec.chain:
        return ref_key
    if seeded(spec):
        return digest("degraded", ref_key, [d.describe() for d in spec.chain], {"seed": seed, "item": item_id})
    return digest("degraded", ref_key, [d.describe() for d in spec.chain])


def float_input(spec: DatasetSpec) -> bool:
    """Whether ``spec``'s degraded frames are float (a step that ``makes_float``, e.g. Gaussian
    noise, not followed by one that rounds to uint8)."""
    out = False
    for d in spec.chain:
        out = bool(d.makes_float) or (out and bool(d.takes_float))
    return out


def passes_through(method: Method, spec: DatasetSpec) -> bool:
    """Whether ``method``'s output on ``spec`` is its degraded input itself (``identity`` at
    scale 1): the cached degraded frames are then scored as the output, not copied. Float
    inputs are not: an output is scored as uint8, so identity's is the input rounded."""
    return method.passthrough and spec.scale == 1 and bool(spec.chain) and not float_input(spec)


def output_key(method: Method, spec: DatasetSpec, deg_key: str, seed: int) -> str:
    """Cache key of a method's output on a degraded input (the input's own for a pass-through)."""
    if passes_through(method, spec):
        return deg_key
    return digest("output", method.identity(), deg_key, spec.scale, spec.degradation, seed)


def keys(
    spec: DatasetSpec, fingerprint: str, method: Method | None = None, seed: int = 0, item_id: str = ""
) -> tuple[str, str, str | None]:
    """Cache keys of an item's reference, degraded input and (with ``method``) output."""
    ref = reference_key(spec, fingerprint)
    deg = degraded_key(spec, ref, seed, item_id)
    return ref, deg, output_key(method, spec, deg, seed) if method is not None else None


def score_key(metric: Metric, out_key: str, ref_key: str, crop_border: int) -> str:
    return digest("score", metric.identity(), out_key, ref_key, crop_border)


def prediction_key(metric: CorpusMetric, frames_key: str) -> str:
    return digest("prediction", metric.predictor_identity(), frames_key)


def unit_key(
    spec: DatasetSpec,
    item_id: str,
    fingerprint: str,
    method: Method,
    metrics: list[Metric],
    crop_border: int | None,
    seed: int,
) -> str:
    """A work unit's content address (``crop_border`` as the user gave it: None for the default)."""
    return digest(
        "unit",
        spec.describe(),
        item_id,
        fingerprint,
        method.identity(),
        [m.identity() for m in metrics],
        crop_border,
        seed,
    )


def corpus_unit_key(spec: DatasetSpec, methods: list[Method], metrics: list[Metric], unit_keys: list[str]) -> str:
    """The content address of a data set's corpus rows (mAP, CIDEr ...): its units and parts."""
    return digest(
        "corpus", spec.describe(), [m.identity() for m in methods], [m.identity() for m in metrics], unit_keys
    )


def corpus_values_key(metric: CorpusMetric, items: list[tuple[str, Any, str, str]]) -> str:
    """The key of a corpus metric's values over (item_id, annotations, output key, reference key)."""
    return digest(
        "corpus-values",
        metric.identity(),
        metric.predictor_identity(),
        [(i, digest(a), o, r if metric.needs_reference(a) else None) for i, a, o, r in items],
    )


def probe_key(
    method: Method, shape: tuple[int, ...], dtype: str, scale: int, device: str, metrics: list[Metric]
) -> str:
    """A method's cost probe (parameters, MACs and peak memory of one call on one frame) at an input
    size: the method, the frame's shape and type as it receives it, the output scale, the device
    (its label, e.g. ``cuda:0 (NVIDIA H100 80GB HBM3)``) and the cost metrics' versions."""
    return digest("cost-probe", method.identity(), list(shape), dtype, scale, device, [m.identity() for m in metrics])


def cost_unit_key(
    spec: DatasetSpec, methods: list[Method], metrics: list[Metric], units: list[tuple[str, bool]]
) -> str:
    """The content address of a data set's cost rows (one per method and cost metric): its parts and
    its units, each with whether it has a cost record (a unit that has one now renews the rows)."""
    return digest("cost-unit", spec.describe(), [m.identity() for m in methods], [m.identity() for m in metrics], units)


def cost_key(method: Method, metrics: list[Metric]) -> str:
    """What a unit's measured time is filed under: the method and the metrics computed."""
    return digest(method.identity(), sorted(f"{m.name}@{m.version}" for m in metrics))


def crop_border(option: int | None, spec: DatasetSpec) -> int:
    """The crop border a data set is scored with: the option, else the scale (0 at scale 1)."""
    return option if option is not None else (spec.scale if spec.scale > 1 else 0)
