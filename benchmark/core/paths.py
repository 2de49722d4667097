"""Paths a user typed: ``~`` and ``~name`` expanded, and a ``~name`` of no such user one clear
error instead of pathlib's RuntimeError."""

from __future__ import annotations

import os
from pathlib import Path

from benchmark.errors import BenchError


def expand(path: str | os.PathLike) -> Path:
    """``path`` with ``~``/``~user`` expanded (:meth:`pathlib.Path.expanduser`); a home folder
    that cannot be found is a :class:`BenchError` naming the path."""
    try:
        return Path(path).expanduser()
    except RuntimeError as exc:  # '~nosuchuser/x', or '~' with no HOME and no passwd entry
        user = str(path).split("/", 1)[0]
        raise BenchError(
            f"{path}: {user!r} names no home folder here ({exc}); give the path without '~' or with an existing user's"
        ) from None
    except ValueError:  # '~\x00': the home lookup refuses a NUL byte (Hypothesis found it)
        raise BenchError(f"{path!r}: a path cannot contain a NUL byte") from None
