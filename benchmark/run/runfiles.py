"""A run folder read as untrusted input: people share run folders (``bench publish``), and
``bench serve`` builds its site from every folder in RUNS_DIR, so what ``artifacts.json`` and
the manifest say is checked before it becomes a path, and local paths are redacted before a
run's files go into a site.

- cache keys: a key is a content key (64 hex digits, :func:`benchmark.api.digest`) or it is not
  used; a cached frame is read only from a regular file under the cache root, no symlink
  followed, its ``meta.json`` sealed for that key and the file matching its checksum;
- sources: an item's source is read only when it lies under the local data root
  (``--data-root`` / ``BENCH_DATA_ROOT``) or its content is the reference the run names (an
  image file whose digest is the reference key); a relative or ``..`` source is ignored;
- run ids: a run id becomes a folder name only when it is a safe one (:func:`safe_run_name`);
- redaction: absolute paths (the cache, the data root, the run folder, the home folder, any
  other) become ``<cache>``, ``<data>``, ``<run>``, ``~`` or their last component
  (:func:`redact`, :func:`public_name`)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from benchmark.api import digest
from benchmark.core.imaging import to_uint8
from benchmark.errors import warn

KEY = re.compile(r"[0-9a-f]{64}")
SAFE_NAME = re.compile(r"[A-Za-z0-9_][\w.-]{0,127}")
MAX_JSON_BYTES = 64 << 20  # artifacts.json of a very large run: well under this
MAX_META_BYTES = 16 << 20
MAX_FRAME_BYTES = 1 << 30
CACHE, DATA, RUN, HOME = "<cache>", "<data>", "<run>", "~"
# an absolute path inside a string: a "/" at the start or after a space, quote, "=" ... (not inside a
# URL, a relative path, "frames/s" or a placeholder), up to the next space or quote
_ABS = re.compile(r"(?<![\w.~<>:/\\-])/(?!/)[^\s'\"<>`|]*")


def is_key(value: Any) -> bool:
    """Whether ``value`` is a content key (what the cache files entries under)."""
    return isinstance(value, str) and KEY.fullmatch(value) is not None


# ----------------------------------------------------------------------------- names and redaction
def safe_run_name(run_id: Any, folder: Path) -> tuple[str, str | None]:
    """(the folder name a run is kept under in a site, why it is not the run's id or None).
    A run id that is not a safe name (``.``, ``..``, empty, a path, control characters, over
    128 characters) is replaced by the run folder's own name, sanitised (``run`` when nothing is left)."""
    if isinstance(run_id, str) and SAFE_NAME.fullmatch(run_id):
        return run_id, None
    name = re.sub(r"[^\w.-]", "_", Path(folder).resolve().name).lstrip("._-")[:128]
    name = name if SAFE_NAME.fullmatch(name) else "run"
    shown = repr(run_id)[:80] if run_id not in (None, "") else "missing"
    return name, f"its run id {shown} is not a safe folder name"


def _norm_root(path: Any) -> str | None:
    if not isinstance(path, str) or not path.startswith("/"):
        return None
    p = os.path.normpath(path)
    return p if p != "/" and len(p) > 1 else None


def run_roots(manifest: dict[str, Any], run_dir: Path | None = None) -> list[tuple[str, str]]:
    """(absolute path, placeholder) of the folders a run's files name, longest first: its cache,
    its data root, its own folder and the home folder (each also as resolved here)."""
    opts = manifest.get("options") if isinstance(manifest.get("options"), dict) else {}
    pairs = [
        (manifest.get("cache_dir"), CACHE),
        (opts.get("cache_dir"), CACHE),
        (manifest.get("data_root"), DATA),
        (opts.get("data_root"), DATA),
        (opts.get("out"), RUN),
    ]
    if run_dir is not None:
        pairs += [(str(Path(run_dir).absolute()), RUN), (str(Path(run_dir).resolve()), RUN)]
    pairs.append((str(Path.home()), HOME))
    roots = {}
    for path, tag in pairs:
        for p in {
            _norm_root(path),
            _norm_root(os.path.realpath(path)) if isinstance(path, str) and path.startswith("/") else None,
        }:
            if p and p not in roots:
                roots[p] = tag
    return sorted(roots.items(), key=lambda kv: -len(kv[0]))


def _last_part(m: re.Match) -> str:
    parts = [p for p in m.group(0).split("/") if p]
    return parts[-1] if parts else m.group(0)


def public_name(text: str) -> str:
    """``text`` with each absolute path in it cut to its last component (``/home/u/photos@x2`` ->
    ``photos@x2``): how a site names data sets, items and errors."""
    return _ABS.sub(_last_part, text) if "/" in text else text


def redact(value: Any, roots: list[tuple[str, str]]) -> Any:
    """``value`` (JSON: dicts, lists, strings) with the ``roots`` (:func:`run_roots`) replaced by
    their placeholders and any other absolute path cut to its last component."""
    if isinstance(value, str):
        if "/" not in value:
            return value
        for root, tag in roots:
            value = re.sub(re.escape(root) + r"(?=/|$|[\s'\"])", tag, value)
        return public_name(value)
    if isinstance(value, dict):
        return {redact(k, roots) if isinstance(k, str) else k: redact(v, roots) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, roots) for v in value]
    return value


