"""Stage 1: an item's reference frames as scored (cropped to the scale's grid and prepared
by the chain's reference steps, cached; at scale 1 with no such step, the item's own frames)."""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from benchmark.api import Item
from benchmark.core.names import DatasetSpec
from benchmark.run.cache import Cache
from benchmark.run.keys import reference_key, reference_preps

Frames = Callable[[], Iterator[np.ndarray]]


def reference(cache: Cache, spec: DatasetSpec, item: Item, fingerprint: str | None = None) -> tuple[str, Frames]:
    """(cache key, a function that yields the frames) of ``item``'s reference on ``spec``."""
    fingerprint = item.fingerprint() if fingerprint is None else fingerprint
    preps = reference_preps(spec)
    s = spec.scale
    key = reference_key(spec, fingerprint)
    if s == 1 and not preps:
        return key, item.frames
    if not cache.has_frames(key):
        with cache.writer(key) as w:
            for f in item.frames():
                h, w_ = f.shape[:2]
                if h < s or w_ < s:  # nothing is left on the scale's grid
                    raise ValueError(
                        f"a {w_}x{h} frame is smaller than the scale x{s}: at least {s}x{s} pixels are needed"
                    )
                f = f[: h - h % s, : w_ - w_ % s]
                for d in preps:
                    f = d.prepare_reference(f)
                w.add(np.ascontiguousarray(f))
    return key, lambda: cache.read_frames(key)
