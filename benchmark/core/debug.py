"""``BENCH_DEBUG=1``: print the traceback of an error that becomes an error row."""

from __future__ import annotations

import os
import traceback


def debug(exc: BaseException) -> None:
    if os.environ.get("BENCH_DEBUG"):
        traceback.print_exception(exc)
