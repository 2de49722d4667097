"""What a method costs: parameters, multiply-accumulates, peak memory and latency. One row per
method and data set (``scope=dataset``, ``item_id="*"``), computed by the run itself
(:mod:`benchmark.run.stages.cost`), never from the frames, so these are not scored per item and not
chosen with ``--metrics``: every run records them unless ``--no-cost`` (or ``BENCH_COST=0``).

A figure that does not apply (no network to count, a pass-through that runs nothing) is a row
with ``status="not applicable"`` (:data:`NOT_APPLICABLE`; not ``n/a``, which pandas reads from a
CSV as a missing value), a NaN value and the reason in ``error``, never a 0. ``peak-mem`` and the
latencies depend on the device: their row's ``unit`` names it (``ms@cpu``,
``MiB@cuda:0 (NVIDIA H100 80GB HBM3)``)."""

from __future__ import annotations

from typing import ClassVar

from ..api import Metric

#: the status of a cost row that does not apply to the method (the reason is in ``error``)
NOT_APPLICABLE = "not applicable"


class CostMetric(Metric):
    kind = "cost"
    family = "cost"
    higher_is_better = False
    #: the row's unit names the device the figure was measured on
    device_bound: ClassVar[bool] = False

    def score(self, output, reference, crop_border=0):  # pragma: no cover - computed by the runner
        raise RuntimeError(f"{self.name} is measured by the runner while the method runs, not scored on frames")


class Params(CostMetric):
    name = "params"
    unit = "parameters"
    description = "Parameters of the method's networks (Method.network()), as papers count them: not buffers."
    conventions = {
        "counts": "elements of every parameter of the modules Method.network() returns (not buffers such as "
        "batch-norm statistics), a shared parameter once; every network the method holds (e.g. all six "
        "per-QF generators and the QF predictor of gan/ssim)",
        "n/a": "a method without a network (identity, bicubic, lanczos, a plug-in whose network() is None)",
    }


class MACs(CostMetric):
    name = "macs"
    unit = "MACs"
    description = (
        "Multiply-accumulates per frame at the run's input size (FLOPs = 2 x MACs), counted by torch's FlopCounterMode."
    )
    conventions = {
        "counts": "torch.utils.flop_counter.FlopCounterMode's FLOPs / 2 over one Method.process call on one frame: "
        "convolutions and matrix products, tiles and their overlaps, self-ensemble views and helper "
        "networks included; element-wise operations not counted",
        "convention": "FLOPs = 2 x MACs",
        "per data set": "mean over the set's frames: each frame size measured once, weighted by its frames",
        "n/a": "a method without a network",
    }


class MACsPerMP(CostMetric):
    name = "macs-per-mp"
    unit = "MACs/MP"
    description = "Multiply-accumulates per output megapixel (10^6 output pixels), so sets of different sizes compare."
    conventions = {
        "counts": "the set's MACs over its frames / its output pixels (the reference's size) x 10^6",
        "convention": "FLOPs = 2 x MACs",
        "n/a": "a method without a network",
    }


class PeakMem(CostMetric):
    name = "peak-mem"
    unit = "MiB"
    device_bound = True
    description = (
        "Peak memory of the method processing one frame, above the level before the call (MiB; the device in the unit)."
    )
    conventions = {
        "cuda": "torch.cuda.max_memory_allocated above the allocation at the call's start",
        "cpu": "peak RSS above the level at the call's start: heap trimmed first (malloc_trim), sampled every ms "
        "by a watcher thread plus the kernel's VmHWM; numpy/OpenCV buffers and tiling included, other "
        "threads of the process too",
        "per data set": "the largest over the set's frame sizes (one call on the first frame of each size)",
        "without a network": "measured on the CPU, where such a method runs, in a GPU run too (MiB@cpu)",
        "n/a": "a pass-through (identity at x1 runs nothing)",
    }


class LatencyP50(CostMetric):
    name = "latency-p50"
    unit = "ms"
    device_bound = True
    percentile = 50
    description = "Median wall time per frame inside Method.process (ms; the device in the unit), beside fps."
    conventions = {
        "measures": "per frame: each Method.process call's wall time / the frames it restored (a batch of a "
        "clip shares its time), as fps measures it; over every frame of the data set",
        "when": "measured when the output is computed; a cached output keeps the latencies it was measured at",
        "n/a": "a pass-through (identity at x1 runs nothing)",
    }


class LatencyP95(LatencyP50):
    name = "latency-p95"
    percentile = 95
    description = "95th percentile of the wall time per frame inside Method.process (ms; the device in the unit)."


COST_METRICS: list[CostMetric] = [Params(), MACs(), MACsPerMP(), PeakMem(), LatencyP50(), LatencyP95()]
