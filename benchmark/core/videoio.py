"""Video files: decoding a clip's frames (the one place: :func:`decode_frames`, :func:`rgb`,
:func:`frame_count`, for the data sets, ``bench enhance``, the recipes, the site and ``bench serve``)
and writing video for ``bench enhance`` (and the recipes): an encoded stream fed RGB frames, each
with its timestamp.

A variable-frame-rate input (a phone's clip, a screen recording) has frames at irregular times; an
encoder fed frames without timestamps numbers them at one constant rate, so a 1.0 s clip of 9 frames
at irregular times became 0.36 s at 25 fps (and its copied audio drifted). :class:`FrameTimes` keeps
each decoded frame's presentation time for the frame written in its place, in the input stream's
time base; a frame without one (or one not after the previous) takes the previous time plus one
frame at the stream's average rate."""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Any, Iterator

import numpy as np

#: ``bench enhance --codec`` names and their FFmpeg encoders
CODECS = {"h264": "libx264", "hevc": "libx265", "av1": "libsvtav1"}
#: the encoders' speed presets unless asked (``--preset``): x264/x265 ``veryfast``, not their ``medium``
#: (measured, 100 frames of 1280x544 at CRF 18 on the 2-core machine: 51 ms of CPU a frame at medium,
#: 21 ms at veryfast, files 0.93 and 0.90 MB; beside a network that uses every core, the encoder's CPU
#: is the frame rate's)
PRESETS = {"h264": "veryfast", "hevc": "veryfast"}
X26X_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)


# ----------------------------------------------------------------------------- decoding
def rgb(frame: Any) -> np.ndarray:
    """A decoded PyAV video frame as a uint8 HxWx3 RGB array."""
    return frame.to_ndarray(format="rgb24")


def decode_frames(
    source: str | os.PathLike | Any, max_frames: int | None = None, only: set[int] | None = None
) -> Iterator[np.ndarray]:
    """The RGB frames of the first video stream of ``source`` (a path, or a PyAV container opened
    by the caller), in order: at most ``max_frames``; with ``only``, just the frames of those
    indices (decoding stops after the last one, and the others are never converted)."""
    if isinstance(source, (str, os.PathLike)):
        import av

        with av.open(str(source)) as container:
            yield from decode_frames(container, max_frames, only)
        return
    last = None if only is None else max(only, default=-1)
    for i, vf in enumerate(source.decode(video=0)):
        if (max_frames and i >= max_frames) or (last is not None and i > last):
            break
        if only is None or i in only:
            yield rgb(vf)


def frame_count(path: str | os.PathLike) -> int:
    """The frames of a video file's first stream as its header says (frames, else duration x rate;
    0 when it says neither)."""
    import av

    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        if vs.frames:
            return int(vs.frames)
        if vs.duration and vs.average_rate:
            return max(1, int(float(vs.duration * vs.time_base) * float(vs.average_rate)))
    return 0


class Writer:
    """An encoded video stream of even size, fed uint8 RGB frames (optionally with pts in ``time_base``)."""

    def __init__(
        self,
        container,
        codec: str,
        rate: Fraction,
        w: int,
        h: int,
        crf: int,
        time_base: Fraction | None = None,
        preset: str | None = None,
    ):
        import av

        self.av, self.container = av, container
        self.stream = container.add_stream(CODECS[codec], rate=rate)
        self.stream.width, self.stream.height = w + w % 2, h + h % 2
        self.stream.pix_fmt = "yuv420p"
        preset = preset or PRESETS.get(codec)
        self.stream.options = {"crf": str(crf), **({"preset": preset} if preset else {})}
        self.time_base = time_base
        if time_base is not None:
            self.stream.time_base = time_base
            self.stream.codec_context.time_base = time_base

    def write(self, img: np.ndarray, pts: int | None = None) -> None:
        if img.shape[2] == 1:
            img = np.repeat(img, 3, 2)
        if img.shape[0] % 2 or img.shape[1] % 2:
            img = np.pad(img, ((0, img.shape[0] % 2), (0, img.shape[1] % 2), (0, 0)), mode="edge")
        vf = self.av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
        if pts is not None:
            vf.pts, vf.time_base = pts, self.time_base
        for pkt in self.stream.encode(vf):
            self.container.mux(pkt)

    def close(self) -> None:
        for pkt in self.stream.encode():
            self.container.mux(pkt)


class FrameTimes:
    """The output timestamps of a video stream's decoded frames: each frame's own pts, in the stream's
    time base (:attr:`time_base`), made strictly increasing (an encoder refuses a repeated one)."""

    def __init__(self, stream, rate: Fraction):
        self.time_base: Fraction = stream.time_base or Fraction(1, 90000)
        self.step = max(1, round(1 / (Fraction(rate) * self.time_base))) if rate else 1  # one frame at the average rate
        self.last: int | None = None

    def of(self, frame) -> int | None:
        """``frame``'s presentation time in :attr:`time_base` (None when it has none)."""
        if frame.pts is None:
            return None
        tb = frame.time_base
        return int(frame.pts) if tb is None or tb == self.time_base else round(frame.pts * tb / self.time_base)

    def next(self, pts: int | None) -> int:
        """The timestamp to write for a frame decoded with ``pts`` (:meth:`of`)."""
        if pts is None or (self.last is not None and pts <= self.last):
            pts = 0 if self.last is None else self.last + self.step
        self.last = pts
        return pts
