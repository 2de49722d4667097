"""Training clips made from still photos: a camera that pans and zooms over each photo.

Video restorers must learn the artifacts of inter-coded (P/B) frames, which differ from those
of a photo coded alone (intra): motion-compensated blur, smeared texture, blocks that drift.
Training-only video of that kind is not at hand offline, so ``bsd200-pan`` renders it from
BSDS's training photos: each photo becomes one clip of ``frames`` frames (default 10) of
384x256 (portrait photos are transposed first), seen through a window that moves at a
constant sub-pixel velocity (up to 6 px/frame across, 3 down) and zooms slightly (up to
0.4% a frame), drawn with Lanczos interpolation. Motion is drawn per photo from ``seed``, so
a clip is the same on every machine. Degrade it like any clip: ``bsd200-pan-qp46`` encodes
each clip with libx264 at constant QP 46 (I, P and B frames). TRAINING data: never a test set.
"""

from __future__ import annotations

import dataclasses
import zlib
from pathlib import Path
from typing import Any, ClassVar, Iterator

import numpy as np

from benchmark.core.imaging import read_image, sha256_file

from ..api import Dataset, Item, digest
from .base import item_ids, list_images
from .folders import BSD200

WIDTH, HEIGHT = 384, 256
MAX_SPEED = (6.0, 3.0)  # px per frame, across and down
MAX_ZOOM = 0.004  # relative scale change per frame


def pan_frames(
    photo: np.ndarray, frames: int, rng: np.random.Generator, size: tuple[int, int] = (WIDTH, HEIGHT)
) -> list[np.ndarray]:
    """``frames`` views of ``photo`` (H x W x C uint8) through a ``size`` window moving at a
    constant velocity and zoom drawn from ``rng``; the whole path stays inside the photo."""
    import cv2

    if photo.shape[0] > photo.shape[1]:
        photo = np.ascontiguousarray(photo.transpose(1, 0, 2))
    h, w = photo.shape[:2]
    cw, ch = size
    if w < cw or h < ch:
        raise ValueError(f"a {w}x{h} photo is smaller than the {cw}x{ch} pan window")
    n = max(frames - 1, 1)
    zoom = rng.uniform(-MAX_ZOOM, MAX_ZOOM)
    scales = (1 + zoom) ** np.arange(frames)  # window size relative to the output, per frame
    scales = scales / max(scales.max(), 1.0)  # the largest window is the output size (no upscaling beyond it)
    room = [w - cw, h - ch]
    speed = [
        rng.uniform(-min(MAX_SPEED[0], room[0] / n), min(MAX_SPEED[0], room[0] / n)),
        rng.uniform(-min(MAX_SPEED[1], room[1] / n), min(MAX_SPEED[1], room[1] / n)),
    ]
    # start so that the window centre's path, ± half a window, fits in the photo
    centres = []
    for axis, (extent, win) in enumerate(((w, cw), (h, ch))):
        travel = speed[axis] * n
        lo = win / 2 + max(0.0, -travel)
        hi = extent - win / 2 - max(0.0, travel)
        c0 = rng.uniform(lo, hi) if hi > lo else extent / 2
        centres.append(c0 + speed[axis] * np.arange(frames))
    out = []
    for t in range(frames):
        s = scales[t]  # output pixel -> photo pixel: x = cx + (u - cw/2) * s
        m = np.array([[s, 0, centres[0][t] - cw / 2 * s], [0, s, centres[1][t] - ch / 2 * s]], np.float64)
        f = cv2.warpAffine(
            photo, m, (cw, ch), flags=cv2.INTER_LANCZOS4 | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT
        )
        out.append(f if f.ndim == 3 else f[..., None])
    return out


class BSD200Pan(Dataset):
    name: ClassVar[str] = "bsd200-pan"
    version: ClassVar[str] = "1"
    kind: ClassVar[str] = "video"
    layout: ClassVar[str] = BSD200.layout
    description: ClassVar[str] = (
        "Clips rendered from BSDS train photos by a panning, zooming camera (10 frames of 384x256 each): "
        "TRAINING data for video restorers, never a test set."
    )

    def __init__(self, root: Path | None = None, frames: int = 10, seed: int = 0, **params: Any):
        super().__init__(root, **params)
        self.frames, self.seed = int(frames), int(seed)
        self.photos = BSD200(root)

    def items(self) -> Iterator[Item]:
        files = list_images(self.photos.location())
        ids = item_ids(files)  # the stem, or the whole name where two photos share one
        for path in files:
            yield self._item(path, ids[path])

    def _item(self, path: Path, item_id: str) -> Item:
        def frames() -> Iterator[np.ndarray]:
            rng = np.random.default_rng([self.seed, zlib.crc32(path.stem.encode())])
            yield from pan_frames(read_image(path), self.frames, rng)

        return Item(
            item_id=item_id,
            kind="video",
            frames=frames,
            fingerprint=lambda: digest("pan-clip", self.version, sha256_file(path), self.frames, self.seed),
            fps=25.0,
            source=str(path),
        )

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "kind": self.kind, "frames": self.frames, "seed": self.seed}


MAX_GRAIN = 4.0  # the largest grain's standard deviation, on the 0-255 scale


class BSD200GrainPan(BSD200Pan):
    """``bsd200-pan``'s clips with camera grain in the reference: Gaussian noise drawn afresh
    for every frame and pixel (the same on the three channels, as luma grain, plus a third of it
    per channel), its standard deviation drawn per clip from 0 to ``MAX_GRAIN``, seeded. The codec
    loses most of it, so a restorer trained on these clips learns that texture it cannot tell
    from grain belongs in the reference and is not an artifact to remove (on clean pans, the
    H.264 restorer removed it from Vid4: docs/recipes.md)."""

    name: ClassVar[str] = "bsd200-grainpan"
    description: ClassVar[str] = (
        "bsd200-pan's clips with per-frame camera grain in the reference (sigma 0-4 per clip, seeded): "
        "TRAINING data for video restorers, never a test set."
    )

    def _item(self, path: Path, item_id: str) -> Item:
        item = super()._item(path, item_id)
        clean = item.frames

        def frames() -> Iterator[np.ndarray]:
            rng = np.random.default_rng([self.seed, zlib.crc32(path.stem.encode()), 1])
            sigma = rng.uniform(0.0, MAX_GRAIN)
            for f in clean():
                shared = rng.standard_normal(f.shape[:2] + (1,))
                own = rng.standard_normal(f.shape)
                noise = sigma * (shared + own / 3) / np.sqrt(1 + 1 / 9)
                yield np.clip(np.round(f + noise), 0, 255).astype(np.uint8)

        fingerprint = item.fingerprint
        return dataclasses.replace(item, frames=frames, fingerprint=lambda: digest("grain", MAX_GRAIN, fingerprint()))