# ----------------------------------------------------------------------------- artifacts.json
def read_json(path: Path) -> Any:
    """A JSON file of a run folder: a regular file (no FIFO, no device), bounded; ValueError otherwise."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{path.name} is not a regular file")
    if st.st_size > MAX_JSON_BYTES:
        raise ValueError(f"{path.name} is {st.st_size:,} bytes (over {MAX_JSON_BYTES >> 20} MiB)")
    return json.loads(Path(path).read_bytes())


def _clean_item(it: Any, problems: list[str]) -> dict[str, Any] | None:
    """An artifacts item with checked fields (a key that is not a content key, or a source that
    is relative or holds ``..``, is left out and said in ``problems``); None without its names."""
    if not isinstance(it, dict) or not all(isinstance(it.get(f), str) and it[f] for f in ("dataset", "item_id")):
        problems.append("an item without a data set or an item id")
        return None
    out = {**it, "kind": it.get("kind") if it.get("kind") in ("image", "video") else "image"}
    for field in ("reference", "degraded"):
        if out.get(field) is not None and not is_key(out[field]):
            problems.append(f"the {field} key {str(out[field])[:40]!r}, which is not a content key")
            out[field] = None
    outputs = it.get("outputs") if isinstance(it.get("outputs"), dict) else {}
    out["outputs"] = {}
    for method, key in outputs.items():
        if is_key(key):
            out["outputs"][str(method)] = key
        else:
            problems.append(f"the output key {str(key)[:40]!r}, which is not a content key")
    source = it.get("source")
    if source is not None and source_path(source) is None:
        problems.append(f"the source {str(source)[:60]!r}, which is not an absolute path without '..'")
        out["source"] = None
    return out


def read_artifacts(path: Path, say: bool = True) -> dict[str, Any]:
    """A run's ``artifacts.json`` with its items checked (:func:`_clean_item`): what is left out
    is said in one warning naming the file and the count. Raises ValueError (or OSError) when
    the file is not a JSON object."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{Path(path).name} is not a JSON object")
    cache_dir = data.get("cache_dir") if isinstance(data.get("cache_dir"), str) else None
    problems: list[str] = []
    raw = data.get("items") if isinstance(data.get("items"), list) else []
    items = [c for c in (_clean_item(it, problems) for it in raw) if c is not None]
    if problems and say:
        warn(f"{path}: {len(problems)} entr{'y' if len(problems) == 1 else 'ies'} ignored (first: {problems[0]})")
    return {"cache_dir": cache_dir, "items": items}


def public_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items with their data set, item id and method names as a site shows them (:func:`public_name`)."""
    return [
        {
            **it,
            "dataset": public_name(it["dataset"]),
            "item_id": public_name(it["item_id"]),
            "outputs": {public_name(m): k for m, k in it["outputs"].items()},
        }
        for it in items
    ]


def public_artifacts(art: dict[str, Any], roots: list[tuple[str, str]]) -> dict[str, Any]:
    """A checked ``artifacts.json`` (:func:`read_artifacts`) as a site keeps it: the cache as
    ``<cache>``, a source under the data root as ``<data>/...`` (any other source left out), every
    other path redacted."""
    items = []
    for it in public_items(art["items"]):
        src = redact(it["source"], roots) if isinstance(it.get("source"), str) else None
        items.append(
            redact({**it, "source": src if isinstance(src, str) and src.startswith(DATA + "/") else None}, roots)
        )
    return {"cache_dir": CACHE, "items": items}


def public_rows(df):
    """A run's rows with every absolute path in a text column cut to its last component."""
    for col in df.columns:
        if df[col].dtype == object or str(df[col].dtype) == "string":
            values = df[col].dropna().unique()
            change = {v: public_name(v) for v in values if isinstance(v, str) and "/" in v}
            change = {k: v for k, v in change.items() if k != v}
            if change:
                df[col] = df[col].replace(change)
    return df


