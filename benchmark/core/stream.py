"""The one driver of a method over a clip (:func:`restore_stream`, re-exported by :mod:`benchmark.api`):
``bench run``, ``bench enhance`` and ``--realtime`` all call it, so a method's window, batches and
clip resets mean the same everywhere."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

import numpy as np

Method = Context = Any  # benchmark.api's, which imports this module (annotations only)


def restore_stream(
    method: Method,
    frames: Iterable[np.ndarray],
    ctx: Context,
    batch_size: int,
    on_batch: Callable[[float, int], None] | None = None,
) -> Iterator[np.ndarray]:
    """Run ``method`` over one clip's frames in order and yield its checked uint8 outputs,
    one per input frame, holding at most ``past + batch_size + future`` input frames.

    Calls ``start_clip`` first, hands each batch its past/future context (``Method.window``)
    and reports the seconds spent inside ``process`` and the batch length to ``on_batch``."""
    import dataclasses
    import time

    from benchmark.core.imaging import check_outputs

    past, future = method.window
    method.start_clip(ctx)
    it = iter(frames)
    pending: list[np.ndarray] = []  # frames not yet restored, then the look-ahead
    history: list[np.ndarray] = []  # up to `past` frames before pending[0]
    index, exhausted = 0, False
    while True:
        while not exhausted and len(pending) < batch_size + future:
            nxt = next(it, None)
            if nxt is None:
                exhausted = True
            else:
                pending.append(nxt)
        if not pending:
            return
        core, after = pending[:batch_size], pending[batch_size : batch_size + future]
        c = dataclasses.replace(ctx, context=(len(history), len(after)), first_frame=index)
        t0 = time.perf_counter()
        outs = method.process(history + core + after, c)
        if on_batch is not None:
            on_batch(time.perf_counter() - t0, len(core))
        yield from check_outputs(method.name, core, outs, ctx.scale, index)
        history = (history + core)[-past:] if past else []
        del pending[: len(core)]
        index += len(core)
