"""The site's comparison pages (:mod:`.site`): per data set, the items to show (each method's
best and worst by the primary metric first), their frames copied into ``SITE/img`` (from the
cache, or the reference from its source), and one page per item: reference | degraded |
methods, with the item's scores."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.run.runfiles import frame_meta, frame_png, public_name, trusted_source

from ..errors import warn
from .leaderboard import fmt
from .sitedata import ITEM_SCOPES


# ----------------------------------------------------------------------------- images
def _item_values(df: pd.DataFrame, dataset: str, metric: str) -> pd.DataFrame:
    r = df[
        (df["dataset"] == dataset) & (df["metric"] == metric) & df["scope"].isin(ITEM_SCOPES) & (df["status"] == "ok")
    ]
    return r[["item_id", "method", "value", "higher_is_better"]]


def primary_metric(df: pd.DataFrame, dataset: str) -> str | None:
    have = set(df[(df["dataset"] == dataset) & df["scope"].isin(ITEM_SCOPES)]["metric"])
    for m in ("psnr", "psnr-y", "ssim", "niqe", "lpips"):
        if m in have:
            return m
    return sorted(have)[0] if have else None


def extremes(df: pd.DataFrame, dataset: str, metric: str, k: int = 3) -> dict[str, dict[str, list[tuple[str, float]]]]:
    """Per method: the k worst and k best items by ``metric``."""
    vals = _item_values(df, dataset, metric)
    out = {}
    for method, g in vals.groupby("method", sort=False):
        asc = g.sort_values("value", ascending=not bool(g["higher_is_better"].iloc[0]))
        best = list(zip(asc["item_id"].head(k), asc["value"].head(k)))
        worst = list(zip(asc["item_id"].tail(k)[::-1], asc["value"].tail(k)[::-1]))
        out[method] = {"worst": worst, "best": best}
    return out


def _put(site: Path, name: str, data: bytes) -> Path:
    """Write ``SITE/img/name`` (a fresh file: a symlink in the way is replaced, never followed)."""
    folder = site / "img"
    if folder.is_symlink():
        folder.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / name
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    with open(tmp, "xb") as f:  # O_EXCL: never through a planted link
        f.write(data)
    os.replace(tmp, dst)
    return dst


def copy_frames(site: Path, cache_dir: str | None, key: str | None, frames: list[int]) -> list[str] | None:
    """Copy the chosen frames of a cached frame set into SITE/img (PNG; a float frame set's
    ``.npy`` frames rounded to uint8); relative paths, or None when the set is not there
    intact (a key that is not a content key, a symlink, a file that fails its checksum)."""
    meta = frame_meta(cache_dir, key)
    if meta is None:
        return None
    out = []
    for f in frames:
        f = min(max(int(f), 0), meta["frames"] - 1)
        name = f"{key[:20]}-{f}.png"
        if (site / "img" / name).is_symlink() or not (site / "img" / name).is_file():
            data = frame_png(meta, key, f)
            if data is None:
                return None
            _put(site, name, data)
        out.append(f"../img/{name}")
    return out


def copy_source_frames(site: Path, source: Path | None, frames: list[int]) -> list[str] | None:
    """The reference frames read from the item's source (an image file, a frame folder or a
    video file, checked by :func:`benchmark.run.runfiles.trusted_source`) when the cache does not
    hold them (an undegraded, unscaled reference); None when it cannot be read."""
    import hashlib

    from benchmark.core.imaging import encode_png

    if source is None:
        return None
    tag = hashlib.sha1(str(source).encode()).hexdigest()[:16]
    want = {f: f"src-{tag}-{f}.png" for f in frames}
    try:
        for f, frame in _source_frames(
            source, [f for f, n in want.items() if (site / "img" / n).is_symlink() or not (site / "img" / n).is_file()]
        ):
            _put(site, want[f], encode_png(frame))
    except Exception as exc:  # noqa: BLE001 - not an image or a video after all (OpenCV's, PIL's and PyAV's errors alike)
        warn(
            f"the reference {public_name(str(source))!r} cannot be read ({type(exc).__name__}); its page shows the others"
        )
        return None
    out = [f"../img/{n}" for n in want.values()]
    return out if all((site / "img" / n).is_file() for n in want.values()) else None


def _source_frames(src: Path, frames: list[int]):
    """(index, frame) of the wanted ``frames`` of a source file or folder."""
    from benchmark.core.imaging import IMAGE_EXTS, read_image

    from ..datasets.base import list_images

    if not frames:
        return
    if src.is_file() and src.suffix.lower() in IMAGE_EXTS:
        img = read_image(src)
        yield from ((f, img) for f in frames)
    elif src.is_dir():
        files = [p for p in list_images(src) if not p.is_symlink()]
        for f in frames:
            if files:
                yield f, read_image(files[min(f, len(files) - 1)])
    else:
        from benchmark.core.videoio import decode_frames

        yield from zip(sorted(set(frames)), decode_frames(src, only=set(frames)))


def strip_frames(kind: str, cache_dir: str | None, key: str | None) -> list[int]:
    if kind != "video":
        return [0]
    meta = frame_meta(cache_dir, key)
    n = meta["frames"] if meta else 1
    return sorted({0, n // 2, n - 1})


# ----------------------------------------------------------------------------- pages
def latest_artifacts(manifests: dict[str, dict], artifacts: dict[str, dict]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (data set, item): its artifacts, runs merged in start order (a later run's
    outputs added to, or replacing, an earlier one's), with the caches to look in (latest first)."""
    latest_art: dict[tuple[str, str], dict[str, Any]] = {}
    for run_id in sorted(artifacts, key=lambda r: str((manifests.get(r) or {}).get("started") or "")):
        a = artifacts[run_id]
        for it in a["items"]:
            key = (it["dataset"], it["item_id"])
            merged = latest_art.get(key, {**it, "outputs": {}, "caches": []})
            merged["outputs"] = {**merged["outputs"], **it["outputs"]}
            merged["caches"] = list(dict.fromkeys([a["cache_dir"], *merged["caches"]]))
            for field in ("reference", "degraded", "source"):
                merged[field] = it.get(field) or merged.get(field)
            latest_art[key] = merged
    return latest_art


