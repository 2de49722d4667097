"""Content-addressed cache of frames (degraded inputs, method outputs) and scores.

A key is the sha256 of (kind, name, version, result-changing parameters, input
keys) -- see :func:`benchmark.api.digest`. Paths, batch size and device never enter
a key. Every entry is written to a temporary name and renamed into place, so a run
killed at any point leaves either a complete entry or none, and runs sharing a cache
never see half an entry.

Frames are stored as PNG (uint8, the usual case) or, for a float frame set (a noisy input kept
unrounded, ``meta["dtype"] = "float32"``), as float32 ``.npy`` files.

Every entry carries a checksum over its key and content: a frame set's ``meta.json``
holds the SHA-256 of each frame file and a digest of itself with the key; a score file
holds its key, its value and a digest of both. A damaged entry (a changed byte, a
planted value, a garbled or missing ``meta.json``, a missing frame) is discarded with a
warning when it is read, and computed again; ``bench cache verify [--fix]`` checks a
whole cache. Entries written before checksums existed are treated as absent.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from benchmark.api import digest
from benchmark.core import environment
from benchmark.core.imaging import decode_image, encode_png
from benchmark.core.paths import expand as expand_path
from benchmark.errors import warn

FORMAT = 2  # 2: checksummed entries


COSTS_FILE = "costs.json"


class CacheDamaged(Exception):
    """A cache entry failed its integrity check; it has been removed (compute it again)."""


ENV_CACHE = environment.CACHE_DIR


def frames_dir(root: str | os.PathLike, key: str) -> Path:
    """Where the frame set ``key`` lives under a cache root (readers that must not open a
    :class:`Cache`, which tidies the root's tmp folder, use this)."""
    return Path(root) / "frames" / key[:2] / key


def default_cache_dir() -> Path:
    env = environment.get(environment.CACHE_DIR)
    if env:
        return expand_path(env)
    base = environment.get(environment.XDG_CACHE_HOME) or str(Path.home() / ".cache")
    return Path(base) / "bench"


class FrameWriter:
    def __init__(self, cache: "Cache", key: str):
        self.cache, self.key = cache, key
        self.tmp = cache.tmp_path(key)
        self.tmp.mkdir(parents=True)
        self.n = 0
        self.hashes: list[str] = []
        self.shape: tuple[int, ...] | None = None
        self.meta: dict[str, Any] = {}
        self.dtype: str | None = None  # None: uint8 PNG frames

    def add(self, frame: np.ndarray) -> None:
        """Append a frame: uint8 as PNG; float (a noisy input kept unrounded) as float32 ``.npy``,
        exact to 2^-24 relative (~1e-5 on the 0-255 scale, far below 0.001 dB)."""
        if frame.dtype != np.uint8 and self.n == 0:
            self.dtype = FLOAT_DTYPE
        if (frame.dtype == np.uint8) != (self.dtype is None):
            raise ValueError(f"frame {self.n} is {frame.dtype}; a frame set is all uint8 or all float")
        data = encode_png(frame) if self.dtype is None else encode_npy(frame)
        (self.tmp / frame_name(self.n, self.dtype)).write_bytes(data)
        self.hashes.append(hashlib.sha256(data).hexdigest())
        self.shape = tuple(frame.shape)
        self.n += 1

    def commit(self) -> dict[str, Any]:
        meta = {**self.meta, "frames": self.n, "shape": self.shape, "files": self.hashes}
        if self.dtype is not None:  # uint8 sets keep the meta they always had
            meta["dtype"] = self.dtype
        meta = seal(self.key, meta)
        (self.tmp / "meta.json").write_text(json.dumps(meta))
        final = self.cache.frames_path(self.key)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists() and self.cache.check_frames(self.key) is not None:  # a damaged or old entry is in the way
            self.cache.discard_frames(self.key)
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

    def _meta(self, key: str) -> dict[str, Any]:
        """The checked meta.json of a frame set; raises OSError when absent, ValueError when damaged."""
        raw = (self.frames_path(key) / "meta.json").read_bytes()
        try:
            meta = json.loads(raw)
        except ValueError as exc:  # UnicodeDecodeError too
            raise ValueError(f"not JSON ({type(exc).__name__})") from None
        problem = unsealed(key, meta)
        if problem:
            raise ValueError(problem)
        return meta

    def check_frames(self, key: str, files: bool = False) -> str | None:
        """None when the frame set ``key`` is intact, else what is wrong (``files``: also
        hash every frame file, as ``bench cache verify`` does)."""
        d = self.frames_path(key)
        if not (d / "meta.json").exists():
            return "meta.json is missing" if d.exists() else "absent"
        try:
            meta = self._meta(key)
        except (OSError, ValueError) as exc:
            return "legacy" if _legacy_meta(d) else f"meta.json: {exc}"
        for i, sha in enumerate(meta["files"] if files else []):
            name = frame_name(i, meta.get("dtype"))
            try:
                if hashlib.sha256((d / name).read_bytes()).hexdigest() != sha:
                    return f"frame {name} does not match its checksum"
            except OSError:
                return f"frame {name} is missing"
        return None

    def has_frames(self, key: str) -> bool:
        problem = self.check_frames(key)
        if problem is None:
            return True
        if problem not in ("absent", "legacy"):  # an entry of an older bench is replaced quietly
            self._damaged(key, problem, self.frames_path(key))
        return False

    def frames_meta(self, key: str) -> dict[str, Any]:
        try:
            return self._meta(key)
        except (OSError, ValueError) as exc:
            self._damaged(key, f"meta.json: {exc}", self.frames_path(key), say=False)  # the exception says it, once
            raise CacheDamaged(
                f"cache entry {key[:12]} ({self.frames_path(key)}) is damaged (meta.json: {exc}): discarded"
            ) from None

    def read_frames(self, key: str) -> Iterator[np.ndarray]:
        d = self.frames_path(key)
        meta = self.frames_meta(key)
        dtype = meta.get("dtype")
        for i, sha in enumerate(meta["files"]):
            p = d / frame_name(i, dtype)
            try:
                data = p.read_bytes()
            except OSError:
                data = None
            if data is None or hashlib.sha256(data).hexdigest() != sha:
                what = "is missing" if data is None else "does not match its checksum"
                self._damaged(key, f"frame {p.name} {what}", d, say=False)
                raise CacheDamaged(f"cache entry {key[:12]} ({d}) is damaged (frame {p.name} {what}): discarded")
            yield decode_image(data, p) if dtype is None else decode_npy(data, p)

    def discard_frames(self, key: str) -> None:
        """Move an entry out of the way atomically, then delete it (a concurrent reader
        sees it whole or not at all)."""
        d = self.frames_path(key)
        trash = self.tmp_path(key)
        try:
            os.rename(d, trash)
        except OSError:
            return
        shutil.rmtree(trash, ignore_errors=True)

    def _damaged(self, key: str, problem: str, path: Path, say: bool = True) -> None:
        if say:
            warn(f"cache entry {key[:12]} ({path}) is damaged ({problem}): discarded")
        if path.is_dir():
            self.discard_frames(key)
        else:
            trash = self.tmp_path(key)
            try:
                os.rename(path, trash)
                trash.unlink()
            except OSError:
                pass

    def writer(self, key: str) -> FrameWriter:
        return FrameWriter(self, key)

    # json (scores)
    def json_path(self, key: str) -> Path:
        return self.root / "scores" / key[:2] / f"{key}.json"

    def check_json(self, key: str) -> tuple[str | None, Any]:
        """(problem or None, value) of the score entry ``key``; problem "absent" when there is none."""
        p = self.json_path(key)
        try:
            raw = p.read_bytes()
        except FileNotFoundError:
            return "absent", None
        except OSError as exc:
            return f"unreadable ({exc.strerror})", None
        try:
            entry = json.loads(raw)
        except (UnicodeDecodeError, ValueError) as exc:
            return f"not JSON ({type(exc).__name__})", None
        if isinstance(entry, dict) and "format" not in entry:
            return "absent", None  # written by a bench without checksums: computed again, quietly
        problem = unsealed(key, entry)
        return (problem, None) if problem else (None, entry["value"])

    def get_json(self, key: str) -> Any | None:
        problem, value = self.check_json(key)
        if problem is None:
            return value
        if problem != "absent":
            self._damaged(key, problem, self.json_path(key))
        return None

    def put_json(self, key: str, value: Any) -> None:
        p = self.json_path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.tmp_path(key)
        tmp.write_text(json.dumps(seal(key, {"value": value})))
        os.replace(tmp, p)

    # measured unit times, for plan estimates (`bench run --dry-run`)
    def costs(self) -> dict[str, Any]:
        try:
            data = json.loads((self.root / COSTS_FILE).read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def record_costs(self, measured: list[tuple[str, str, int | None, float]]) -> None:
        """Add (cost key, method name, pixels or None, seconds) of finished units to the
        table (read-modify-replace: a concurrent run's update may be lost, never torn)."""
        if not measured:
            return
        data = self.costs()
        for key, name, pixels, seconds in measured:
            rec = data.setdefault(
                key, {"method": name, "units": 0, "seconds": 0.0, "px_units": 0, "px_seconds": 0.0, "pixels": 0}
            )
            rec["units"] += 1
            rec["seconds"] += seconds
            if pixels:
                rec["px_units"] += 1
                rec["px_seconds"] += seconds
                rec["pixels"] += pixels
        tmp = self.root / f".{COSTS_FILE}.{os.getpid()}.tmp"
        try:
            tmp.write_text(json.dumps(data))
            os.replace(tmp, self.root / COSTS_FILE)
        except OSError:
            pass  # an estimate only

    # the whole cache
    def entries(self) -> Iterator[tuple[str, str]]:
        """(kind, key) of every entry: ``frames`` or ``scores``."""
        for d in sorted((self.root / "frames").glob("*/*")):
            if d.is_dir():
                yield "frames", d.name
        for f in sorted((self.root / "scores").glob("*/*.json")):
            yield "scores", f.stem

    def verify(self, fix: bool = False) -> dict[str, Any]:
        """Check every entry (frame files hashed too). Returns counts and the damaged
        entries; ``fix`` removes them (they are computed again by the next run)."""
        ok = legacy = 0
        damaged: list[dict[str, str]] = []
        for kind, key in self.entries():
            if kind == "frames":
                problem = self.check_frames(key, files=True)
                path = self.frames_path(key)
            else:
                problem, _ = self.check_json(key)
                path = self.json_path(key)
                if problem == "absent":
                    problem = "legacy"
            if problem is None:
                ok += 1
                continue
            if problem == "legacy":
                legacy += 1
                if not fix:
                    continue
            else:
                damaged.append({"kind": kind, "key": key, "path": str(path), "problem": problem})
            if fix:
                if kind == "frames":
                    self.discard_frames(key)
                else:
                    path.unlink(missing_ok=True)
        return {"root": str(self.root), "ok": ok, "legacy": legacy, "damaged": damaged, "fixed": fix}


FLOAT_DTYPE = "float32"


def frame_name(index: int, dtype: str | None) -> str:
    """A frame's file name in its set: PNG for uint8 frames, ``.npy`` for float ones."""
    return f"{index:06d}.png" if dtype is None else f"{index:06d}.npy"


def encode_npy(frame: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(frame, dtype=np.float32), allow_pickle=False)
    return buf.getvalue()


def decode_npy(data: bytes, path: Path) -> np.ndarray:
    import io

    arr = np.load(io.BytesIO(data), allow_pickle=False)
    if arr.ndim != 3 or arr.dtype != np.float32:
        raise ValueError(f"{path}: not an HxWxC float32 frame")
    return arr


def seal(key: str, entry: dict[str, Any]) -> dict[str, Any]:
    """``entry`` with its key, the format and a checksum over both."""
    body = {k: v for k, v in entry.items() if k not in ("key", "format", "checksum")}
    return {**body, "key": key, "format": FORMAT, "checksum": digest("cache-entry", key, body)}


def unsealed(key: str, entry: Any) -> str | None:
    """What is wrong with a sealed entry read back for ``key`` (None: intact)."""
    if not isinstance(entry, dict):
        return "not an object"
    if entry.get("key") != key:
        return f"it is stored under {key[:12]} but names {str(entry.get('key'))[:12]}"
    body = {k: v for k, v in entry.items() if k not in ("key", "format", "checksum")}
    if entry.get("checksum") != digest("cache-entry", key, body):
        return "its content does not match its checksum"
    return None


def _legacy_meta(path: Path) -> bool:
    try:
        meta = json.loads((path / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and "format" not in meta and "frames" in meta
