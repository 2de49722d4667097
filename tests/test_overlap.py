"""Stream stages on threads (benchmark/core/overlap.py): order kept, memory bounded, failures raised
where the stream's owner sees them, and no thread left behind when a stream stops early."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from benchmark.core.overlap import Behind, ahead


def threads(prefix: str) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(prefix)]


def test_ahead_keeps_order_and_stays_bounded():
    made = []

    def source():
        for i in range(50):
            made.append(i)
            yield i

    out = []
    for i in ahead(source(), depth=3, name="t-ahead"):
        time.sleep(0.001)
        assert len(made) - len(out) <= 3 + 2  # the queue, the item in hand, the one being put
        out.append(i)
    assert out == list(range(50)) and not threads("t-ahead")


def test_ahead_raises_the_producers_failure_at_its_place():
    def source():
        yield 1
        yield 2
        raise ValueError("damaged at frame 3")

    got = []
    with pytest.raises(ValueError, match="frame 3"):
        for x in ahead(source(), name="t-fail"):
            got.append(x)
    assert got == [1, 2] and not threads("t-fail")


def test_a_consumer_that_stops_early_stops_the_producer():
    closed = threading.Event()

    def source():
        try:
            for i in range(10_000):
                yield i
        finally:
            closed.set()

    stream = ahead(source(), depth=2, name="t-stop")
    assert next(stream) == 0
    stream.close()
    assert closed.wait(2) and not threads("t-stop")


def test_behind_writes_in_order_and_raises_the_sinks_failure():
    written = []
    with Behind(written.append, depth=2, name="t-behind") as w:
        for i in range(20):
            w.put(i)
    assert written == list(range(20)) and not threads("t-behind")

    def sink(x):
        if x == 3:
            raise OSError("disk full")

    w = Behind(sink, depth=1, name="t-full")
    with pytest.raises(OSError, match="disk full"):
        for i in range(100):
            w.put(i)
        w.close()
    w.abort()
    assert not threads("t-full")


def test_behind_left_on_an_exception_drops_what_waits():
    written = []

    def slow(x):
        time.sleep(0.01)
        written.append(x)

    with pytest.raises(KeyboardInterrupt):
        with Behind(slow, depth=50, name="t-abort") as w:
            for i in range(50):
                w.put(i)
            raise KeyboardInterrupt
    assert len(written) < 50 and not threads("t-abort")


def test_a_method_between_a_source_read_ahead_and_a_sink_behind():
    from benchmark.api import Context, Method
    from benchmark.core.overlap import restore_overlapped

    class Plus(Method):
        name = "plus"

        def process(self, frames, ctx):
            return [f + 1 for f in frames]

    items = [(np.full((2, 2, 3), i, np.uint8), i) for i in range(10)]
    items.insert(3, (None, "packet"))  # an audio packet: straight to the sink, past the frames waiting
    got = []
    n = restore_overlapped(
        Plus(), iter(items), Context(), 4, lambda o, f, x: got.append((x, None if o is None else int(o[0, 0, 0])))
    )
    frames = [g for g in got if g[0] != "packet"]
    assert n == 10 and frames == [(i, i + 1) for i in range(10)] and ("packet", None) in got
    assert not threads("bench-")

    class Broken(Plus):
        def process(self, frames, ctx):
            raise RuntimeError("the network failed")

    with pytest.raises(RuntimeError, match="network failed"):
        restore_overlapped(Broken(), iter(items), Context(), 4, lambda *a: None)
    assert not threads("bench-")