def _cached(site: Path, art: dict[str, Any], key: str | None, frames: list[int]) -> list[str] | None:
    """:func:`copy_frames` from the first of the item's caches that holds ``key``."""
    for cache_dir in art["caches"]:
        srcs = copy_frames(site, cache_dir, key, frames)
        if srcs is not None:
            return srcs
    return None


def panels(
    site: Path,
    df: pd.DataFrame,
    board: dict[str, Any],
    item_id: str,
    art: dict[str, Any],
    frames: list[int],
    refused: list[str] | None = None,
) -> list[dict[str, Any]]:
    """The panels of one item's page (reference, degraded, each method's output): frames
    copied into the site and the item's first scores; an image the site cannot get is left out
    (a source it may not read is named in ``refused``)."""
    ds = board["dataset"]
    out = []
    for label, key in [
        ("reference", art.get("reference")),
        (f"degraded ({board['degradation']})", art.get("degraded")),
    ] + [(m, k) for m, k in art["outputs"].items()]:
        srcs = _cached(site, art, key, frames)
        if srcs is None and label == "reference":
            source, why = trusted_source(art.get("source"), key)
            if why and refused is not None:
                refused.append(f"{public_name(str(art.get('source')))!r} ({why})")
            srcs = copy_source_frames(site, source, frames)
        if srcs is None:
            continue
        vals = df[
            (df["dataset"] == ds) & (df["item_id"] == item_id) & (df["method"] == label) & df["scope"].isin(ITEM_SCOPES)
        ]
        out.append(
            {"label": label, "srcs": srcs, "scores": [(r.metric, fmt(r.value, r.unit)) for r in vals.itertuples()][:8]}
        )
    return out


def board_pages(
    site: Path,
    df: pd.DataFrame,
    board: dict[str, Any],
    latest_art: dict[tuple[str, str], dict[str, Any]],
    pages: list[dict[str, Any]],
    page_of: dict[tuple[str, str], str],
    max_items: int,
    refused: list[str] | None = None,
) -> None:
    """The comparison pages of one leaderboard (at most ``max_items``), appended to ``pages``;
    the board gets its extremes, primary metric and links to its pages."""
    ds = board["dataset"]
    metric = primary_metric(df, ds)
    ext = extremes(df, ds, metric) if metric else {}
    board["extremes"] = ext
    board["primary"] = metric
    chosen = list(dict.fromkeys([i for e in ext.values() for i, _ in e["worst"] + e["best"]]))
    items = [k[1] for k in latest_art if k[0] == ds]
    chosen = [i for i in chosen if (ds, i) in latest_art] + [i for i in items if i not in chosen]
    board["pages"] = []
    for item_id in chosen[:max_items]:
        art = latest_art[(ds, item_id)]
        key = next(iter(art["outputs"].values()), art.get("degraded"))
        frames = next((strip_frames(art["kind"], c, key) for c in art["caches"] if frame_meta(c, key)), [0])
        item_panels = panels(site, df, board, item_id, art, frames, refused)
        if len(item_panels) < 2:
            continue
        n = len(pages)
        pages.append(
            {
                "file": f"compare/{n}.html",
                "dataset": ds,
                "item_id": item_id,
                "panels": item_panels,
                "frames": frames,
                "kind": art["kind"],
            }
        )
        page_of[(ds, item_id)] = f"compare/{n}.html"
        board["pages"].append({"item_id": item_id, "href": f"compare/{n}.html"})
    board["page_of"] = {i: page_of.get((ds, i)) for e in ext.values() for i, _ in e["worst"] + e["best"]}


def comparison_pages(
    site: Path,
    df: pd.DataFrame,
    boards: list[dict[str, Any]],
    manifests: dict[str, dict],
    artifacts: dict[str, dict],
    max_items: int,
) -> list[dict[str, Any]]:
    """The comparison pages of all leaderboards, numbered in order (``compare/<n>.html``)."""
    pages: list[dict[str, Any]] = []
    page_of: dict[tuple[str, str], str] = {}
    latest_art = latest_artifacts(manifests, artifacts)
    refused: list[str] = []
    for board in boards:
        board_pages(site, df, board, latest_art, pages, page_of, max_items, refused)
    if refused:
        warn(f"the reference of {len(refused)} item(s) is not shown: its source was not read (first: {refused[0]})")
    return pages
