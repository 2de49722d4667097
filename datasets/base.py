"""Generic data-set building blocks: image folders, frame folders, video files."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any, ClassVar, Iterator

import numpy as np

from benchmark.core import environment
from benchmark.core.imaging import IMAGE_EXTS, check_regular, header_size, open_regular, read_image, sha256_file
from benchmark.core.paths import expand as expand_path

from ..api import Dataset, Item, digest
from ..errors import DataNotFound

_GUESSES_SAID: set[tuple[str, str, str]] = set()  # (folder, type, reason) already said in this process

VIDEO_EXTS = (
    ".mp4",
    ".mkv",
    ".avi",
    ".mov",
    ".webm",
    ".y4m",
    ".m4v",
    ".mpg",
    ".mpeg",
    ".ts",
    ".flv",
    ".264",
    ".h264",
    ".hevc",
)
ENV_DATA_ROOT = environment.DATA_ROOT


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)


def list_videos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTS)


def item_ids(paths: list[Path]) -> dict[Path, str]:
    """Each file's item id: its stem (``baby.png`` -> ``baby``), or its whole name where two
    files of the folder share a stem (``a.png`` and ``a.jpg`` -> ``a.png``, ``a.jpg``).

    Keeping both (rather than refusing the folder) scores every file, and the ids of every
    other file, hence their cache keys and rows, stay what they were; refusing would stop a
    whole data set over a naming clash between two files that may well both be wanted (one
    photo as PNG and as JPEG). File names are unique in a folder, so the ids are too."""
    ids = {p: p.stem for p in paths}
    while True:
        seen: dict[str, list[Path]] = {}
        for p, i in ids.items():
            seen.setdefault(i, []).append(p)
        clash = [p for group in seen.values() if len(group) > 1 for p in group if ids[p] != p.name]
        if not clash:
            return ids
        ids.update({p: p.name for p in clash})


def read_data_file(path: Path, dataset: str) -> bytes:
    """A data set's own file (annotations, a split list), read only when it is a regular file (a FIFO
    would block, /dev/zero never ends): else a DataNotFound naming it."""
    try:
        with open_regular(path) as f:
            return f.read()
    except (ValueError, OSError) as exc:
        raise DataNotFound(f"data set {dataset!r}: {exc}") from None


def read_data_json(path: Path, dataset: str) -> Any:
    """A data set's JSON file (:func:`read_data_file`), parsed; not JSON, or nested past the parser's
    depth, a DataNotFound naming it."""
    import json

    try:
        return json.loads(read_data_file(path, dataset))
    except (ValueError, RecursionError) as exc:
        why = "nested too deep" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise DataNotFound(f"data set {dataset!r}: {path} is not the JSON expected ({why})") from None


def image_item(path: Path, item_id: str | None = None, annotations: dict | None = None) -> Item:
    return Item(
        item_id=item_id or path.stem,
        kind="image",
        frames=lambda: iter([read_image(path)]),
        fingerprint=lambda: digest("image-file", sha256_file(path)),
        annotations=annotations or {},
        source=str(path),
    )


def frame_folder_item(
    folder: Path, item_id: str | None = None, fps: float | None = None, max_frames: int | None = None
) -> Item:
    files = list_images(folder)
    if max_frames:
        files = files[:max_frames]
    if not files:
        raise DataNotFound(f"{folder}: no frames (image files) found")

    def frames() -> Iterator[np.ndarray]:
        for f in files:
            yield read_image(f)

    return Item(
        item_id=item_id or folder.name,
        kind="video",
        frames=frames,
        fingerprint=lambda: digest("frame-folder", [sha256_file(f) for f in files]),
        fps=fps,
        source=str(folder),
    )


def video_file_item(path: Path, item_id: str | None = None, max_frames: int | None = None) -> Item:
    """A clip read with PyAV. A file PyAV cannot open (empty, truncated, not a video)
    still becomes an item, whose frames raise the reason: the run turns it into error
    rows and goes on with the other clips."""
    try:
        fps = probe_fps(path)
        problem = None
    except ValueError as exc:
        fps, problem = None, exc

    def frames() -> Iterator[np.ndarray]:
        from benchmark.core.videoio import decode_frames

        if problem is not None:
            raise problem
        yield from decode_frames(path, max_frames)

    return Item(
        item_id=item_id or path.stem,
        kind="video",
        frames=frames,
        fingerprint=lambda: digest("video-file", sha256_file(path), max_frames),
        fps=fps,
        source=str(path),
    )


def probe_fps(path: Path) -> float | None:
    import av

    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise ValueError("no video stream")
            rate = c.streams.video[0].average_rate or c.streams.video[0].guessed_rate
            return float(rate) if rate else None
    except Exception as exc:
        size = path.stat().st_size if path.exists() else None
        what = "an empty file" if size == 0 else (f"{size:,} bytes" if size is not None else "missing")
        raise ValueError(f"{path} ({what}): PyAV cannot read it as video ({exc})") from exc


def data_root(root: str | os.PathLike | None) -> Path | None:
    if root:
        return expand_path(root)
    env = environment.get(environment.DATA_ROOT)
    return expand_path(env) if env else None


def is_frame_name(p: Path) -> bool:
    return re.fullmatch(r"\d+", p.stem) is not None


def _header_or_none(path: Path) -> tuple[int, int] | None:
    try:
        return header_size(path)
    except ValueError:  # a header Pillow calls a bomb: the run refuses it by the pixel limit
        return None


def looks_like_frames(files: list[Path]) -> tuple[bool, str]:
    """Whether image files are the frames of one clip: numeric names numbered consecutively
    (00000000.png, 00000001.png ...) and one size. Photos with numeric names (BSDS's
    101085.png ...) are numbered with gaps, or differ in size."""
    if len(files) < 2:
        return False, f"{len(files)} image"
    if not all(is_frame_name(f) for f in files):
        return False, f"{len(files)} images, not all named by number"
    nums = sorted(int(f.stem) for f in files)
    if nums != list(range(nums[0], nums[0] + len(nums))):
        return False, f"{len(files)} images named by number, not consecutively ({nums[0]}, {nums[1]} ...)"
    sizes = {_header_or_none(f) for f in files}
    if len(sizes) != 1:
        return False, f"{len(files)} images numbered consecutively but of {len(sizes)} sizes"
    ((w, h),) = sizes
    return True, f"{len(files)} images numbered consecutively {nums[0]}..{nums[-1]}, all {w}x{h}"


def guess_folder_type(p: Path) -> tuple[str, str]:
    """("videos" | "frames" | "images", why) for a folder given as a data set."""
    videos = list_videos(p)
    if videos:
        return "videos", f"{len(videos)} video file(s)"
    subdirs = [d for d in sorted(p.iterdir()) if d.is_dir() and list_images(d)]
    imgs = list_images(p)
    if subdirs and not imgs:
        return "frames", f"{len(subdirs)} folder(s) of images, one clip each"
    frames, why = looks_like_frames(imgs)
    return ("frames" if frames else "images"), why


class FolderDataset(Dataset):
    """Images in one folder under the data root (``layout``), or at an explicit ``path``.

    Frame folders (a folder of numbered frames, or a folder of such folders as in
    Vid4's BasicSR layout) and folders of video files are recognised with
    ``type="frames"``/``"videos"``; ``type="auto"`` guesses from the contents."""

    name: ClassVar[str] = "folder"
    version: ClassVar[str] = "1"
    layout: ClassVar[str] = ""
    folder_type: ClassVar[str] = "images"

    def __init__(
        self,
        root: Path | None = None,
        path: str | os.PathLike | None = None,
        type: str | None = None,
        max_frames: int | None = None,
        fps: float | None = None,
        name: str | None = None,
        **params: Any,
    ):
        super().__init__(root, **params)
        self.path = expand_path(path) if path else None
        self.type = type or self.folder_type
        self.max_frames = max_frames
        self.fps = fps
        if name:
            self.name = name  # type: ignore[misc]

    def location(self) -> Path:
        if self.path is not None:
            p = self.path if self.path.is_absolute() or self.root is None else (Path.cwd() / self.path)
            if not p.exists() and self.root is not None and (self.root / self.path).exists():
                p = self.root / self.path
            if not p.exists():
                raise DataNotFound(f"data set {self.name!r}: {p} does not exist")
            if not p.is_dir():
                try:
                    check_regular(p)  # a FIFO would block, /dev/zero never ends
                except ValueError as exc:
                    raise DataNotFound(f"data set {self.name!r}: {exc}") from None
            return p
        from benchmark.files.data import fetch_hint

        hint = fetch_hint(self.name)
        if self.root is None:
            raise DataNotFound(
                f"data set {self.name!r} is read from <data root>/{self.layout}, and no data root is set: "
                f"pass --data-root DIR or set {ENV_DATA_ROOT}=DIR (the folder that holds {self.layout.split('/')[0]}/)."
                + (f" {hint}" if hint else "")
            )
        p = self.root / self.layout
        if not p.is_dir():
            raise DataNotFound(
                f"data set {self.name!r}: looked for {self.layout} under the data root {self.root} and found no folder {p}. "
                "Put the set there in its usual layout, or point --data-root / "
                f"{ENV_DATA_ROOT} at the folder that holds it."
                + (f" {hint.replace('DIR', str(self.root))}" if hint else "")
            )
        return p

    def resolved_type(self, p: Path) -> str:
        if self.type != "auto":
            return self.type
        if p.is_file():
            return "video-file" if p.suffix.lower() in VIDEO_EXTS else "image-file"
        t, why = guess_folder_type(p)
        said = (str(p.resolve()), t, why)
        if said not in _GUESSES_SAID:
            _GUESSES_SAID.add(said)
            # one line, once per folder (not per sweep level): the guess changes what the rows mean (clip vs images)
            print(
                f"{self.name}: read as {t} ({why}); `{self.name}@...:type={'images' if t == 'frames' else 'frames'}` "
                "says otherwise",
                file=sys.stderr,
            )
        return t

    @property
    def kind(self) -> str:  # type: ignore[override]
        try:
            t = self.resolved_type(self.location())
        except DataNotFound:
            t = self.type
        return "video" if t in ("frames", "videos", "video-file") else "image"

    def items(self) -> Iterator[Item]:
        p = self.location()
        t = self.resolved_type(p)
        if t == "image-file":
            yield image_item(p)
        elif t == "video-file":
            yield video_file_item(p, max_frames=self.max_frames)
        elif t == "images":
            files = list_images(p)
            if not files:
                raise DataNotFound(f"data set {self.name!r}: no images ({', '.join(IMAGE_EXTS)}) in {p}")
            ids = item_ids(files)
            for f in files:
                yield image_item(f, ids[f])
        elif t == "videos":
            videos = list_videos(p)
            ids = item_ids(videos)
            for f in videos:
                yield video_file_item(f, ids[f], max_frames=self.max_frames)
        elif t == "frames":
            subdirs = [d for d in sorted(p.iterdir()) if d.is_dir() and list_images(d)]
            if subdirs:
                for d in subdirs:
                    yield frame_folder_item(d, fps=self.fps, max_frames=self.max_frames)
            else:
                yield frame_folder_item(p, fps=self.fps, max_frames=self.max_frames)
        else:
            raise DataNotFound(f"data set {self.name!r}: unknown folder type {t!r} (images, frames, videos, auto)")

    def describe(self) -> dict[str, Any]:
        d = {"name": self.name, "version": self.version, "type": self.type}
        if getattr(self, "_guessed", None):
            d["guessed"] = self._guessed[0]
        if self.path is not None:
            d["path"] = str(self.path)
        else:
            d["layout"] = self.layout
        if self.max_frames:
            d["max_frames"] = self.max_frames
        if self.fps:  # a frame folder's rate (a spec file's fps): codecs and rates depend on it
            d["fps"] = self.fps
        return d
