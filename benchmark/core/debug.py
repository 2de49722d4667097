"""``BENCH_DEBUG=1``: print the traceback of an error that becomes an error row."""

from __future__ import annotations

import traceback

from benchmark.core import environment


def debug(exc: BaseException) -> None:
    if environment.debug():
        traceback.print_exception(exc)
