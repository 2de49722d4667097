"""``bench enhance``: run a method on a real video file (or an image, or a folder of images),
offline or in real time.

Offline, video is decoded with PyAV and restored through :func:`benchmark.api.restore_stream`
(batches, a multi-frame method's window; memory stays flat whatever the length), then encoded
with the chosen codec, each frame at its input frame's timestamp (:mod:`benchmark.core.videoio`: a
variable frame rate is kept); the audio stream is copied through untouched (remuxed packets, no
re-encoding).

In real time: :mod:`benchmark.tools.realtime`.

``side_by_side`` writes input | output, or reference | input | output with ``reference``;
smaller panels are nearest-upscaled to the output size.
"""

from __future__ import annotations

import os
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from benchmark.api import Context, restore_stream
from benchmark.core import engine as engines
from benchmark.core.imaging import IMAGE_EXTS, TooLarge, check_regular, read_image, write_png
from benchmark.core.overlap import Behind, ahead, restore_overlapped
from benchmark.core.videoio import CODECS, X26X_PRESETS, FrameTimes, decode_frames, rgb
from benchmark.core.videoio import Writer as _Writer  # the recipes import _Writer from here
from benchmark.errors import BenchError, error_text
from benchmark.run.config import ENV_MAX_PIXELS, max_pixels

CAMERA_FORMATS = {"linux": "v4l2", "darwin": "avfoundation", "win32": "dshow"}


def is_camera(src: str | Path) -> bool:
    s = str(src)
    return s.startswith("camera:") or s.startswith("/dev/video")


def tile(f: np.ndarray, h: int, w: int) -> np.ndarray:
    """``f`` as an RGB panel of ``h`` x ``w`` (gray repeated, other sizes nearest-resized)."""
    import cv2

    if f.shape[2] == 1:
        f = np.repeat(f, 3, 2)
    return cv2.resize(f, (w, h), interpolation=cv2.INTER_NEAREST) if f.shape[:2] != (h, w) else f


def _panels(frames: list[np.ndarray], h: int, w: int) -> np.ndarray:
    return np.concatenate([tile(f, h, w) for f in frames], axis=1)


def output_scale(method, scale: int | None) -> int:
    """The enlargement ``bench enhance`` applies: the method's own scale; ``--scale`` only for a
    method that follows any scale (``bicubic``, ``lanczos``, ``identity``), default 1."""
    if method.scale is None:
        return scale or 1
    if scale is not None and scale != method.scale:
        raise BenchError(
            f"--scale {scale}: {method.name} upscales x{method.scale} (its own scale, used without --scale); "
            "drop --scale, or pick a method of that scale"
        )
    return int(method.scale)


class MethodFailed(BenchError):
    """A method raised on an input: the one-line message, with the method's own exception kept
    (``bench serve`` reports that alone: its message must not show the server's paths)."""

    def __init__(self, message: str, method: str, cause: Exception):
        super().__init__(message)
        self.method, self.cause = method, cause


def _raise_method_error(exc: Exception, method, src: Path) -> None:
    """A method that failed on ``src`` as a one-line BenchError (a size mismatch says what to pass)."""
    if isinstance(exc, BenchError):
        raise exc
    if isinstance(exc, ValueError) and "x scale" in str(exc):
        hint = (
            "pass --scale to match the method"
            if method.scale is None
            else f"{method.name} declares scale {method.scale} (Method.scale) but returned another size"
        )
        raise BenchError(f"{exc}: {hint}") from None
    from benchmark.core.debug import debug

    debug(exc)
    raise MethodFailed(
        f"method {method.name} failed on {src} ({error_text(exc)[:300]}); BENCH_DEBUG=1 shows the traceback",
        method.name,
        exc,
    ) from None


def _partial_name(dst: Path) -> Path:
    """Where an output is written before it is complete: beside it, hidden, same suffix (the format)."""
    return dst.with_name(f".{dst.stem}.partial{dst.suffix}")


def _write_atomically(dst: Path, write) -> Any:
    """``write(tmp)`` then rename ``tmp`` to ``dst``: a failure (or Ctrl-C) leaves nothing at ``dst``."""
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BenchError(
            f"output {dst}: cannot create its folder {dst.parent} ({exc.strerror or exc}); choose another -o"
        ) from None
    tmp = _partial_name(dst)
    try:
        result = write(tmp)
        os.replace(tmp, dst)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BenchError(f"output {dst}: cannot write it ({exc.strerror or exc}); choose another -o") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return result