# ----------------------------------------------------------------------------- cached frames
def _regular_under(root: Path, parts: tuple[str, ...]) -> Path | None:
    """``root/parts...`` when every step below ``root`` is a real folder (no symlink) and the last a regular file."""
    p = root
    for i, part in enumerate(parts):
        p = p / part
        try:
            st = os.lstat(p)
        except OSError:
            return None
        want = stat.S_ISREG if i == len(parts) - 1 else stat.S_ISDIR
        if not want(st.st_mode):
            return None
    return p


def cache_root(cache_dir: Any) -> Path | None:
    """The cache root ``cache_dir`` names, resolved, when it is an absolute folder with frames in it."""
    if not isinstance(cache_dir, str) or not os.path.isabs(cache_dir) or "\x00" in cache_dir:
        return None
    root = Path(os.path.realpath(cache_dir))
    return root if (root / "frames").is_dir() and not (root / "frames").is_symlink() else None


def frame_meta(cache_dir: Any, key: Any) -> dict[str, Any] | None:
    """The checked ``meta.json`` of the frame set ``key`` (sealed for the key, a frame count and
    one checksum per frame), or None."""
    from benchmark.run.cache import FLOAT_DTYPE, unsealed

    root = cache_root(cache_dir)
    if root is None or not is_key(key):
        return None
    p = _regular_under(root, ("frames", key[:2], key, "meta.json"))
    if p is None or p.stat().st_size > MAX_META_BYTES:
        return None
    try:
        meta = json.loads(p.read_bytes())
    except ValueError:
        return None
    if unsealed(key, meta) is not None:
        return None
    n, files = meta.get("frames"), meta.get("files")
    if not (
        isinstance(n, int)
        and n >= 1
        and isinstance(files, list)
        and len(files) == n
        and all(isinstance(f, str) for f in files)
    ):
        return None
    if meta.get("dtype") not in (None, FLOAT_DTYPE):
        return None
    return {**meta, "root": root}


def frame_png(meta: dict[str, Any], key: str, index: int) -> bytes | None:
    """Frame ``index`` of a checked frame set (:func:`frame_meta`) as PNG bytes (a float frame
    rounded to uint8), or None when the file is missing, not regular or not what its checksum says."""
    from benchmark.core.imaging import encode_png
    from benchmark.run.cache import decode_npy, frame_name

    dtype = meta.get("dtype")
    p = _regular_under(meta["root"], ("frames", key[:2], key, frame_name(index, dtype)))
    if p is None or p.stat().st_size > MAX_FRAME_BYTES:
        return None
    data = p.read_bytes()
    if hashlib.sha256(data).hexdigest() != meta["files"][index]:
        return None
    if dtype is None:
        return data
    try:
        frame = decode_npy(data, p)
    except ValueError:
        return None
    return encode_png(to_uint8(frame))


# ----------------------------------------------------------------------------- sources
def local_cache(cache_dir: Any) -> Any:
    """The cache a site copy's ``<cache>`` stands for: this machine's (``BENCH_CACHE_DIR``)."""
    from benchmark.run.cache import default_cache_dir

    return str(default_cache_dir()) if cache_dir == CACHE else cache_dir


def local_data_root() -> Path | None:
    from benchmark.datasets.base import data_root

    root = data_root(None)
    return Path(os.path.realpath(root)) if root is not None else None


def source_path(source: Any) -> Path | None:
    """Where an item's ``source`` is, as a site copy or a run names it: an absolute path, or
    ``<data>/...`` under the local data root; None for anything else (relative, ``..``)."""
    if not isinstance(source, str) or "\x00" in source or ".." in Path(source).parts:
        return None
    if source.startswith(DATA + "/"):
        root = local_data_root()
        return root / source[len(DATA) + 1 :] if root is not None else None
    return Path(source) if os.path.isabs(source) else None


