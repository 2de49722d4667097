"""Image conventions used everywhere in bench.

* Frames are ``numpy.uint8`` arrays of shape ``(H, W, C)`` with ``C`` = 3 (RGB order)
  or ``C`` = 1 (grayscale / luma). Never BGR, never 0-1 floats at plug-in boundaries.
* Y is ITU-R BT.601 luma in MATLAB's ``rgb2ycbcr`` convention (16-235 for 8-bit),
  the convention of the JPEG-artifact-removal and SR literature. The denoising literature's
  gray is full-range BT.601 luma (0-255, OpenCV's ``COLOR_RGB2GRAY``): :func:`rgb_to_gray_uint8`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

IMAGE_EXTS = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as uint8 HxWxC RGB (C=3) or gray (C=1).

    16-bit files are scaled to 8 bits; alpha is dropped."""
    return decode_image(np.fromfile(str(path), dtype=np.uint8), path)


def decode_image(data: bytes | np.ndarray, path: str | os.PathLike = "image") -> np.ndarray:
    """An encoded image (the bytes of a file; ``path`` names it in errors) as :func:`read_image` returns it."""
    import cv2

    buf = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray)) else data
    if buf.size == 0:
        raise ValueError(f"{path}: empty file")
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"{path}: not a readable image (OpenCV could not decode it)")
    return normalize_decoded(img)


def normalize_decoded(img: np.ndarray) -> np.ndarray:
    """OpenCV-decoded array (BGR/BGRA/gray, 8 or 16 bit) -> uint8 HxWxC RGB or gray."""
    if img.dtype == np.uint16:
        img = (img.astype(np.float64) / 257.0).round().astype(np.uint8)
    elif img.dtype != np.uint8:
        raise ValueError(f"unsupported image dtype {img.dtype}")
    if img.ndim == 2:
        return img[:, :, None]
    if img.shape[2] == 4:
        img = img[:, :, :3]
    if img.shape[2] == 1:
        return img
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_BGR2RGB)  # 80x faster than a NumPy flip copy


def encode_png(img: np.ndarray, level: int = 1) -> bytes:
    import cv2

    arr = img[:, :, 0] if img.shape[2] == 1 else cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", arr, [cv2.IMWRITE_PNG_COMPRESSION, level])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def write_png(path: str | os.PathLike, img: np.ndarray, level: int = 1) -> None:
    Path(path).write_bytes(encode_png(img, level))


_Y_WEIGHTS = np.array([[65.481, 128.553, 24.966]])


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2ycbcr`` luma as float64 on the 0-255 scale (16-235), unrounded.

    A single-channel input is returned as float64 unchanged (it already is luma)."""
    x = img.astype(np.float64)
    if x.shape[2] == 1:
        return x[:, :, 0]
    import cv2

    y = cv2.transform(x, _Y_WEIGHTS)  # 65.481 R + 128.553 G + 24.966 B per pixel, in float64 (~2x numpy's three passes)
    y /= 255.0
    y += 16.0
    return y


def rgb_to_y_uint8(img: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2ycbcr`` on uint8 input: luma rounded to uint8, shape HxWx1."""
    return np.clip(np.round(rgb_to_y(img)), 0, 255).astype(np.uint8)[:, :, None]


def rgb_to_gray_uint8(img: np.ndarray) -> np.ndarray:
    """Full-range BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` on 0..255, rounded, shape HxWx1:
    exactly OpenCV's ``cvtColor(.., COLOR_RGB2GRAY)`` (its fixed-point rounding included), the
    gray of the denoising literature (KAIR/DnCNN). Not MATLAB ``rgb2ycbcr`` Y (16-235, see
    :func:`rgb_to_y_uint8`). A single-channel input is returned unchanged."""
    if img.shape[2] == 1:
        return img
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(img, dtype=np.uint8), cv2.COLOR_RGB2GRAY)[:, :, None]


def to_uint8_frame(out: np.ndarray) -> np.ndarray:
    """Validate a method's output frame (uint8, or float on the 0-255 scale)."""
    arr = np.asarray(out)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3):
        raise ValueError(f"output frame has shape {arr.shape}; expected HxWx3 or HxWx1")
    if arr.dtype == np.uint8:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
            raise ValueError(f"output frame contains {bad} NaN/inf values")
        return np.clip(np.round(arr), 0, 255).astype(np.uint8)
    raise ValueError(f"output frame dtype {arr.dtype}; expected uint8 or float on the 0-255 scale")


def check_outputs(name: str, batch: list[np.ndarray], outs: list[Any], scale: int, first_index: int = 0) -> list[np.ndarray]:
    """A method's outputs for ``batch`` as uint8 frames, checked: one per input, finite,
    and ``scale`` times the input's size with its channels. Raises ValueError naming the frame."""
    if len(outs) != len(batch):
        raise ValueError(f"{name} returned {len(outs)} frames for a batch of {len(batch)}")
    result = []
    for index, (f_in, f_out) in enumerate(zip(batch, outs), start=first_index):
        try:
            arr = to_uint8_frame(f_out)
        except ValueError as exc:
            raise ValueError(f"frame {index}: {exc}") from None
        expected = (f_in.shape[0] * scale, f_in.shape[1] * scale, f_in.shape[2])
        if arr.shape != expected:
            raise ValueError(f"frame {index}: {name} returned shape {arr.shape}, expected {expected} (input x scale {scale})")
        result.append(arr)
    return result


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def sha256_array(img: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(repr((img.shape, str(img.dtype))).encode())
    h.update(np.ascontiguousarray(img).tobytes())
    return h.hexdigest()
