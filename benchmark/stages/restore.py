"""Stage 3: a method's output on a degraded input (batched, streamed, timed, cached)."""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from ..api import Context, Method, restore_stream
from ..cache import Cache
from ..keys import output_key, passes_through
from ..names import DatasetSpec


def restore(cache: Cache, method: Method, spec: DatasetSpec, ctx: Context, deg_key: str, deg_iter: Iterable[np.ndarray],
            batch_size: int, tick: Callable[[], None], setup: Callable[[Method], None]) -> tuple[str, dict[str, Any], bool]:
    """(output key, its frames' meta, whether it was computed now). ``setup`` readies the
    method (once per process) before its first uncached output; a pass-through method's
    output is its cached input itself."""
    if passes_through(method, spec) and cache.has_frames(deg_key):
        meta = cache.frames_meta(deg_key)  # the output is the input: score the degraded frames themselves
        for _ in range(meta["frames"]):
            tick()
        return deg_key, {**meta, "seconds": 0.0, "method": method.identity()}, False
    key = output_key(method, spec, deg_key, ctx.seed)
    if cache.has_frames(key):
        return key, cache.frames_meta(key), False
    setup(method)
    seconds = 0.0

    def timed(dt: float, n: int) -> None:
        nonlocal seconds
        seconds += dt

    with cache.writer(key) as w:
        for arr in restore_stream(method, deg_iter, ctx, batch_size, timed):
            w.add(arr)
            tick()
        w.meta.update(seconds=seconds, method=method.identity())
    return key, cache.frames_meta(key), True
