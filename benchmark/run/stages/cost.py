"""What a method costs in a run (docs/metrics.md, "Cost"): its parameters, MACs and peak memory
measured on one ``Method.process`` call on one frame per input size (cached under
:func:`~benchmark.run.keys.probe_key`), its latency per frame kept by the restore stage, and each data
set's cost rows from its units' records (``scope=dataset``).

The call that is measured is the run's own first call when that call is one frame and nothing
else (an image): no extra work then. A clip's first call is a batch, so its first frame goes
through the method once more, alone, before the clip's stream (and ``start_clip`` again after
it); so does the first frame of an output read from the cache when its probe is not cached. So a
method costs the run at most one extra call per input size, and none on images."""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
import weakref
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from benchmark.api import Context, Method
from benchmark.core.debug import debug
from benchmark.core.names import DatasetSpec
from benchmark.errors import error_text
from benchmark.metrics.cost import COST_METRICS, NOT_APPLICABLE
from benchmark.run.cache import Cache
from benchmark.run.keys import passes_through, probe_key
from benchmark.run.measure import CallRecorder, PeakMemory, count_params, device_label, is_cuda, networks
from benchmark.run.results import make_row, no_values
from benchmark.run.stages.degrade import as_uint8

WARM_SIDE = 64  # the side of the corner a method warms up on (benchmark.run.stages.cost.CostProbe.warm)
_WARMED: "weakref.WeakSet[Method]" = weakref.WeakSet()  # the methods warmed up in this process


class CostProbe:
    """One unit's cost probe: its method's parameters, MACs and peak memory on one frame of the
    unit's input size, from the cache or measured now (``values``, a JSON-able dict, or None)."""

    def __init__(self, cache: Cache, method: Method, spec: DatasetSpec, ctx: Context, device: str):
        self.cache, self.method, self.spec, self.device = cache, method, spec, device
        self.ctx = dataclasses.replace(ctx, context=(0, 0), first_frame=0, base_frames=None)
        self.label = device_label(device)
        self.values: dict[str, Any] | None = None
        self.key: str | None = None
        self.shape: tuple[int, ...] = ()
        self._pending: CallRecorder | None = None  # calls measured, MACs not yet counted
        self._overhead = 0.0  # seconds the measuring added to the run's own call (taken out of its time)

    def _cached(self, frame: np.ndarray) -> bool:
        """Whether the probe at ``frame``'s size is known (cached); its key is set either way."""
        self.shape = tuple(int(s) for s in frame.shape)
        self.key = probe_key(self.method, self.shape, str(frame.dtype), self.spec.scale, self.label, COST_METRICS)
        cached = self.cache.get_json(self.key)
        if cached is not None:
            self.values = cached
        return cached is not None

    def attach(self, frames: Iterable[np.ndarray], batch_size: int) -> tuple[Iterator[np.ndarray], Any]:
        """For the restore stage, before it streams ``frames`` (as the method receives them)
        through the set-up method: the same frames, and what to stream them through: the method
        itself when the probe is cached, or measured here first (a clip: its first frame alone),
        or a wrapper that measures the method's first call (a one-frame clip: an image)."""
        it = iter(frames)
        head = list(itertools.islice(it, 2))
        stream = itertools.chain(head, it)
        if not head or self._cached(head[0]):
            return stream, self.method
        self.warm(head[0])
        if len(head) == 1 or (batch_size == 1 and self.method.window == (0, 0)):
            return stream, _MeasuredFirstCall(self)
        self.alone(head[0])
        return stream, self.method

    def ensure(self, frames: Callable[[], Iterable[np.ndarray]], setup: Callable[[Method], None]) -> None:
        """After the restore stage: the MACs of the call it measured counted (:meth:`settle`); when it
        measured nothing (the output was cached) and the probe is not cached, one extra call on the
        first frame of ``frames()`` (the degraded input)."""
        self.settle()
        if self.values is not None or passes_through(self.method, self.spec):
            return
        source = frames()
        first = next(iter(source if self.method.takes_float else as_uint8(source)), None)
        close = getattr(source, "close", None)
        if close is not None:
            close()
        if first is None or self._cached(first):
            return
        setup(self.method)
        self.warm(first)
        self.alone(first)

    def take_overhead(self) -> float:
        """The seconds measuring added to the run's own call since the last ask (the restore stage
        takes them out of the call's time, so latency and fps are the method's own)."""
        out, self._overhead = self._overhead, 0.0
        return out

    def warm(self, frame: np.ndarray) -> None:
        """Before the first measured call of a method in this process: the method once on a small
        corner of ``frame`` (at most :data:`WARM_SIDE` square; output dropped, clip state reset), so
        that its one-time work (kernel set-up, lazy imports, a tiling probe) is neither in the
        measured call's peak memory nor in its time. A failure here is left to the measured call."""
        try:
            if self.method in _WARMED:
                return
            _WARMED.add(self.method)
        except TypeError:  # a method without weak references (__slots__): warmed each time, on a small corner
            pass
        corner = np.ascontiguousarray(frame[:WARM_SIDE, :WARM_SIDE])
        self.method.start_clip(self.ctx)
        try:
            self.method.process([corner], self.ctx)
        except Exception as exc:  # noqa: BLE001 - a method with a minimum size, say
            debug(exc)
        self.method.start_clip(self.ctx)

    def alone(self, frame: np.ndarray) -> None:
        """The method on ``frame`` alone, measured (its output dropped; its clip state reset
        before and after). A failure is the probe's error, not the unit's."""
        self.method.start_clip(self.ctx)
        try:
            self.measure(lambda: self.method.process([frame], self.ctx))
        except Exception as exc:  # noqa: BLE001 - the unit's own call says whether the method works
            debug(exc)
            self.values = {"error": f"cost probe: {error_text(exc)}"}
        self.settle()
        self.method.start_clip(self.ctx)

    def measure(self, call: Callable[[], Any]) -> Any:
        """``call()`` (one process call on one frame), its peak memory measured and its network calls
        noted; their MACs are counted by :meth:`settle`, out of the call's time."""
        try:
            nets = networks(self.method)
        except Exception as exc:  # noqa: BLE001 - a plug-in's hook: its cost rows say it, the run goes on
            debug(exc)
            self.values = {"error": f"network(): {error_text(exc)}"}
            return call()
        recorder = CallRecorder(nets)
        where = self.device if nets or not is_cuda(self.device) else "cpu"  # a method without a network runs on the CPU
        with PeakMemory(where) as mem, recorder:
            result = call()
        self.values = {
            "network": bool(nets),
            "params": count_params(nets) if nets else None,
            "macs": None,
            "macs_note": "",
            "peak_bytes": mem.peak_bytes,
            "memory": mem.how or mem.why,
            "device": device_label(where),
            "shape": list(self.shape),
        }
        self._pending = recorder
        return result

    def settle(self) -> None:
        """Count the MACs of the measured call's network calls (on ``meta`` tensors) and cache the probe."""
        recorder, self._pending = self._pending, None
        if recorder is None or self.values is None:
            return
        try:
            self.values["macs"] = recorder.macs() if recorder.calls else None
            self.values["macs_note"] = (
                "" if recorder.calls or not self.values["network"] else "the network's modules were not called"
            )
        except Exception as exc:  # noqa: BLE001 - the count fails, not the unit
            debug(exc)
            self.values["macs_note"] = f"counting failed: {error_text(exc)}"
        self.cache.put_json(self.key, self.values)


