"""The stages of a unit, each a small function over the content-addressed :class:`Cache`:

reference -> degrade -> restore -> score (and corpus predictions). Each takes what it needs
(a data set spec, an item, a method, metrics) and returns cache keys; nothing here knows of
runs, plans or executors."""

from benchmark.run.stages.degrade import degrade, degraded_frames
from benchmark.run.stages.reference import reference
from benchmark.run.stages.restore import restore
from benchmark.run.stages.score import score

__all__ = ["reference", "degrade", "degraded_frames", "restore", "score"]