def _open_video(src: Path):
    import av

    if is_camera(src):
        s = str(src)
        dev = (
            f"/dev/video{s.split(':', 1)[1]}"
            if s.startswith("camera:") and sys.platform == "linux"
            else s.split(":", 1)[-1]
        )
        fmt = CAMERA_FORMATS.get(sys.platform)
        try:
            return av.open(dev, format=fmt)
        except (av.FFmpegError, OSError) as exc:
            raise BenchError(
                f"camera {dev!r} ({fmt}): cannot open it ({exc}); list devices with `ls /dev/video*` "
                "(Linux) and pass camera:N or the device path"
            ) from None
    takes = f"bench enhance takes a video file, an image ({', '.join(sorted(IMAGE_EXTS))}) or a folder of images"
    _check_input(src)
    try:
        c = av.open(str(src))
    except (av.FFmpegError, OSError) as exc:
        raise BenchError(f"{src}: not a video PyAV can read ({exc}); {takes}") from None
    if not c.streams.video:
        c.close()
        raise BenchError(f"{src}: no video stream")
    if c.streams.video[0].codec_context is None:  # a stream FFmpeg finds but cannot decode (an SVG's svg_pipe)
        fmt = c.format.name
        c.close()
        what = (
            "an SVG drawing (vectors, no pixels): rasterise it to PNG first"
            if "svg" in fmt
            else f"no decoder for its {fmt} stream"
        )
        raise BenchError(f"{src}: {what}; {takes}")
    return c


def _check_input(src: Path, what: str = "") -> None:
    """A BenchError unless ``src`` is a folder, a regular file or a camera (a FIFO would block, /dev/zero never ends)."""
    if is_camera(src) or Path(src).is_dir():
        return
    try:
        check_regular(src)
    except ValueError as exc:
        raise BenchError(f"{what}{exc}") from None


def _check_video_output(dst: Path) -> None:
    """A BenchError, before any work, when FFmpeg knows no container by ``dst``'s suffix (opening
    it for writing creates nothing until the first frame)."""
    import av

    try:
        av.open(str(dst), "w").close()
    except ValueError:
        raise BenchError(
            f"output {dst}: FFmpeg knows no video format by the suffix {dst.suffix!r}; "
            "name it .mp4, .mkv, .mov or .webm"
        ) from None
    except (av.FFmpegError, OSError):
        pass  # a folder that cannot be written: said when the output is written


def _reference_frames(ref: Path | None) -> Iterator[np.ndarray | None]:
    if ref is None:
        while True:
            yield None
    with _open_video(ref) as c:
        yield from decode_frames(c)
    raise BenchError(f"--reference {ref}: it has fewer frames than the input")


def enhance(
    src: Path,
    method,
    dst: Path,
    scale: int | None = None,
    codec: str = "h264",
    crf: int = 18,
    side_by_side: bool = False,
    batch: int = 8,
    device: str = "cpu",
    progress: bool = True,
    reference: Path | None = None,
    engine: str | None = None,
    precision: str | None = None,
    preset: str | None = None,
) -> dict[str, Any]:
    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise BenchError(f"{src}: no such file or folder")
    if reference is not None and not Path(reference).exists():
        raise BenchError(f"--reference {reference}: no such file or folder")
    if codec not in CODECS:
        raise BenchError(f"--codec {codec!r}: choose one of {', '.join(CODECS)}")
    if preset is not None and codec in ("h264", "hevc") and preset not in X26X_PRESETS:
        raise BenchError(f"--preset {preset!r}: {CODECS[codec]} takes one of {', '.join(X26X_PRESETS)}")
    _check_input(src)
    if reference is not None:
        _check_input(Path(reference), "--reference ")
    video = not src.is_dir() and src.suffix.lower() not in IMAGE_EXTS
    if video:
        _check_video_output(dst)
    scale = output_scale(method, scale)
    prepare(method, device, engine, precision)
    if src.is_dir():
        return _enhance_images(src, method, dst, scale, side_by_side, device, reference)
    if not video:
        info = _write_atomically(
            dst, lambda tmp: _enhance_images(src, method, tmp, scale, side_by_side, device, reference)
        )
    else:
        info = _write_atomically(
            dst,
            lambda tmp: _enhance_video(
                src, method, tmp, scale, codec, crf, side_by_side, batch, device, progress, reference, preset
            ),
        )
    return {**info, "output": str(dst)}


def prepare(method, device: str, engine: str | None = None, precision: str | None = None) -> None:
    """``method`` set up on ``device``, its networks on the engine asked for (else ``$BENCH_ENGINE``, else
    the fastest here: :mod:`benchmark.core.engine`), converted networks kept in bench's cache folder."""
    choice = engines.choose(engine, precision, device, engines.default_cache_dir())
    engines.settle(method, choice)
    engines.prepare(method, device, choice)


def _enhance_images(
    src: Path, method, dst: Path, scale: int, sbs: bool, device: str, reference: Path | None
) -> dict[str, Any]:
    files = sorted(p for p in src.iterdir() if p.suffix.lower() in IMAGE_EXTS) if src.is_dir() else [src]
    if not files:
        raise BenchError(f"{src}: no images")

    def save(job: tuple[Path, np.ndarray, np.ndarray]) -> None:  # on a thread of its own, behind the network
        f, img, out = job
        if sbs:
            ref = (
                None
                if reference is None
                else _read(Path(reference) / f.name if Path(reference).is_dir() else Path(reference))
            )
            out = _panels(([] if ref is None else [ref]) + [img, out], *out.shape[:2])
        if src.is_dir():
            _write_atomically(dst / f"{f.stem}.png", lambda tmp: write_png(tmp, out))
        else:
            write_png(dst, out)

    with Behind(save, 2, "bench-write") as writer:
        for f, img in ahead(((f, _read(f)) for f in files), 2, "bench-read"):  # the next image read meanwhile
            ctx = Context(scale=scale, item_id=f.stem, device=device)
            try:
                out = next(restore_stream(method, [img], ctx, 1))
            except Exception as exc:
                _raise_method_error(exc, method, f)
            writer.put((f, img, out))
    return {"frames": len(files), "output": str(dst)}