class _MeasuredFirstCall:
    """The method, for ``restore_stream``, with its first ``process`` call measured by ``probe``."""

    def __init__(self, probe: CostProbe):
        self.probe = probe
        self.name, self.window, self.scale = probe.method.name, probe.method.window, probe.method.scale

    def start_clip(self, ctx: Context) -> None:
        self.probe.method.start_clip(ctx)

    def process(self, frames: list[np.ndarray], ctx: Context) -> list[np.ndarray]:
        if self.probe.values is not None:
            return self.probe.method.process(frames, ctx)
        inner = [0.0]

        def call():
            t = time.perf_counter()
            out = self.probe.method.process(frames, ctx)
            inner[0] = time.perf_counter() - t
            return out

        t = time.perf_counter()
        out = self.probe.measure(call)
        self.probe._overhead += max(time.perf_counter() - t - inner[0], 0.0)
        return out


def unit_record(probe: CostProbe | None, method: Method, spec: DatasetSpec, meta: dict[str, Any]) -> dict[str, Any]:
    """What a data set's cost rows need of one unit: its frames, output pixels per frame, the
    per-frame latencies of its output (when it was computed with them) and its probe."""
    shape = meta.get("shape") or [0, 0]
    return {
        "frames": int(meta.get("frames") or 0),
        "out_pixels": int(shape[0]) * int(shape[1]),
        "latency_ms": meta.get("latency_ms"),
        "latency_device": meta.get("device"),
        "passthrough": passes_through(method, spec),
        "probe": probe.values if probe is not None else None,
    }


