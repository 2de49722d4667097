"""The work unit: what an executor is given to run (small, frozen, picklable), and what it
gives back (:class:`UnitResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Unit:
    """One work unit of a plan: a data set's item x method, with the run's metrics.
    ``key`` is its content address (data set and degradation, item content, method
    identity, metrics, crop border, seed): the same work has the same key in any run."""

    key: str
    dataset: str
    item_id: str
    method: str
    fingerprint: str
    frames: int | None = None  # frames and pixels per frame when known cheaply (cost estimate)
    pixels: int | None = None

    def label(self) -> str:
        return f"{self.dataset} / {self.item_id} / {self.method} (unit {self.key[:12]})"


@dataclass
class UnitResult:
    """What running a unit gives back (picklable: it crosses a pipe or Ray). ``rows`` are the
    unit's tidy rows (:func:`benchmark.run.results.make_row`) and ``failures`` one line per failed
    stage or metric; ``artifact`` names its cached frames (reference, degraded, output), ``corpus``
    its corpus predictions' keys per metric, ``cost`` its cost record, ``seconds`` its wall time and
    ``computed`` whether anything was computed (not all read from the cache). ``predictions`` are
    the corpus predictions a worker computed, for the driver's cache; ``pid`` the worker process.

    A unit that could not be run at all (its worker died past the retries) has only ``error``,
    the reason, and the runner makes its error rows."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    artifact: dict[str, Any] | None = None
    corpus: dict[str, dict[str, str]] = field(default_factory=dict)
    cost: dict[str, Any] | None = None
    seconds: float | None = None
    computed: bool = False
    predictions: dict[str, Any] = field(default_factory=dict)
    pid: int | None = None
    error: str | None = None

    @classmethod
    def failed(cls, reason: str) -> "UnitResult":
        """A unit that could not be run, and why."""
        return cls(error=reason)
