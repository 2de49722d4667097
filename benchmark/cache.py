"""Content-addressed cache of frames (degraded inputs, method outputs) and scores.

A key is the sha256 of (kind, name, version, result-changing parameters, input
keys) -- see :func:`benchmark.api.digest`. Paths, batch size and device never enter
a key. Every entry is written to a temporary name and renamed into place, so a run
killed at any point leaves either a complete entry or none.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .imaging import read_image, write_png

ENV_CACHE = "BENCH_CACHE_DIR"


def frames_dir(root: str | os.PathLike, key: str) -> Path:
    """Where the frame set ``key`` lives under a cache root (readers that must not open a
    :class:`Cache`, which tidies the root's tmp folder, use this)."""
    return Path(root) / "frames" / key[:2] / key


def default_cache_dir() -> Path:
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bench"


class FrameWriter:
    def __init__(self, cache: "Cache", key: str):
        self.cache, self.key = cache, key
        self.tmp = cache.tmp_path(key)
        self.tmp.mkdir(parents=True)
        self.n = 0
        self.shape: tuple[int, ...] | None = None
        self.meta: dict[str, Any] = {}

    def add(self, frame: np.ndarray) -> None:
        write_png(self.tmp / f"{self.n:06d}.png", frame)
        self.shape = tuple(frame.shape)
        self.n += 1

    def commit(self) -> dict[str, Any]:
        meta = {**self.meta, "frames": self.n, "shape": self.shape}
        (self.tmp / "meta.json").write_text(json.dumps(meta))
        final = self.cache.frames_path(self.key)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(self.tmp, final)
        except OSError:  # another process finished it first
            shutil.rmtree(self.tmp, ignore_errors=True)
        return meta

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> "FrameWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


class Cache:
    def __init__(self, root: Path):
        self.root = Path(root)
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        self._clean_stale()

    def _clean_stale(self) -> None:
        for p in (self.root / "tmp").iterdir():
            try:
                pid = int(p.name.split(".")[1])
                os.kill(pid, 0)
            except ProcessLookupError:
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            except (ValueError, IndexError, PermissionError):
                continue

    def tmp_path(self, key: str) -> Path:
        return self.root / "tmp" / f"{key}.{os.getpid()}.{uuid.uuid4().hex[:8]}"

    # frames
    def frames_path(self, key: str) -> Path:
        return frames_dir(self.root, key)

    def has_frames(self, key: str) -> bool:
        return (self.frames_path(key) / "meta.json").exists()

    def frames_meta(self, key: str) -> dict[str, Any]:
        return json.loads((self.frames_path(key) / "meta.json").read_text())

    def read_frames(self, key: str) -> Iterator[np.ndarray]:
        d = self.frames_path(key)
        for i in range(self.frames_meta(key)["frames"]):
            yield read_image(d / f"{i:06d}.png")

    def writer(self, key: str) -> FrameWriter:
        return FrameWriter(self, key)

    # json (scores)
    def json_path(self, key: str) -> Path:
        return self.root / "scores" / key[:2] / f"{key}.json"

    def get_json(self, key: str) -> Any | None:
        p = self.json_path(key)
        if not p.exists():
            return None
        try:
            return json.loads(p.read_text())
        except json.JSONDecodeError:
            return None

    def put_json(self, key: str, value: Any) -> None:
        p = self.json_path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.tmp_path(key)
        tmp.write_text(json.dumps(value))
        os.replace(tmp, p)
