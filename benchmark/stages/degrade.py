"""Stage 2: the degraded input, the reference run through the data set's chain (cached);
the codec's measurements (bpp, bitrate) are kept with the frames."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np

from ..api import Item
from ..cache import Cache
from ..keys import degraded_key
from ..names import DatasetSpec
from .reference import Frames


def degrade(cache: Cache, spec: DatasetSpec, item: Item, ref_key: str, ref_frames: Frames,
            tick: Callable[[], None] = lambda: None) -> tuple[str, dict[str, Any]]:
    """(cache key, codec info) of ``item``'s degraded input: its reference's key when the chain is empty."""
    if not spec.chain:
        return ref_key, {}
    key = degraded_key(spec, ref_key)
    if not cache.has_frames(key):
        info: dict[str, Any] = {}
        frames: Iterator[np.ndarray] = ref_frames()
        for d in spec.chain:
            frames = d.apply_frames(frames, item.fps, info)
        with cache.writer(key) as w:
            for f in frames:
                w.add(f)
                tick()
            w.meta["info"] = info
    return key, cache.frames_meta(key).get("info", {})


def degraded_frames(cache: Cache, deg_key: str, ref_key: str, ref_frames: Frames) -> Iterator[np.ndarray]:
    """The degraded frames (the reference's own when nothing degrades it)."""
    return ref_frames() if deg_key == ref_key else cache.read_frames(deg_key)
