"""One downloader for model files (``bench models fetch``) and data sets (``bench data fetch``).

A download goes to ``<dest>.part``, resumes it with an HTTP range request when the file is
already partly there (and starts over when the server ignores the range), checks the size and
the SHA-256, and only then takes its final name. Every failure is a :class:`BenchError` that
says what was being fetched, from where, and how to provide the file by hand (``hint``);
``timeout`` bounds each wait on the network, so an offline machine fails at once.
"""

from __future__ import annotations

import os
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

from benchmark.core.imaging import sha256_file
from benchmark.errors import BenchError

USER_AGENT = "bench-enhance (https://example.invalid/bench)"


def download(
    url: str,
    dest: Path,
    *,
    what: str,
    hint: str,
    sha256: str | None = None,
    size: int | None = None,
    timeout: float = 30.0,
    on_progress: Callable[[int, int | None], None] | None = None,
    chunk: int = 1 << 20,
) -> dict[str, Any]:
    """Fetch ``url`` into ``dest`` (see the module docstring). ``what`` names the thing in
    errors (``zoo model 'x'``); ``hint`` ends them (``Offline: <hint>.``). Returns ``path``,
    ``sha256``, ``verified`` (a known checksum matched), ``downloaded`` and ``resumed_from``
    (bytes). An existing ``dest`` is verified, not fetched again."""
    dest = Path(dest)
    if dest.is_file():
        try:
            info = verify(dest, sha256, what, url)
        except BenchError as exc:
            raise BenchError(f"{exc} Delete {dest} and fetch again.") from None
        return {"path": str(dest), **info, "downloaded": 0, "resumed_from": 0}
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    if size and offset > size:
        part.unlink()
        offset = 0
    downloaded = 0
    if not (size and offset == size):  # else: complete, only unverified
        headers = {"User-Agent": USER_AGENT}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:  # nothing past what we have: the .part is whole
                resp = None
            else:
                raise BenchError(
                    f"{what}: {url} answered HTTP {exc.code} {exc.reason}. Offline or blocked: {hint}."
                ) from None
        except (urllib.error.URLError, OSError, socket.timeout) as exc:
            reason = getattr(exc, "reason", exc)
            raise BenchError(f"{what}: cannot reach {url} ({reason}). Offline: {hint}.") from None
        if resp is not None:
            with resp:
                if offset and resp.status != 206:  # the server ignored the range: start over
                    offset = 0
                length = resp.headers.get("Content-Length")
                total = offset + int(length) if length and length.isdigit() else size
                with open(part, "ab" if offset else "wb") as f:
                    while True:
                        try:
                            block = resp.read(chunk)
                        except (OSError, socket.timeout) as exc:
                            raise BenchError(
                                f"{what}: download interrupted after {offset + downloaded:,} bytes ({exc}); "
                                f"run the same command again to resume from {part}."
                            ) from None
                        if not block:
                            break
                        f.write(block)
                        downloaded += len(block)
                        if on_progress is not None:
                            on_progress(offset + downloaded, total)
    got = part.stat().st_size
    if size and got != size:
        if got > size:
            part.unlink()
        raise BenchError(
            f"{what}: got {got:,} bytes from {url}, expected {size:,}"
            + (f"; run the same command again to resume from {part}." if got < size else "; removed it.")
        )
    info = verify(part, sha256, what, url, remove=True)
    os.replace(part, dest)
    return {"path": str(dest), **info, "downloaded": downloaded, "resumed_from": offset}


def verify(path: Path, sha256: str | None, what: str, url: str, remove: bool = False) -> dict[str, Any]:
    """``{"sha256", "verified"}`` of ``path``; a mismatch with a known ``sha256`` is an error
    (and, with ``remove``, deletes the file)."""
    sha = sha256_file(path)
    if sha256 and sha != sha256:
        if remove:
            path.unlink()
        raise BenchError(
            f"{what}: {path.name} has sha256 {sha}, expected {sha256}: "
            f"{'removed it; ' if remove else ''}the file at {url} is not the one recorded, or it was damaged in transit."
        )
    return {"sha256": sha, "verified": bool(sha256)}
