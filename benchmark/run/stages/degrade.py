"""Stage 2: the degraded input, the reference run through the data set's chain (cached);
the codec's measurements (bpp, bitrate) are kept with the frames.

A step may produce float frames (Gaussian noise added in float, unrounded): they reach the next
step as they are when it ``takes_float``, else rounded and clipped to uint8 first, and are
cached as float32. A random step (``seeded``) draws from a generator seeded per item from the
item id, the run's seed and its place in the chain (:func:`item_seed`), so a rerun is identical."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

import numpy as np

from benchmark.api import Item, digest
from benchmark.core.imaging import to_uint8
from benchmark.core.names import DatasetSpec
from benchmark.run.cache import Cache
from benchmark.run.keys import degraded_key
from benchmark.run.stages.reference import Frames


def item_seed(item_id: str, seed: int, step: int) -> int:
    """The seed of step ``step``'s generator on one item: a stable hash (SHA-256, not Python's
    ``hash()``) of the item id, the run's seed and the step's place in the chain."""
    return int(digest("degradation-seed", item_id, int(seed), int(step))[:16], 16)


def as_uint8(frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """Frames as uint8 (:func:`benchmark.core.imaging.to_uint8`: float ones rounded half to even and
    clipped; uint8 ones as they are)."""
    for f in frames:
        yield to_uint8(f)


def degrade(
    cache: Cache,
    spec: DatasetSpec,
    item: Item,
    ref_key: str,
    ref_frames: Frames,
    tick: Callable[[], None] = lambda: None,
    seed: int = 0,
) -> tuple[str, dict[str, Any]]:
    """(cache key, codec info) of ``item``'s degraded input: its reference's key when the chain is empty."""
    if not spec.chain:
        return ref_key, {}
    key = degraded_key(spec, ref_key, seed, item.item_id)
    if not cache.has_frames(key):
        info: dict[str, Any] = {}
        frames: Iterator[np.ndarray] = ref_frames()
        for i, d in enumerate(spec.chain):
            if d.seeded:
                d = d.with_seed(item_seed(item.item_id, seed, i))
            if not d.takes_float:
                frames = as_uint8(frames)
            frames = d.apply_frames(frames, item.fps, info)
        with cache.writer(key) as w:
            for f in frames:
                w.add(f if f.dtype == np.uint8 else f.astype(np.float32))
                tick()
            w.meta["info"] = info
    return key, cache.frames_meta(key).get("info", {})


def degraded_frames(cache: Cache, deg_key: str, ref_key: str, ref_frames: Frames) -> Iterator[np.ndarray]:
    """The degraded frames (the reference's own when nothing degrades it)."""
    return ref_frames() if deg_key == ref_key else cache.read_frames(deg_key)