def trusted_source(source: Any, reference_key: Any) -> tuple[Path | None, str | None]:
    """(the source to read, why not): a regular file or folder under the local data root (no
    symlink out of it), or an image file whose content is the reference ``reference_key`` names."""
    p = source_path(source)
    if p is None:
        return None, None if source is None else "not an absolute path"
    real = Path(os.path.realpath(p))
    if not (real.is_file() or real.is_dir()):
        return None, None if not os.path.lexists(p) else "not a regular file or folder"
    root = local_data_root()
    if root is not None and real.is_relative_to(root):
        return real, None
    if is_key(reference_key) and _is_reference(real, reference_key):
        return real, None
    return None, "outside the data root and not the reference the run names"


def _is_reference(src: Path, reference_key: str) -> bool:
    """Whether the content of ``src`` (an image file, a frame folder, a video file, as the
    folder loaders fingerprint them) is the unscaled reference ``reference_key``."""
    from benchmark.core.imaging import IMAGE_EXTS, sha256_file
    from benchmark.datasets.base import list_images

    def ref(*fingerprint: Any) -> str:
        return digest("reference", digest(*fingerprint))

    if src.is_dir():
        hashes = [sha256_file(f) for f in list_images(src)]
        return any(
            ref("frame-folder", hashes[:k]) == reference_key for k in range(len(hashes), 0, -1)
        )  # any --max-frames
    sha = sha256_file(src)
    if src.suffix.lower() in IMAGE_EXTS:
        return ref("image-file", sha) == reference_key
    return any(ref("video-file", sha, n) == reference_key for n in (None, *range(1, 4097)))


# ----------------------------------------------------------------------------- manifest and scores
#: manifest fields readers use, with the type each must have when present
MANIFEST_TYPES = {
    "started": (str,),
    "finished": (str,),
    "status": (str,),
    "process": (dict,),
    "command": (list, str),
    "options": (dict,),
    "config": (dict,),
}


def manifest_problem(manifest: Any) -> str | None:
    """Why a manifest cannot be used (a field of the wrong type), or None."""
    if not isinstance(manifest, dict):
        return "its manifest.json is not a JSON object"
    for field, types in MANIFEST_TYPES.items():
        if manifest.get(field) is not None and not isinstance(manifest[field], types):
            return f"its manifest's {field!r} is {str(manifest[field])[:40]!r}, not a {' or '.join(t.__name__ for t in types)}"
    return None


def checked_rows(df, where: str):
    """A run's rows with every column of the results format, each of its type; ValueError
    naming what is wrong (a missing column, text in a number column)."""
    import pandas as pd

    from benchmark.run.results import COLUMNS, DTYPES

    missing = [c for c in COLUMNS if c not in df.columns]
    if missing and len(df):
        raise ValueError(f"{where} has no {', '.join(map(repr, missing[:4]))} column{'s' if len(missing) > 1 else ''}")
    df = df.reindex(
        columns=[*COLUMNS, *(c for c in df.columns if c not in COLUMNS)]
    )  # a newer bench's extra columns kept
    for col, dtype in DTYPES.items():
        try:
            df[col] = df[col].astype(dtype) if dtype != "int64" else pd.to_numeric(df[col], errors="raise")
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(
                f"{where}: its {col!r} column holds values that are not {dtype} ({' '.join(str(exc).split())[:80]})"
            ) from None
    if len(df) and not df["metric"].notna().all():
        raise ValueError(f"{where}: a row has no metric")
    return df


def read_run_scores(run_dir: Path):
    """A run folder's rows, checked (:func:`checked_rows`): ValueError (or OSError) naming the
    file and what is wrong when they cannot be read."""
    import pandas as pd

    from benchmark.run.results import COLUMNS, read_scores

    d = Path(run_dir)
    name = next((n for n in ("scores.parquet", "scores.csv", "rows.jsonl") if (d / n).exists()), None)
    where = f"its {name}" if name else "its scores"
    if name and not (d / name).is_file():
        raise ValueError(f"{where} is not a regular file")
    try:
        df = read_scores(d)
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - any error of pyarrow or pandas on a damaged file (ArrowTypeError, KeyError ...)
        if name == "scores.csv" and isinstance(exc, KeyError):
            try:
                have = set(pd.read_csv(d / name, nrows=0).columns)
            except Exception:  # noqa: BLE001
                have = set()
            missing = [c for c in COLUMNS if c not in have]
            if missing:
                raise ValueError(
                    f"{where} has no {', '.join(map(repr, missing[:4]))} column{'s' if len(missing) > 1 else ''}"
                ) from None
        raise ValueError(f"{where} cannot be read ({type(exc).__name__}: {' '.join(str(exc).split())[:160]})") from None
    return checked_rows(df, where)
