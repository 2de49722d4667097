"""Standard sets by name: ``bench data fetch NAME`` and ``bench data list``.

Each set names the public file(s) it usually comes from and the folder under the data root
that ``bench run`` reads (the same ``layout`` as its data-set class). A fetch downloads into
``<root>/.downloads/`` with the shared downloader (:mod:`benchmark.files.download`: resume, size,
SHA-256, a short timeout offline), extracts only the set's files into that folder, and removes
the archive unless asked to keep it.

Checksums: none of these sets publishes a SHA-256 of its archive, so none is declared here
(``sha256=None``) rather than one copied from an unverifiable record. The first download of
each URL records its SHA-256 and size in ``<root>/.downloads/checksums.json`` ("trust on first
use"); a later download of the same URL must match it. ``bench data list`` says which applies.
The URLs are the sets' customary sources as cited by the papers and toolkits that use them;
a set with no stable direct download (Vid4) says where to get it and where to put it.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator

from benchmark.core.imaging import IMAGE_EXTS
from benchmark.core.paths import expand as expand_path
from benchmark.errors import BenchError
from benchmark.files.download import download

CHECKSUMS = "checksums.json"


@dataclass(frozen=True)
class Part:
    """One file to download. ``members`` maps a path prefix inside the archive to a folder under
    the data root (a prefix that names a file puts that one file there); ``None`` for a plain
    file, which goes to ``target``."""

    url: str
    members: dict[str, str] | None = None
    target: str | None = None
    sha256: str | None = None
    size: int | None = None  # exact bytes, checked; only where known
    approx: str = ""  # the size the source's page quotes, shown only (never checked)

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class StandardSet:
    name: str  # the data-set name `bench run` knows
    title: str
    layout: str  # folder under the data root that holds it (what `bench data list` checks)
    parts: tuple[Part, ...] = ()
    count: int | None = None  # image files expected under layout
    needs: tuple[str, ...] = ()  # further paths under the root that must exist
    license: str = ""
    manual: str = ""  # for a set with no direct download: where to get it
    description: str = ""  # what `bench list datasets` says of its loader (benchmark.datasets.folders)

    def archive_size(self) -> int | None:
        sizes = [p.size for p in self.parts]
        return sum(sizes) if sizes and all(sizes) else None  # type: ignore[arg-type]


_EDSR = (
    "https://cv.snu.ac.kr/research/EDSR/benchmark.tar"  # EDSR's benchmark bundle: Set5, Set14, B100, Urban100 (HR + LR)
)
_RESEARCH = "research use (see the authors' pages)"

SETS: list[StandardSet] = [
    StandardSet(
        "live1",
        "LIVE1 (29 colour images), JPEG artifact removal",
        "images/LIVE1",
        (
            Part(
                "https://github.com/cszn/DnCNN/archive/refs/heads/master.zip",
                {"DnCNN-master/testsets/LIVE1/": "images/LIVE1"},
            ),
        ),
        count=29,
        license=_RESEARCH + "; LIVE, UT Austin",
        description="LIVE1 (29 colour images): the JPEG artifact-removal test set.",
    ),
    StandardSet(
        "classic5",
        "Classic5 (5 grayscale), JPEG artifact removal",
        "images/Classic5",
        (
            Part(
                "https://github.com/cszn/DnCNN/archive/refs/heads/master.zip",
                {"DnCNN-master/testsets/classic5/": "images/Classic5"},
            ),
        ),
        count=5,
        license=_RESEARCH,
        description="Classic5 (5 grayscale 512x512): grayscale JPEG artifact removal.",
    ),
    StandardSet(
        "set12",
        "Set12 (12 grayscale), Gaussian denoising",
        "images/Set12",
        (
            Part(
                "https://github.com/cszn/KAIR/archive/refs/heads/master.zip",
                {"KAIR-master/testsets/set12/": "images/Set12"},
                approx="60 MB",
            ),
        ),
        count=12,
        license=_RESEARCH,
        description=(
            "Set12 (12 grayscale, 256x256 and 512x512, as KAIR ships them): Gaussian denoising at sigma 15/25/50 "
            "(set12-noise25)."
        ),
    ),
    StandardSet(
        "set5",
        "Set5 HR (super-resolution)",
        "images/Set5",
        (Part(_EDSR, {"benchmark/Set5/HR/": "images/Set5"}),),
        count=5,
        license=_RESEARCH,
        description="Set5 HR images: super-resolution test set.",
    ),
    StandardSet(
        "set14",
        "Set14 HR (super-resolution)",
        "images/Set14",
        (Part(_EDSR, {"benchmark/Set14/HR/": "images/Set14"}),),
        count=14,
        license=_RESEARCH,
        description="Set14 HR images (one is grayscale): super-resolution test set.",
    ),
    StandardSet(
        "bsd100",
        "BSD100 (B100) HR, the BSDS300 test split",
        "images/BSD100",
        (Part(_EDSR, {"benchmark/B100/HR/": "images/BSD100"}),),
        count=100,
        license=_RESEARCH + "; Berkeley BSDS",
        description="BSD100 (B100, the BSDS300 test split) HR: super-resolution test set.",
    ),
    StandardSet(
        "urban100",
        "Urban100 HR (super-resolution)",
        "images/Urban100",
        (Part(_EDSR, {"benchmark/Urban100/HR/": "images/Urban100"}),),
        count=100,
        license=_RESEARCH,
        description="Urban100 HR (buildings, regular structure): super-resolution test set.",
    ),
    StandardSet(
        "cbsd68",
        "Colour BSD68 (denoising / artifact removal)",
        "images/CBSD68",
        (
            Part(
                "https://github.com/clausmichele/CBSD68-dataset/archive/refs/heads/master.zip",
                {"CBSD68-dataset-master/CBSD68/original_png/": "images/CBSD68"},
            ),
        ),
        count=68,
        license=_RESEARCH + "; Berkeley BSDS",
        description=(
            "Colour BSD68 test split (481x321); cbsd68-gray is the gray BSD68 denoising protocol "
            "(MATLAB rgb2ycbcr Y), e.g. cbsd68-gray-noise25."
        ),
    ),
    StandardSet(
        "kodak",
        "Kodak PhotoCD (24 images, 768x512)",
        "images/Kodak",
        tuple(
            Part(f"http://r0k.us/graphics/kodak/kodak/kodim{i:02d}.png", target="images/Kodak") for i in range(1, 25)
        ),
        count=24,
        license="released by Eastman Kodak for unrestricted use",
        description="Kodak PhotoCD (24 images, 768x512), if you have it under images/Kodak.",
    ),
    StandardSet(
        "div2k",
        "DIV2K validation HR (100 images, 2K)",
        "images/DIV2K_valid_HR",
        (
            Part(
                "http://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_valid_HR.zip",
                {"DIV2K_valid_HR/": "images/DIV2K_valid_HR"},
            ),
        ),
        count=100,
        license="academic research only (NTIRE / ETH Zurich)",
        description="DIV2K validation HR (100 images, 2K): super-resolution test set.",
    ),
    StandardSet(
        "vid4",
        "Vid4 ground truth (calendar, city, foliage, walk)",
        "video/Vid4/GT",
        count=None,
        manual="no stable direct download: get Vid4's GT frames from the link in BasicSR's docs/DatasetPreparation.md "
        "and put them as video/Vid4/GT/<clip>/00000000.png ...",
        license=_RESEARCH,
        description="Vid4 ground-truth clips in BasicSR layout (one folder of numbered PNG frames per clip), 25 fps assumed.",
    ),
    StandardSet(
        "coco",
        "COCO val2017 images + instances/captions annotations",
        "coco/val2017",
        (
            Part("http://images.cocodataset.org/zips/val2017.zip", {"val2017/": "coco/val2017"}, approx="1 GB"),
            Part(
                "http://images.cocodataset.org/annotations/annotations_trainval2017.zip",
                {
                    "annotations/instances_val2017.json": "coco/annotations",
                    "annotations/captions_val2017.json": "coco/annotations",
                },
                approx="241 MB",
            ),
        ),
        count=5000,
        needs=("coco/annotations/instances_val2017.json", "coco/annotations/captions_val2017.json"),
        license="annotations CC BY 4.0; images under their Flickr licenses",
    ),
    StandardSet(
        "voc",
        "PASCAL VOC2007 test (JPEGImages, Annotations, ImageSets)",
        "VOCdevkit/VOC2007/JPEGImages",
        (Part("http://host.robots.ox.ac.uk/pascal/VOC/voc2007/VOCtest_06-Nov-2007.tar", {"VOCdevkit/": "VOCdevkit"}),),
        count=4952,
        needs=("VOCdevkit/VOC2007/ImageSets/Main/test.txt",),
        license="Flickr terms of use (see the VOC page)",
    ),
]


def catalogue() -> dict[str, StandardSet]:
    return {s.name: s for s in SETS}


def fetch_hint(name: str) -> str:
    """How to get the standard set ``name`` (a sentence), or '' when it is not one."""
    s = catalogue().get(name)
    if s is None:
        return ""
    if s.manual:
        return f"To get it: {s.manual.rstrip('.')}."
    return f"To get it: `bench data fetch {name} --data-root DIR` downloads it there ({s.title})."


def get(name: str) -> StandardSet:
    sets = catalogue()
    if name not in sets:
        import difflib

        close = difflib.get_close_matches(name.lower(), list(sets), n=2)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise BenchError(f"no standard set {name!r}.{hint} Known: {', '.join(sets)} (`bench data list`).")
    return sets[name]


def require_root(root: Path | None) -> Path:
    if root is None:
        from benchmark.core.environment import DATA_ROOT as ENV_DATA_ROOT

        raise BenchError(
            f"no data root: pass --data-root DIR or set {ENV_DATA_ROOT}=DIR (the folder `bench run` reads the sets from)"
        )
    return expand_path(root)


def present(s: StandardSet, root: Path) -> tuple[int, bool]:
    """(image files found under the set's folder, complete?)."""
    folder = root / s.layout
    n = sum(1 for _ in _images(folder)) if folder.is_dir() else 0
    complete = n > 0 and (s.count is None or n >= s.count) and all((root / p).exists() for p in s.needs)
    return n, complete


def _images(folder: Path) -> Iterator[Path]:
    return (p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTS)


def checksum_note(part: Part, root: Path | None) -> str:
    if part.sha256:
        return "declared"
    rec = _records(root).get(part.url) if root else None
    return "recorded on first download" if rec else "unknown: recorded on first download"


def _records(root: Path) -> dict[str, Any]:
    p = root / ".downloads" / CHECKSUMS
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return {}


def _record(root: Path, url: str, sha: str, size: int) -> None:
    p = root / ".downloads" / CHECKSUMS
    recs = _records(root)
    recs[url] = {"sha256": sha, "size": size, "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(recs, indent=2, sort_keys=True) + "\n")
    tmp.replace(p)


def fetch(
    names: list[str],
    root: Path | None,
    *,
    timeout: float = 10.0,
    force: bool = False,
    keep: bool = False,
    progress: Callable[[str], Callable[[int, int | None], None] | None] | None = None,
) -> list[dict[str, Any]]:
    """Download and extract each named set into ``root``. An archive that several of the named
    sets share (Set5/Set14/BSD100/Urban100) is downloaded once. Returns one report per set."""
    root = require_root(root)
    sets = [get(n) for n in dict.fromkeys(names)]
    for s in sets:
        if s.manual and not present(s, root)[1]:
            raise BenchError(f"data set {s.name!r}: {s.manual} (under the data root {root}, i.e. {root / s.layout})")
    todo = [s for s in sets if force or not present(s, root)[1]]
    reports = {
        s.name: {"name": s.name, "folder": str(root / s.layout), "fetched": s in todo, "files": []} for s in sets
    }
    downloads = root / ".downloads"
    by_url: dict[str, list[tuple[StandardSet, Part]]] = {}
    for s in todo:
        for part in s.parts:
            by_url.setdefault(part.url, []).append((s, part))
    for url, users in by_url.items():
        part = users[0][1]
        targets = sorted({str(root / t) for _, p in users for t in (p.members or {p.target: p.target}).values() if t})
        dest = downloads / part.filename
        rec = _records(root).get(url, {})
        sha = part.sha256 or rec.get("sha256")
        names_ = ", ".join(s.name for s, _ in users)
        info = download(
            url,
            dest,
            what=f"data set {names_!r}",
            sha256=sha,
            size=part.size or rec.get("size"),
            timeout=timeout,
            on_progress=progress(part.filename) if progress else None,
            hint=f"download {url} on a machine with internet, put it at {dest} and run the same command again "
            f"(it is extracted into {', '.join(targets)})",
        )
        if not part.sha256 and not rec:
            _record(root, url, info["sha256"], dest.stat().st_size)
            info["checksum"] = "recorded now (trust on first use)"
        else:
            info["checksum"] = (
                "matches the declared sha256" if part.sha256 else "matches the one recorded on first download"
            )
        for s, p in users:
            n = _extract(dest, p, root)
            if n == 0:
                raise BenchError(
                    f"data set {s.name!r}: {dest.name} holds none of the expected files "
                    f"({', '.join(p.members or {})}); the archive's layout changed, or it is not the right file"
                )
            reports[s.name]["files"].append({"url": url, "path": str(dest), "extracted": n, **info})
        if not keep:
            dest.unlink()
    for s in sets:
        n, complete = present(s, root)
        reports[s.name].update(images=n, complete=complete)
    return list(reports.values())


def _extract(archive: Path, part: Part, root: Path) -> int:
    """Copy the files of ``part`` out of ``archive`` into their folders; returns how many."""
    if part.members is None:
        target = root / (part.target or ".")
        target.mkdir(parents=True, exist_ok=True)
        _place(archive.open("rb"), target / archive.name)
        return 1
    count = 0
    for name, opener in _members(archive):
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts:
            continue  # never outside the target
        for prefix, folder in part.members.items():
            if prefix.endswith("/") and name.startswith(prefix) and name != prefix:
                rel = PurePosixPath(name[len(prefix) :])
            elif name == prefix:
                rel = PurePosixPath(path.name)
            else:
                continue
            out = root / folder / Path(*rel.parts)
            out.parent.mkdir(parents=True, exist_ok=True)
            _place(opener(), out)
            count += 1
            break
    return count


def _members(archive: Path) -> Iterator[tuple[str, Callable[[], Any]]]:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                if not info.is_dir():
                    yield info.filename, lambda info=info: z.open(info)
        return
    try:
        with tarfile.open(archive) as t:
            for m in t:
                if m.isfile():
                    yield m.name, lambda m=m: t.extractfile(m)
    except tarfile.TarError as exc:
        raise BenchError(f"{archive}: neither a zip nor a tar archive ({exc})") from None


def _place(src, out: Path) -> None:
    """Write a member atomically (temporary name, then rename)."""
    tmp = out.with_name(out.name + ".tmp")
    with src, open(tmp, "wb") as f:
        shutil.copyfileobj(src, f, 1 << 20)
    tmp.replace(out)


def table_rows(root: Path | None) -> list[dict[str, Any]]:
    """One row per standard set for ``bench data list``."""
    rows = []
    for s in SETS:
        n, complete = present(s, root) if root else (0, False)
        state = (
            ("present" if complete else f"incomplete ({n} of {s.count or '?'})" if n else "missing")
            if root
            else "no data root"
        )
        if s.manual:
            source, size, check = "manual", "-", "-"
        else:
            urls = list(dict.fromkeys(p.url for p in s.parts))
            dirs = {u.rsplit("/", 1)[0] for u in urls}
            source = (
                urls[0]
                if len(urls) == 1
                else f"{len(urls)} files from {dirs.pop()}/"
                if len(dirs) == 1
                else " and ".join(urls)
            )
            total = s.archive_size()
            size = "unknown" if not total else f"{total / 1e6:,.0f} MB" if total >= 1e6 else f"{total:,} bytes"
            if not total and all(p.approx for p in s.parts):
                size = "about " + " + ".join(p.approx for p in s.parts) + " (as the source's page says; not checked)"
            notes = {checksum_note(p, root) for p in s.parts}
            check = notes.pop() if len(notes) == 1 else "partly recorded on first download"
        rows.append(
            {
                "name": s.name,
                "state": state,
                "folder": s.layout,
                "images": n,
                "source": source,
                "size": size,
                "sha256": check,
                "title": s.title,
                "license": s.license,
                "manual": s.manual,
            }
        )
    return rows
