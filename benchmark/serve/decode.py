"""Decoding what clients send, safely: the size is read from the header before any pixel is
decoded (a small PNG can declare 30000x30000 pixels), 16-bit pictures are brought to 8 bits
without a float copy, and at most :data:`MAX_DECODES` decodes run at once in the process."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from benchmark.core.imaging import TooLarge, check_pixels, header_size, uint16_to_uint8  # noqa: F401  (the server's names for them)

MAX_DECODES = 2
#: every decode of an upload or a live frame holds one of these
DECODES = threading.BoundedSemaphore(MAX_DECODES)
DECODE_WAIT_S = 60.0


class Busy(RuntimeError):
    """No decode slot came free in time."""


class NoDecoder(LookupError):
    """A stream FFmpeg finds but cannot decode; the message says what it is."""


def decode(src: bytes | Path, limit: int, flags: int | None = None, what: str = "image") -> np.ndarray | None:
    """The decoded picture of ``src`` (bytes, or a file) with OpenCV (``flags`` default IMREAD_UNCHANGED, 16 bits
    brought to 8), or None when it is no image Pillow and OpenCV both know. Over ``limit`` pixels:
    :class:`TooLarge`, before anything is decoded."""
    import cv2

    try:
        size = header_size(src)
    except TooLarge as exc:
        raise TooLarge(f"{exc} is larger than the limit of {limit:,} pixels") from None
    if size is None:
        return None
    check_pixels(what, *size, limit)
    if not DECODES.acquire(timeout=DECODE_WAIT_S):
        raise Busy("the server is busy decoding other pictures; try again in a moment")
    try:
        buf = np.frombuffer(src, np.uint8) if isinstance(src, bytes) else np.fromfile(str(src), dtype=np.uint8)
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED if flags is None else flags)
        return None if img is None else uint16_to_uint8(img)
    finally:
        DECODES.release()


def video_size(path: Path, limit: int) -> tuple[int, int]:
    """(width, height) of the first video stream from the container and codec headers (PyAV; frames are
    decoded only after the check). Over ``limit``: :class:`TooLarge`."""
    import av

    with av.open(str(path)) as c:
        if not c.streams.video:
            raise LookupError("no video stream")
        vs = c.streams.video[0]
        if vs.codec_context is None:  # a stream FFmpeg finds but has no decoder for (an SVG's svg_pipe)
            raise NoDecoder(
                "an SVG drawing (vectors, no pixels): rasterise it to PNG first"
                if "svg" in c.format.name
                else f"no decoder for its {c.format.name} stream"
            )
        w, h = vs.codec_context.width, vs.codec_context.height
        if w and h:
            check_pixels("video", w, h, limit)
        if not DECODES.acquire(timeout=DECODE_WAIT_S):
            raise Busy("the server is busy decoding other pictures; try again in a moment")
        try:
            frame = next(c.decode(vs), None)
        finally:
            DECODES.release()
        if frame is None:
            raise EOFError("no decodable frame")
        check_pixels("video", frame.width, frame.height, limit)
        return frame.width, frame.height
