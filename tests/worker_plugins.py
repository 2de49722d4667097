"""Methods for the executor tests, at module level so that worker processes (spawned,
or Ray workers) can import them by name."""

import os
import signal
import time
from pathlib import Path

from benchmark.api import Method


class Mortal(Method):
    """Identity that dies like an OOM kill (SIGKILL on its own process) on the items that
    have a marker file in ``marks``: ``once-<item>`` is removed before dying (the retry
    succeeds), ``always-<item>`` stays (every attempt dies). Before each item it writes
    ``running-<item>`` (its pid) and sleeps ``slow`` seconds, so that a test can kill it
    from outside mid-run."""

    name = "mortal"
    scale = None

    def __init__(self, marks: str, slow: float = 0.0):
        super().__init__(marks=marks, slow=float(slow))
        self.marks, self.slow = Path(marks), float(slow)

    def process(self, frames, ctx):
        (self.marks / f"running-{ctx.item_id}").write_text(str(os.getpid()))
        time.sleep(self.slow)
        once = self.marks / f"once-{ctx.item_id}"
        if once.exists():
            once.unlink()
            os.kill(os.getpid(), signal.SIGKILL)
        if (self.marks / f"always-{ctx.item_id}").exists():
            os.kill(os.getpid(), signal.SIGKILL)
        with open(self.marks / "calls", "a") as f:
            f.write(f"{ctx.item_id} {os.getpid()}\n")
        return frames
