"""H.264 and HEVC through PyAV (FFmpeg's libx264/libx265): encode, then decode back to frames.

Frames are streamed: the encoder consumes the input iterator one frame at a time and
the decoded frames are yielded one at a time, so a clip is never held in memory."""

from __future__ import annotations

import functools
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from ..api import Degradation

DEFAULT_FPS = 25.0


@functools.lru_cache(maxsize=None)
def _av_versions() -> dict[str, str]:
    import av

    libs = {k: ".".join(map(str, v)) for k, v in av.library_versions.items() if k == "libavcodec"}
    return {"pyav": av.__version__, **libs}


# x264's CPU flags by the names of its --asm option, and the /proc/cpuinfo flag that shows each
X264_ASM = [
    ("MMX2", "sse"),
    ("SSE", "sse"),
    ("SSE2", "sse2"),
    ("SSE3", "pni"),
    ("SSSE3", "ssse3"),
    ("SSE4", "sse4_1"),
    ("SSE4.2", "sse4_2"),
    ("LZCNT", "abm"),
    ("AVX", "avx"),
    ("FMA3", "fma"),
    ("BMI1", "bmi1"),
    ("BMI2", "bmi2"),
    ("AVX2", "avx2"),
]


@functools.lru_cache(maxsize=None)
def x264_asm() -> str | None:
    """x264's ``asm`` setting without AVX-512, where the CPU has it: x264's AVX-512 code gave a
    different stream from one encode to the next in one process (Vid4 city at CRF 35: 447.0,
    448.6, 445.2 kbit/s ...; with AVX2 at most, the same bits every time, as on CPUs without
    AVX-512). None (x264's own detection) where the CPU has no AVX-512 or its flags are unknown."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(next((line for line in f if line.startswith("flags")), "").split(":", 1)[-1].split())
    except OSError:
        return None
    if "avx512f" not in flags:
        return None
    return ",".join(name for name, flag in X264_ASM if flag in flags or (flag == "abm" and "lzcnt" in flags))


def _to_yuv420p(frame: np.ndarray, gray: bool) -> "Any":
    import av

    if gray:
        h, w = frame.shape[:2]
        y = frame[:, :, 0]
        chroma = np.full((h // 4, w), 128, np.uint8)  # U and V planes (h/2 x w/2 each), flattened
        return av.VideoFrame.from_ndarray(np.concatenate([y, chroma, chroma]), format="yuv420p")
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")


class _VideoCodec(Degradation):
    codec = "libx264"
    label_prefix = ""

    def __init__(
        self,
        crf: int | str | None = None,
        qp: int | str | None = None,
        kbps: int | str | None = None,
        preset: str = "medium",
        threads: int | str = 1,
    ):
        given = [k for k, v in (("crf", crf), ("qp", qp), ("kbps", kbps)) if v is not None]
        if len(given) != 1:
            raise ValueError(f"{self.name}: give exactly one of crf, qp, kbps (got {given or 'none'})")
        params: dict[str, Any] = {"codec": self.codec, "pix_fmt": "yuv420p", "preset": preset, "threads": int(threads)}
        params["rate_control"] = given[0]
        params[given[0]] = int({"crf": crf, "qp": qp, "kbps": kbps}[given[0]])
        params.update(_av_versions())
        params["odd_sizes"] = "edge-padded to even, cropped after decoding"
        params["rgb_to_yuv"] = "swscale default (BT.601, limited range)"
        if self.codec == "libx264":  # a new cache key: entries made with the AVX-512 code may hold another draw
            params["x264_asm"] = "AVX-512 off (its code is not deterministic)"
        super().__init__(**params)

    @classmethod
    def from_token(cls, match):  # type: ignore[override]
        kind, value = match.group("rc"), match.group("value")
        return cls(**{kind: value})

    def label(self) -> str:
        rc = self.params["rate_control"]
        label = f"{self.label_prefix}{rc}{self.params[rc]}"
        return label if self.params["preset"] == "medium" else f"{label}{self.params['preset']}"

    def _options(self) -> dict[str, str]:
        p = self.params
        opts = {"preset": p["preset"]}
        if self.codec == "libx264":
            opts["threads"] = str(p["threads"])
            if x264_asm():
                opts["x264-params"] = f"asm={x264_asm()}"
            if p["rate_control"] == "crf":
                opts["crf"] = str(p["crf"])
            elif p["rate_control"] == "qp":
                opts["qp"] = str(p["qp"])
        else:
            x265 = ["log-level=error", f"pools={p['threads']}", "frame-threads=1"]
            if p["rate_control"] == "crf":
                opts["crf"] = str(p["crf"])
            elif p["rate_control"] == "qp":
                x265.append(f"qp={p['qp']}")
            opts["x265-params"] = ":".join(x265)
        return opts

    def apply(self, frame: np.ndarray) -> np.ndarray:
        return next(iter(self.apply_frames([frame], None, {})))

    def apply_frames(
        self, frames: Iterable[np.ndarray], fps: float | None, info: dict[str, Any]
    ) -> Iterator[np.ndarray]:
        import av

        fps = fps or DEFAULT_FPS
        rate = Fraction(fps).limit_denominator(1001)
        with tempfile.TemporaryDirectory(prefix="bench-codec-") as tmp:
            path = Path(tmp) / "clip.mkv"
            bits = n = 0
            shape = None
            with av.open(str(path), "w") as out:
                stream = None
                for frame in frames:
                    h, w, c = frame.shape
                    if stream is None:
                        shape = (h, w, c)
                        stream = out.add_stream(self.codec, rate=rate, options=self._options())
                        stream.width, stream.height = w + w % 2, h + h % 2
                        stream.pix_fmt = "yuv420p"
                        stream.codec_context.time_base = 1 / rate
                        if self.params["rate_control"] == "kbps":
                            stream.bit_rate = self.params["kbps"] * 1000
                    elif frame.shape != shape:
                        raise ValueError(f"frame {n} has shape {frame.shape}, the clip started with {shape}")
                    if h % 2 or w % 2:
                        frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
                    vf = _to_yuv420p(frame, gray=(c == 1))
                    vf.pts = n
                    for packet in stream.encode(vf):
                        bits += 8 * packet.size
                        out.mux(packet)
                    n += 1
                if stream is None:
                    raise ValueError("no frames to encode")
                for packet in stream.encode(None):
                    bits += 8 * packet.size
                    out.mux(packet)
            assert shape is not None
            h, w, c = shape
            info["bpp"] = bits / (n * h * w)
            info["bitrate_kbps"] = bits / (n / fps) / 1000.0
            decoded = 0
            with av.open(str(path)) as inp:
                for vf in inp.decode(video=0):
                    if c == 1:
                        arr = vf.to_ndarray(format="yuv420p")[: h + h % 2, :][:h, :w, None]
                    else:
                        arr = vf.to_ndarray(format="rgb24")[:h, :w]
                    decoded += 1
                    yield np.ascontiguousarray(arr)
            if decoded != n:
                raise ValueError(f"{self.codec} round trip returned {decoded} frames for {n}")


class H264(_VideoCodec):
    name = "h264"
    version = "1"
    codec = "libx264"
    label_prefix = ""
    examples = ("crf35", "qp30", "kbps2000")
    token = r"(?:h264)?(?P<rc>crf|qp|kbps)(?P<value>\d+)"
    description = (
        "H.264 (libx264 via PyAV), yuv420p, preset medium, 1 encoder thread, x264's AVX-512 code off (reproducible). "
        "Tokens crfN, qpN, kbpsN (target bitrate), optionally prefixed h264."
    )


class HEVC(_VideoCodec):
    name = "hevc"
    version = "1"
    codec = "libx265"
    label_prefix = "hevc"
    examples = ("hevccrf35", "hevcqp30")
    token = r"(?:hevc|h265)(?P<rc>crf|qp|kbps)(?P<value>\d+)"
    description = "HEVC (libx265 via PyAV), yuv420p, preset medium. Tokens hevccrfN, hevcqpN, hevckbpsN."
