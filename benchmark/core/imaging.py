"""Image conventions used everywhere in bench.

* Frames are ``numpy.uint8`` arrays of shape ``(H, W, C)`` with ``C`` = 3 (RGB order)
  or ``C`` = 1 (grayscale / luma). Never BGR, never 0-1 floats at plug-in boundaries.
* Y is ITU-R BT.601 luma in MATLAB's ``rgb2ycbcr`` convention (16-235 for 8-bit),
  the convention of the JPEG-artifact-removal and SR literature. The denoising literature's
  gray is full-range BT.601 luma (0-255, OpenCV's ``COLOR_RGB2GRAY``): :func:`rgb_to_gray_uint8`.
* A file is untrusted: :func:`read_image` sizes it from its header (:func:`header_size`, the one header
  reader, shared with ``bench serve``) before reading it, and opens regular files only (a FIFO would
  block, /dev/zero never ends).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
from pathlib import Path
from typing import IO, Any

import numpy as np

IMAGE_EXTS = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".ppm", ".pgm")

#: the most bytes an image file may take per pixel its header declares (16-bit RGBA, stored raw) ...
BYTES_PER_PIXEL = 8
#: ... plus this much for its metadata (EXIF, ICC profile, thumbnails)
METADATA_BYTES = 64 << 20
#: the most bytes of a file whose size Pillow cannot read from its header (OpenCV may still decode it)
UNSIZED_MAX_BYTES = 512 << 20


class TooLarge(ValueError):
    """A picture over the pixel limit, or a file larger than its picture can be; the message says how
    large it is and what the limit is. ``pixels``: the count its header declares, when known."""

    def __init__(self, message: str, pixels: int | None = None):
        super().__init__(message)
        self.pixels = pixels


def _pillow_open():
    """Pillow's own ``Image.open``. Importing ultralytics (the detection metrics) replaces it with
    a wrapper that, on a file Pillow does not know, runs ``check_requirements("pi-heif")`` (a pip
    install over the network) and imports it: never from here."""
    import sys

    from PIL import Image

    patched = sys.modules.get("ultralytics.utils.patches")
    return getattr(patched, "_image_open", None) or Image.open


def header_size(src: bytes | str | os.PathLike | IO[bytes]) -> tuple[int, int] | None:
    """(width, height) from the image's header (Pillow reads only the header) of ``src``: bytes, a
    path or an open binary file; None when Pillow does not know it as an image. A header Pillow
    calls a decompression bomb is a :class:`TooLarge` at once (its ``pixels`` the count declared)."""
    from PIL import Image, UnidentifiedImageError

    fp: Any = (
        io.BytesIO(src)
        if isinstance(src, (bytes, bytearray, memoryview))
        else (str(src) if isinstance(src, (str, os.PathLike)) else src)
    )
    try:
        with _pillow_open()(fp) as im:
            return im.size
    except Image.DecompressionBombError as exc:
        m = re.search(r"\((\d+) pixels\)", str(exc))
        n = int(m.group(1)) if m else None
        raise TooLarge(f"image of {n:,} pixels" if n else "image of too many pixels", n) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None


def check_pixels(what: str, w: int, h: int, limit: int) -> None:
    """Refuse ``what`` of ``w``x``h`` pixels over ``limit``."""
    if w * h > limit:
        raise TooLarge(f"{what} of {w}x{h} pixels is larger than the limit of {limit:,} pixels", w * h)


_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _refuse_irregular(path: str | os.PathLike, mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = next((k for test, k in _KINDS if test(mode)), "not a regular file")
        raise ValueError(f"{path} is {kind}, not a regular file (reading a pipe or a device would block or never end)")


def check_regular(path: str | os.PathLike) -> os.stat_result:
    """``path``'s status, or a ValueError naming it when it is no regular file (a FIFO, a device such as
    /dev/zero, a socket, a folder): found with ``stat``, without opening it (opening a FIFO blocks)."""
    st = os.stat(path)
    _refuse_irregular(path, st.st_mode)
    return st


def open_regular(path: str | os.PathLike) -> IO[bytes]:
    """``path`` open for reading in binary, refused (ValueError) unless it is a regular file. It is
    opened without blocking and checked again on the open file, so a FIFO swapped in after the
    check is not waited on either."""
    check_regular(path)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        _refuse_irregular(path, os.fstat(fd).st_mode)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _probe(path: str | os.PathLike, f: IO[bytes], max_pixels: int | None) -> tuple[tuple[int, int] | None, int, str]:
    """(size from the header or None, the most bytes ``f`` may hold as that image, the image in words),
    the header checked against ``max_pixels`` (None or 0: not checked) and the file's size against the cap."""
    try:
        size = header_size(f)
    except TooLarge as exc:
        if max_pixels:
            raise TooLarge(f"{path}: {exc} is larger than the limit of {max_pixels:,} pixels", exc.pixels) from None
        n = exc.pixels
        size, what = None, f"an image of {n:,} pixels" if n else "an image of too many pixels"
        cap = n * BYTES_PER_PIXEL + METADATA_BYTES if n else UNSIZED_MAX_BYTES
    else:
        if size is None:
            cap, what = UNSIZED_MAX_BYTES, "a file whose size Pillow cannot read from its header"
        else:
            if max_pixels:
                check_pixels(f"{path}: image", *size, max_pixels)
            cap, what = size[0] * size[1] * BYTES_PER_PIXEL + METADATA_BYTES, f"an image of {size[0]}x{size[1]} pixels"
    n = os.fstat(f.fileno()).st_size
    if n > cap:
        raise ValueError(
            f"{path}: {n:,} bytes, more than {what} can take ({cap:,} bytes at most); damaged, "
            "or not the image its name says"
        )
    return size, cap, what


