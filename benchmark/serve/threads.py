"""Worker threads the server never waits for when it stops.

``concurrent.futures.ThreadPoolExecutor`` joins its workers when the interpreter exits, and
``asyncio.run`` joins the default executor's: a job running a network on a large upload, or a
leaderboard site being built for an open page, kept ``bench serve`` alive after Ctrl-C until it
finished (17 s, or as long as the job takes). :class:`DaemonPool` runs its work on daemon threads
and its ``shutdown`` cancels what is queued without waiting for what runs: what was cut off is
marked by its owner (a job as stopped, :mod:`.jobs`; the site is rebuilt on the next start).

It is a ``ThreadPoolExecutor`` by type only, because ``loop.set_default_executor`` takes nothing
else; none of that class's own machinery is used."""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

_POOLS: "weakref.WeakSet[DaemonPool]" = weakref.WeakSet()


def busy() -> int:
    """How many calls the process's :class:`DaemonPool` workers are inside now."""
    return sum(p.running for p in list(_POOLS))


def end_if_busy(code: int = 0) -> None:
    """End the process now (``os._exit``, after flushing the logs and the standard streams) when a worker is still
    inside a call: the interpreter's own exit would run the C++ runtime's exit under it, and a worker inside torch
    then aborts the process ("terminate called without an active exception", SIGABRT). Nothing else is waited for."""
    if busy():
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


class DaemonPool(ThreadPoolExecutor):
    """At most ``max_workers`` daemon threads, started as work arrives; ``shutdown`` never waits."""

    def __init__(self, max_workers: int | None = None, thread_name_prefix: str = "bench-worker"):
        max_workers = max_workers or min(32, (os.cpu_count() or 1) + 4)
        super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix)  # starts no thread
        self._todo: queue.SimpleQueue = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)  # workers waiting for work
        self._guard = threading.Lock()
        self._workers: list[threading.Thread] = []
        self._closed = False
        self.running = 0  # calls inside a worker now
        _POOLS.add(self)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        with self._guard:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._todo.put((future, fn, args, kwargs))
            if not self._idle.acquire(blocking=False) and len(self._workers) < self._max_workers:
                t = threading.Thread(
                    target=self._work, name=f"{self._thread_name_prefix}-{len(self._workers)}", daemon=True
                )
                self._workers.append(t)
                t.start()
        return future

    def _work(self) -> None:
        while True:
            item = self._todo.get()
            if item is None:
                return
            future, fn, args, kwargs = item
            if future.set_running_or_notify_cancel():
                with self._guard:
                    self.running += 1
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:  # the caller's future carries it
                    future.set_exception(exc)
                else:
                    future.set_result(result)
                finally:
                    with self._guard:
                        self.running -= 1
                del future, fn, args, kwargs, item
            self._idle.release()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Take no more work and cancel what is queued; what runs is not waited for (``wait`` is ignored:
        its daemon thread ends with the process)."""
        with self._guard:
            self._closed = True
            workers = len(self._workers)
        while True:
            try:
                item = self._todo.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[0].cancel()
        for _ in range(workers):
            self._todo.put(None)


class CutAtStop:
    """ASGI middleware: a request still in flight when a stop's grace period is over (uvicorn then cancels
    it: :data:`.app.STOP_GRACE_S`) is answered 503 "the server is stopping" if nothing was sent yet, instead
    of ending in a traceback in the log (``CancelledError``) and a 500."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        import asyncio

        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def sending(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except asyncio.CancelledError:
            if started:
                raise
            body = b'{"error": "the server is stopping; try again when it is back"}'
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