def _read(path: Path) -> np.ndarray:
    """An input image, sized from its header first: over the pixel limit ($BENCH_MAX_PIXELS) it is refused unread."""
    limit = max_pixels(None)
    try:
        return read_image(path, limit)
    except TooLarge as exc:
        raise BenchError(
            f"{exc}; raise it with {ENV_MAX_PIXELS}=N (0: no limit), memory grows with the picture"
        ) from None
    except (ValueError, OSError) as exc:
        raise BenchError(str(exc) if str(path) in str(exc) else f"{path}: not a readable image ({exc})") from None


def _progress(label: str, enabled: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
    )


def _read_packets(src: Path, inp, streams, done) -> Iterator[Any]:
    """``inp``'s packets; a damaged or truncated file is a BenchError naming it (``done()``: frames read so far)."""
    import av

    packets = inp.demux(*streams)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError as exc:
            raise BenchError(
                f"{src}: cannot read it after {done()} frame(s) ({exc}); is it truncated or damaged?"
            ) from None
        yield packet


def _decode(src: Path, packet, done: int) -> list[Any]:
    import av

    try:
        return packet.decode()
    except av.FFmpegError as exc:
        raise BenchError(
            f"{src}: cannot decode it after {done} frame(s) ({exc}); is it truncated or damaged?"
        ) from None


def _enhance_video(
    src: Path,
    method,
    dst: Path,
    scale: int,
    codec: str,
    crf: int,
    sbs: bool,
    batch: int,
    device: str,
    progress: bool,
    reference: Path | None,
    preset: str | None = None,
) -> dict[str, Any]:
    import av

    with _open_video(src) as inp:
        vin = inp.streams.video[0]
        ain = inp.streams.audio[0] if inp.streams.audio else None
        rate = vin.average_rate or vin.guessed_rate or Fraction(25)
        total = vin.frames or None
        ow, oh = vin.codec_context.width * scale, vin.codec_context.height * scale
        panels = (1 + (reference is not None)) if sbs else 0
        w = ow * (panels + 1) if sbs else ow
        refs = _reference_frames(Path(reference) if sbs and reference is not None else None)
        times = FrameTimes(vin, rate)  # each frame keeps its input's timestamp: a variable frame rate stays so
        with av.open(str(dst), "w") as out:
            writer = _Writer(out, codec, rate, w, oh, crf, time_base=times.time_base, preset=preset)
            aout = out.add_stream_from_template(ain) if ain is not None else None
            ctx = Context(scale=scale, item_id=src.stem, kind="video", fps=float(rate), device=device)
            stats = {"frames": 0, "seconds": 0.0, "decoded": 0}

            def decoded() -> Iterator[tuple[np.ndarray | None, Any]]:  # on the decoding thread
                streams = [vin] + ([ain] if ain is not None else [])
                for packet in _read_packets(src, inp, streams, lambda: stats["decoded"]):
                    if packet.stream is ain:
                        if packet.dts is not None:
                            yield None, packet  # copied through, in order, by the encoding thread
                        continue
                    for vf in _decode(src, packet, stats["decoded"]):
                        stats["decoded"] += 1
                        yield rgb(vf), times.of(vf)

            def write(o: np.ndarray | None, f: np.ndarray | None, extra: Any) -> None:  # on the encoding thread
                if o is None:
                    extra.stream = aout
                    out.mux(extra)
                    return
                panels = _panels([r for r in [next(refs)] if r is not None] + [f, o], oh, ow) if sbs else o
                writer.write(panels, times.next(extra))

            def timed(dt: float, n: int) -> None:
                stats["seconds"] += dt
                stats["frames"] += n
                bar.update(
                    task, completed=stats["frames"], info=f"{stats['frames'] / max(stats['seconds'], 1e-9):.1f} fps"
                )

            with _progress(f"enhance {src.name}", progress) as bar:
                task = bar.add_task("frames", total=total, info="")
                try:  # decoding and encoding on threads of their own, overlapping the network
                    restore_overlapped(method, decoded(), ctx, batch, write, timed)
                except OSError:
                    raise  # the output cannot be written: _write_atomically says so
                except Exception as exc:
                    _raise_method_error(exc, method, src)
            writer.close()
    frames, seconds = stats["frames"], stats["seconds"]
    return {
        "frames": frames,
        "fps": frames / seconds if seconds else float("inf"),
        "output": str(dst),
        "size": f"{w}x{oh}",
        "audio": ain is not None,
    }