def image_file_size(path: str | os.PathLike, max_pixels: int | None = None) -> tuple[int, int] | None:
    """(width, height) of the image file ``path`` from its header, None when Pillow cannot size it; checked
    as :func:`read_image_bytes` checks it, and nothing past the header is read."""
    with open_regular(path) as f:
        return _probe(path, f, max_pixels)[0]


def read_image_bytes(path: str | os.PathLike, max_pixels: int | None = None) -> bytes:
    """The bytes of the image file ``path``, read only after its header and size are checked: a regular
    file (:func:`open_regular`), within ``max_pixels`` (None or 0: not checked here) by its header
    (:class:`TooLarge`), and no larger than the pixels it declares can take (:data:`BYTES_PER_PIXEL`
    each, plus :data:`METADATA_BYTES`; :data:`UNSIZED_MAX_BYTES` when Pillow cannot size it).
    Refusals are ValueErrors naming the file, raised before the body is read."""
    with open_regular(path) as f:
        _, cap, what = _probe(path, f, max_pixels)
        f.seek(0)
        data = f.read(cap + 1)
    if len(data) > cap:  # it grew since
        raise ValueError(
            f"{path}: more than {cap:,} bytes, more than {what} can take; damaged, or not the image its name says"
        )
    return data


def read_image(path: str | os.PathLike, max_pixels: int | None = None) -> np.ndarray:
    """Read an image file as uint8 HxWxC RGB (C=3) or gray (C=1).

    16-bit files are scaled to 8 bits; alpha is dropped. The file is sized from its header before
    it is read (:func:`read_image_bytes`): a FIFO, a device, a file larger than its picture can be
    or a picture over ``max_pixels`` is a ValueError naming it."""
    return decode_image(read_image_bytes(path, max_pixels), path)


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


# ----------------------------------------------------------------------------- frame conversions
def to_uint8(frame: np.ndarray) -> np.ndarray:
    """A frame on the 0-255 scale as uint8: float values rounded (half to even) and clipped to
    0..255; a uint8 frame as it is. The one road from float frames to 8 bits."""
    return frame if frame.dtype == np.uint8 else np.clip(np.round(frame), 0, 255).astype(np.uint8)


def uint16_to_uint8(img: np.ndarray) -> np.ndarray:
    """A 16-bit picture as 8 bits, ``round(x / 257)`` exactly (no tie is possible: 257 is odd),
    scaled by OpenCV straight into the 8-bit array (no float64 copy); other types as they are."""
    if img.dtype != np.uint16:
        return img
    import cv2

    return cv2.convertScaleAbs(img, alpha=1 / 257)


def tensor_to_uint8(t: Any, low: float = 0.0) -> np.ndarray:
    """A torch (N, C, H, W) float tensor on ``low``..1 (0: the 0-1 scale; -1: a network's -1..1)
    -> uint8 (N, H, W, C) NumPy, clamped and rounded (half to even)."""
    import torch

    # in place after the clamp's copy: one float temporary as large as the output, not four
    if low == 0.0:
        return t.float().clamp(0, 1).mul_(255).round_().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return t.float().clamp(-1, 1).add_(1).mul_(127.5).round_().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def channel_mean_uint8(frame: np.ndarray) -> np.ndarray:
    """An RGB output averaged back to one channel (HxWx1 uint8, rounded): how a network that only
    sees colour returns a gray frame."""
    return np.round(frame.mean(axis=-1, keepdims=True)).astype(np.uint8)


def normalize_decoded(img: np.ndarray) -> np.ndarray:
    """OpenCV-decoded array (BGR/BGRA/gray, 8 or 16 bit) -> uint8 HxWxC RGB or gray."""
    if img.dtype == np.uint16:
        img = uint16_to_uint8(img)
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
        return to_uint8(arr)
    raise ValueError(f"output frame dtype {arr.dtype}; expected uint8 or float on the 0-255 scale")


def check_outputs(
    name: str, batch: list[np.ndarray], outs: list[Any], scale: int, first_index: int = 0
) -> list[np.ndarray]:
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
            raise ValueError(
                f"frame {index}: {name} returned shape {arr.shape}, expected {expected} (input x scale {scale})"
            )
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
