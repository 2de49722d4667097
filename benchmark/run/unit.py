"""The work unit: what an executor is given to run (small, frozen, picklable)."""

from __future__ import annotations

from dataclasses import dataclass


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
