"""Stage 3: a method's output on a degraded input (batched, streamed, timed, cached).

Float degraded frames (e.g. Gaussian noise kept unrounded) reach a method that ``takes_float``
as they are; any other method gets them rounded and clipped to uint8, and its output's meta
says so (``input``), which the rows carry in ``method_version``. Outputs are uint8 either way."""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from ..api import Context, Method, restore_stream
from ..cache import Cache
from ..keys import output_key, passes_through
from ..names import DatasetSpec
from .degrade import as_uint8

#: what an 8-bit-only method's rows say when its float input was rounded for it
ROUNDED_INPUT = "uint8-input"


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
    rounded = [False]

    def eight_bit(frames: Iterable[np.ndarray]):
        for f in frames:
            rounded[0] |= f.dtype != np.uint8
            yield from as_uint8([f])

    frames = deg_iter if getattr(method, "takes_float", False) else eight_bit(deg_iter)

    def timed(dt: float, n: int) -> None:
        nonlocal seconds
        seconds += dt

    with cache.writer(key) as w:
        for arr in restore_stream(method, frames, ctx, batch_size, timed):
            w.add(arr)
            tick()
        w.meta.update(seconds=seconds, method=method.identity())
        if rounded[0]:
            w.meta["input"] = ROUNDED_INPUT
    return key, cache.frames_meta(key), True


def input_note(meta: dict[str, Any]) -> str:
    """``"+uint8-input"`` for an output computed from float input rounded to uint8, else ``""``."""
    return f"+{meta['input']}" if meta.get("input") else ""
