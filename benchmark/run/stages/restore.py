"""Stage 3: a method's output on a degraded input (batched, streamed, timed, cached).

Float degraded frames (e.g. Gaussian noise kept unrounded) reach a method that ``takes_float``
as they are; any other method gets them rounded and clipped to uint8, and its output's meta
says so (``input``), which the rows carry in ``method_version``. Outputs are uint8 either way."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable

import numpy as np

from benchmark.api import Context, Method
from benchmark.core.names import DatasetSpec
from benchmark.core.overlap import restore_overlapped
from benchmark.run.cache import Cache
from benchmark.run.keys import float_input, output_key, passes_through
from benchmark.run.measure import device_label
from benchmark.run.stages.degrade import as_uint8

#: what an 8-bit-only method's rows say when its float input was rounded for it
ROUNDED_INPUT = "uint8-input"


def restore(
    cache: Cache,
    method: Method,
    spec: DatasetSpec,
    ctx: Context,
    deg_key: str,
    deg_iter: Iterable[np.ndarray],
    batch_size: int,
    tick: Callable[[], None],
    setup: Callable[[Method], None],
    probe=None,
) -> tuple[str, dict[str, Any], bool]:
    """(output key, its frames' meta, whether it was computed now). ``setup`` readies the
    method (once per process) before its first uncached output; a pass-through method's
    output is its cached input itself. The meta of a computed output keeps each frame's
    latency (``latency_ms``: a call's seconds over its frames) and the ``device``. ``probe``
    (a :class:`~benchmark.run.stages.cost.CostProbe`) measures the method's cost on the way."""
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

    def noted(frames: Iterable[np.ndarray]):
        for f in frames:
            rounded[0] |= f.dtype != np.uint8
            yield f

    frames = deg_iter if method.takes_float else as_uint8(noted(deg_iter))
    base = base_output(cache, method, spec, deg_key, ctx.seed)
    if base is not None:
        ctx = dataclasses.replace(ctx, base_frames=base)

    latencies: list[float] = []
    reused = [0]  # the base's cached frames handed out so far

    def timed(dt: float, n: int) -> None:
        nonlocal seconds
        if probe is not None:  # what measuring the cost added to this call is not the method's time
            dt = max(dt - probe.take_overhead(), 0.0)
        seconds += dt
        if base is not None:  # a frame taken from the base's cached output costs the base's measured time
            dt, reused[0] = dt + (base.hits - reused[0]) * base.seconds_per_frame, base.hits
        latencies.extend([round(1e3 * dt / max(n, 1), 4)] * n)

    frames, runner = probe.attach(frames, batch_size) if probe is not None else (frames, method)
    with cache.writer(key) as w:

        def keep(out: np.ndarray, _frame, _extra) -> None:  # on a thread of its own: PNG encoding behind the method
            w.add(out)
            tick()

        # the input read (decoded from the cache) ahead and the output written behind, overlapping the method
        restore_overlapped(runner, ((f, None) for f in frames), ctx, batch_size, keep, timed)
        if base is not None and base.hits:  # the base's measured time for the frames taken from its cached output
            seconds += base.seconds_per_frame * base.hits
            w.meta["base_frames_reused"] = base.hits
        w.meta.update(seconds=seconds, method=method.identity(), latency_ms=latencies, device=device_label(ctx.device))
        if rounded[0]:
            w.meta["input"] = ROUNDED_INPUT
    return key, cache.frames_meta(key), True


class CachedOutput:
    """A cached output read in clip order, frame by frame: ``self(i)`` is frame ``i``, or None
    for a frame already passed or beyond the clip (the caller computes it then)."""

    def __init__(self, cache: Cache, key: str):
        meta = cache.frames_meta(key)
        self.frames = int(meta["frames"])
        self.seconds_per_frame = float(meta.get("seconds") or 0.0) / max(self.frames, 1)
        self._it = cache.read_frames(key)
        self._index, self.hits = -1, 0

    def __call__(self, i: int) -> np.ndarray | None:
        if i <= self._index or i >= self.frames:
            return None
        while self._index < i:
            frame, self._index = next(self._it), self._index + 1
        self.hits += 1
        return frame


def base_output(cache: Cache, method: Method, spec: DatasetSpec, deg_key: str, seed: int) -> CachedOutput | None:
    """The cached output of ``method``'s base method on the same input (``tsmooth:base=gan``
    after ``gan`` in one run), for the method to read instead of running its base again: the
    same frames (a frame method's output does not depend on its batch). None when there is no
    base, it is not cached, or the input is float (the base's own unit saw it unrounded)."""
    base = method.base
    if base is None or float_input(spec) or passes_through(base, spec):
        return None
    key = output_key(base, spec, deg_key, seed)
    return CachedOutput(cache, key) if cache.has_frames(key) else None


def input_note(meta: dict[str, Any]) -> str:
    """``"+uint8-input"`` for an output computed from float input rounded to uint8, else ``""``."""
    return f"+{meta['input']}" if meta.get("input") else ""