# ----------------------------------------------------------------------------- a data set's rows
NO_NETWORK = (
    "no network: {name} runs no torch network (Method.network() is None), so it has no parameters or MACs to count"
)
PASS_THROUGH = "pass-through: {name} hands on its input unchanged here (x1), so nothing runs"
NOT_MEASURED = (
    "not measured: its units were computed before cost was recorded, or with cost off "
    "(rerun with --no-cache, or a new --out)"
)


def cost_rows(
    spec: DatasetSpec, methods: list[Method], run_id: str, records: list[tuple[str, dict[str, Any] | None]]
) -> list[dict[str, Any]]:
    """A data set's cost rows: per method, one row per cost metric (``scope=dataset``,
    ``item_id="*"``) from its units' records ((method name, record or None), in plan order)."""
    rows: list[dict[str, Any]] = []
    for method in methods:
        recs = [r for name, r in records if name == method.name and r]
        common = no_values(
            run_id=run_id,
            dataset=spec.name,
            base=spec.base,
            degradation=spec.degradation,
            item_id="*",
            frame=-1,
            scope="dataset",
            method=method.name,
            method_version=method.version,
            crop_border=0,
        )
        for met in COST_METRICS:
            value, status, why, device = figure(met.name, method, recs)
            unit = f"{met.unit}@{device}" if met.device_bound and device else met.unit
            rows.append(
                make_row(
                    **common,
                    metric=met.name,
                    metric_version=met.version,
                    higher_is_better=met.higher_is_better,
                    unit=unit,
                    value=float("nan") if value is None else float(value),
                    status=status,
                    error=why or None,
                )
            )
    return rows


Figure = tuple[float | None, str, str, str]  # (value, status, why not, device)


def _ok(value: float, device: str = "") -> Figure:
    return float(value), "ok", "", device


def _na(why: str, device: str = "") -> Figure:
    return None, NOT_APPLICABLE, why, device


def figure(metric: str, method: Method, recs: list[dict[str, Any]]) -> Figure:
    """(value or None, status, why there is none, the device) of one cost metric over a method's unit records."""
    name = method.name
    if not recs:
        return None, "error", "no unit of this method finished on this data set (see its error rows)", ""
    if all(r.get("passthrough") for r in recs):
        return _na(
            (
                NO_NETWORK
                if metric in ("params", "macs", "macs-per-mp") and not _has_network_hook(method)
                else PASS_THROUGH
            ).format(name=name)
        )
    if metric.startswith("latency"):
        return _latency(metric, recs)
    probes = [r for r in recs if r.get("probe") and "error" not in r["probe"]]
    if not probes:
        errors = [r["probe"]["error"] for r in recs if r.get("probe")]
        return (None, "error", errors[0], "") if errors else _na(NOT_MEASURED)
    p0 = probes[0]["probe"]
    device = str(p0.get("device") or "")
    if metric == "peak-mem":
        peaks = [r["probe"]["peak_bytes"] for r in probes if r["probe"].get("peak_bytes") is not None]
        if not peaks:
            return _na(f"not measured: {p0.get('memory') or 'no measurement'}", device)
        return _ok(max(peaks) / 2**20, device)
    if not p0.get("network"):
        return _na(NO_NETWORK.format(name=name))
    if metric == "params":
        return _ok(p0["params"])
    counted = [r for r in probes if r["probe"].get("macs") is not None]
    total = sum(r["frames"] * r["probe"]["macs"] for r in counted)
    per = sum(r["frames"] * (1 if metric == "macs" else r["out_pixels"] / 1e6) for r in counted)
    if not per:
        return _na(
            f"not counted: {next((r['probe']['macs_note'] for r in probes if r['probe'].get('macs_note')), 'no frame')}"
        )
    return _ok(total / per)


def _has_network_hook(method: Method) -> bool:
    return type(method).network is not Method.network


def _latency(metric: str, recs: list[dict[str, Any]]) -> Figure:
    timed = [r for r in recs if r.get("latency_ms") and not r.get("passthrough")]
    values = [v for r in timed for v in r["latency_ms"]]
    if not values:
        return _na(
            "not measured: the outputs were cached before per-frame latencies were recorded (rerun with --no-cache)"
        )
    devices = ", ".join(sorted({str(r.get("latency_device") or "?") for r in timed}))
    value = float(np.percentile(values, 95 if metric.endswith("p95") else 50))
    return _ok(value, devices) if math.isfinite(value) else _na("not measured: no finite time", devices)
