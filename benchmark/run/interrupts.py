"""SIGINT and SIGTERM during a run: the run records where it stopped and says how to resume."""

from __future__ import annotations

import contextlib
import signal
import threading
from pathlib import Path
from typing import Iterator

from benchmark.run.writer import ROWS_FILE


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by SIGINT or SIGTERM; its manifest says ``interrupted`` and the rows
    of its finished units are in ``rows.jsonl``."""

    def __init__(self, signal_name: str, out: Path | None = None, units_done: int = 0):
        super().__init__(signal_name)
        self.signal_name, self.out, self.units_done = signal_name, out, units_done

    @property
    def exit_code(self) -> int:
        return 128 + getattr(signal, self.signal_name, signal.SIGINT).value

    def __str__(self) -> str:
        where = (
            f"; the rows of its {self.units_done} finished unit(s) are in {self.out / ROWS_FILE}" if self.out else ""
        )
        return f"interrupted by {self.signal_name}{where}; rerun the same command to resume"


@contextlib.contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """SIGTERM raises :class:`RunInterrupted` in the main thread, and SIGINT (Ctrl-C)
    KeyboardInterrupt, so the run can record where it stopped. SIGINT's handler is installed
    too: a process started in the background by a non-interactive shell inherits SIGINT as
    ignored, and `kill -INT` would then not stop the run. Elsewhere: nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise RunInterrupted(signal.Signals(signum).name)

    old_term = signal.signal(signal.SIGTERM, handler)
    old_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGINT, old_int)
