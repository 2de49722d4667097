"""Stages of a stream on their own threads, joined by bounded queues, so that decoding, conversion
and encoding overlap the network (``bench enhance``, the restore stage, ``bench serve``'s jobs).

* :func:`ahead`: an iterator produced on a thread of its own, at most ``depth`` items ahead of its
  consumer (a decoder: it reads and converts while the network runs).
* :class:`Behind`: a consumer on a thread of its own, fed through a queue of at most ``depth`` items
  (an encoder or a cache writer: it writes while the network runs on the next batch).
* :func:`restore_overlapped`: a method over a stream between the two (:func:`benchmark.api.restore_stream`
  on the calling thread, the source read ahead, every output handed to a sink behind).

Order is kept; memory is bounded by the depths. A failure on either side is raised where the
stream's owner sees it: a producer's exception in the consumer at the item it stopped at, a sink's
at the next ``put`` or at ``close``; stopping early (an exception, Ctrl-C, a consumer that stops
reading) stops the other thread, which never outlives the stream. The work that overlaps is the
work that releases the GIL: FFmpeg's decoders, scalers and encoders, zlib, OpenCV, torch and
OpenVINO kernels.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

_DONE = object()
POLL_S = 0.1  # how often a blocked thread looks whether the other side stopped


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


def ahead(source: Iterable[Any], depth: int = 8, name: str = "bench-ahead") -> Iterator[Any]:
    """``source``'s items, produced on a thread of their own at most ``depth`` ahead."""
    q: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(_Failure(exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001 - a generator closed on the way out
                    pass

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join()


class Behind:
    """``sink(item)`` for every ``put(item)``, in order, on a thread of its own (at most ``depth``
    items waiting). ``close()`` waits for the last one and raises the sink's failure, if any; use it
    as a context manager (leaving on an exception drops what waits and stops the thread)."""

    def __init__(self, sink: Callable[[Any], None], depth: int = 8, name: str = "bench-behind"):
        self.sink = sink
        self.q: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self.stop = threading.Event()
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                item = self.q.get(timeout=POLL_S)
            except queue.Empty:
                if self.stop.is_set():
                    return
                continue
            if item is _DONE:
                return
            if self.failure is not None or self.stop.is_set():
                continue  # drain: the owner learns of the failure at its next put
            try:
                self.sink(item)
            except BaseException as exc:  # noqa: BLE001 - raised in the owner's thread
                self.failure = exc

    def _raise(self) -> None:
        if self.failure is not None:
            exc, self.failure = self.failure, None
            raise exc

    def put(self, item: Any) -> None:
        self._raise()
        while True:
            try:
                self.q.put(item, timeout=POLL_S)
                return
            except queue.Full:
                self._raise()
                if not self.thread.is_alive():  # pragma: no cover - the sink thread ended early
                    raise RuntimeError("the writer thread stopped")

    def close(self) -> None:
        """Wait for every item put so far, then raise the sink's failure, if any."""
        if self.thread.is_alive():
            while True:
                try:
                    self.q.put(_DONE, timeout=POLL_S)
                    break
                except queue.Full:
                    if not self.thread.is_alive():
                        break
            self.thread.join()
        self._raise()

    def abort(self) -> None:
        """Stop without waiting for what is queued (an error or Ctrl-C upstream)."""
        self.stop.set()
        try:
            while True:
                self.q.get_nowait()
        except queue.Empty:
            pass
        self.thread.join()

    def __enter__(self) -> Behind:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def restore_overlapped(
    method: Any,
    items: Iterable[tuple[Any, Any]],
    ctx: Any,
    batch: int,
    sink: Callable[[Any, Any, Any], None],
    on_batch: Callable[[float, int], None] | None = None,
    depth: int | None = None,
) -> int:
    """``method`` over a stream, read ahead and written behind; returns the frames restored.

    ``items`` yields ``(frame, extra)`` (it runs on a thread of its own: decoding, conversion);
    ``sink(output, frame, extra)`` gets each frame's output with its input and extra, in order (on a
    thread of its own: encoding, writing). An item whose frame is None (an audio packet to copy)
    goes to ``sink(None, None, extra)`` as it arrives, past the frames waiting for the network. At
    most ``depth`` (default two batches) items wait on each side."""
    from benchmark.api import restore_stream

    depth = depth or 2 * max(1, batch)
    waiting: deque = deque()
    source = ahead(items, depth, "bench-decode")
    count = 0
    with Behind(lambda job: sink(*job), depth, "bench-encode") as behind:

        def frames() -> Iterator[Any]:
            for frame, extra in source:
                if frame is None:
                    behind.put((None, None, extra))
                    continue
                waiting.append((frame, extra))
                yield frame

        try:
            for out in restore_stream(method, frames(), ctx, batch, on_batch):
                frame, extra = waiting.popleft()
                behind.put((out, frame, extra))
                count += 1
        finally:
            source.close()
    return count
