"""The site's comparison pages (:mod:`.site`): per data set, the items to show (each method's
best and worst by the primary metric first), their frames copied into ``SITE/img`` (from the
cache, or the reference from its source), and one page per item: reference | degraded |
methods, with the item's scores."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from ..cache import frames_dir
from .leaderboard import fmt
from .sitedata import ITEM_SCOPES


# ----------------------------------------------------------------------------- images
def _item_values(df: pd.DataFrame, dataset: str, metric: str) -> pd.DataFrame:
    r = df[(df["dataset"] == dataset) & (df["metric"] == metric) & df["scope"].isin(ITEM_SCOPES) & (df["status"] == "ok")]
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


def copy_frames(site: Path, cache_dir: str, key: str, frames: list[int]) -> list[str] | None:
    """Copy the chosen frames of a cached frame set into SITE/img; relative paths, or None."""
    src = frames_dir(cache_dir, key)
    if not (src / "meta.json").exists():
        return None
    n = json.loads((src / "meta.json").read_text())["frames"]
    out = []
    for f in frames:
        f = min(f, n - 1)
        dst = site / "img" / f"{key[:20]}-{f}.png"
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / f"{f:06d}.png", dst)
        out.append(f"../img/{dst.name}")
    return out


def copy_source_frames(site: Path, source: str | None, frames: list[int]) -> list[str] | None:
    """The reference frames read from the item's source (an image file, a frame folder or a
    video file) when the cache does not hold them (an undegraded, unscaled reference)."""
    import hashlib

    from ..datasets.base import list_images
    from ..imaging import IMAGE_EXTS, read_image, write_png

    if not source or not Path(source).exists():
        return None
    src = Path(source)
    tag = hashlib.sha1(str(src.resolve()).encode()).hexdigest()[:16]
    out, missing = [], []
    for f in frames:
        dst = site / "img" / f"src-{tag}-{f}.png"
        out.append(f"../img/{dst.name}")
        if not dst.exists():
            missing.append((f, dst))
    if not missing:
        return out
    (site / "img").mkdir(parents=True, exist_ok=True)
    want = dict(missing)
    if src.is_file() and src.suffix.lower() in IMAGE_EXTS:
        for dst in want.values():
            write_png(dst, read_image(src))
    elif src.is_dir():
        files = list_images(src)
        for f, dst in want.items():
            write_png(dst, read_image(files[min(f, len(files) - 1)]))
    else:
        import av

        with av.open(str(src)) as c:
            for i, vf in enumerate(c.decode(video=0)):
                if i in want:
                    write_png(want[i], vf.to_ndarray(format="rgb24"))
                if i >= max(want):
                    break
    return out if all((site / "img" / Path(o).name).exists() for o in out) else None


def strip_frames(kind: str, cache_dir: str, key: str) -> list[int]:
    if kind != "video":
        return [0]
    meta = frames_dir(cache_dir, key) / "meta.json"
    n = json.loads(meta.read_text())["frames"] if meta.exists() else 1
    return sorted({0, n // 2, n - 1})



# ----------------------------------------------------------------------------- pages
def latest_artifacts(manifests: dict[str, dict], artifacts: dict[str, dict]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (data set, item): its artifacts, runs merged in start order (a later run's
    outputs added to, or replacing, an earlier one's)."""
    latest_art: dict[tuple[str, str], dict[str, Any]] = {}
    for run_id in sorted(artifacts, key=lambda r: manifests.get(r, {}).get("started", "")):
        a = artifacts[run_id]
        for it in a["items"]:
            key = (it["dataset"], it["item_id"])
            merged = latest_art.get(key, {**it, "outputs": {}, "cache_dir": a["cache_dir"]})
            merged["outputs"] = {**merged["outputs"], **it["outputs"]}
            latest_art[key] = merged
    return latest_art


def panels(site: Path, df: pd.DataFrame, board: dict[str, Any], item_id: str, art: dict[str, Any], frames: list[int]) -> list[dict[str, Any]]:
    """The panels of one item's page (reference, degraded, each method's output): frames
    copied into the site and the item's first scores; an image the site cannot get is left out."""
    ds = board["dataset"]
    out = []
    for label, key in [("reference", art["reference"]), (f"degraded ({board['degradation']})", art["degraded"])] + \
            [(m, k) for m, k in art["outputs"].items()]:
        srcs = copy_frames(site, art["cache_dir"], key, frames)
        if srcs is None and label == "reference":
            srcs = copy_source_frames(site, art.get("source"), frames)
        if srcs is None:
            continue
        vals = df[(df["dataset"] == ds) & (df["item_id"] == item_id) & (df["method"] == label) & df["scope"].isin(ITEM_SCOPES)]
        out.append({"label": label, "srcs": srcs, "scores": [(r.metric, fmt(r.value, r.unit)) for r in vals.itertuples()][:8]})
    return out


def board_pages(site: Path, df: pd.DataFrame, board: dict[str, Any], latest_art: dict[tuple[str, str], dict[str, Any]],
                pages: list[dict[str, Any]], page_of: dict[tuple[str, str], str], max_items: int) -> None:
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
        frames = strip_frames(art["kind"], art["cache_dir"], next(iter(art["outputs"].values()), art["degraded"]))
        item_panels = panels(site, df, board, item_id, art, frames)
        if len(item_panels) < 2:
            continue
        n = len(pages)
        pages.append({"file": f"compare/{n}.html", "dataset": ds, "item_id": item_id, "panels": item_panels, "frames": frames, "kind": art["kind"]})
        page_of[(ds, item_id)] = f"compare/{n}.html"
        board["pages"].append({"item_id": item_id, "href": f"compare/{n}.html"})
    board["page_of"] = {i: page_of.get((ds, i)) for e in ext.values() for i, _ in e["worst"] + e["best"]}


def comparison_pages(site: Path, df: pd.DataFrame, boards: list[dict[str, Any]], manifests: dict[str, dict], artifacts: dict[str, dict],
                     max_items: int) -> list[dict[str, Any]]:
    """The comparison pages of all leaderboards, numbered in order (``compare/<n>.html``)."""
    pages: list[dict[str, Any]] = []
    page_of: dict[tuple[str, str], str] = {}
    latest_art = latest_artifacts(manifests, artifacts)
    for board in boards:
        board_pages(site, df, board, latest_art, pages, page_of, max_items)
    return pages
