"""``bench enhance --realtime``: a method on a live source.

A thread plays the source at its native rate (a file is paced by its timestamps; a camera paces
itself) into a one-frame slot; the method takes the newest frame whenever it is free, so frames
that arrive while it is busy are dropped rather than queued. Each written frame keeps its source
timestamp, so the output plays in real time with the dropped frames held. The report gives
achieved fps, dropped frames and the latency from a frame's arrival to its restored output
(p50/p95/max). The offline path and the shared checks: :mod:`benchmark.tools.enhance`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from benchmark.api import Context, restore_stream
from benchmark.core.imaging import IMAGE_EXTS
from benchmark.core.videoio import CODECS, rgb
from benchmark.core.videoio import Writer as _Writer
from benchmark.errors import BenchError
from benchmark.tools.enhance import (
    _check_input,
    _check_video_output,
    _open_video,
    _panels,
    _progress,
    _raise_method_error,
    _write_atomically,
    is_camera,
    output_scale,
    prepare,
)

# ------------------------------------------------------------------------------ real time


class LiveSource:
    """A video source played live into a one-frame slot: a file paced by its timestamps
    (``paced``), or a camera. A frame that arrives before the previous one was taken
    replaces it and counts as dropped."""

    def __init__(self, container, paced: bool):
        self.container, self.paced = container, paced
        self.stream = container.streams.video[0]
        self.cond = threading.Condition()
        self.slot: tuple[np.ndarray, int | None, float] | None = None
        self.done = self.stopped = False
        self.error: BaseException | None = None
        self.arrived = self.dropped = 0
        self.thread = threading.Thread(target=self._play, name="bench-live-source", daemon=True)

    def _play(self) -> None:
        tb, t0, pts0 = self.stream.time_base, None, None
        try:
            for vf in self.container.decode(self.stream):
                if self.stopped:
                    break
                if self.paced and vf.pts is not None and tb is not None:
                    pts0 = vf.pts if pts0 is None else pts0
                    t = float((vf.pts - pts0) * tb)
                    t0 = time.perf_counter() - t if t0 is None else t0
                    delay = t0 + t - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                arr = rgb(vf)
                with self.cond:
                    if self.slot is not None:
                        self.dropped += 1
                    self.slot = (arr, vf.pts, time.perf_counter())
                    self.arrived += 1
                    self.cond.notify()
        except BaseException as exc:  # reported by the consumer
            self.error = exc
        finally:
            with self.cond:
                self.done = True
                self.cond.notify()

    def frames(self, taken: deque) -> Iterator[np.ndarray]:
        """The newest frame each time the consumer asks; (frame, pts, arrival) go to ``taken``."""
        self.thread.start()
        while True:
            with self.cond:
                while self.slot is None and not self.done:
                    self.cond.wait()
                if self.slot is None:
                    break
                item, self.slot = self.slot, None
            taken.append(item)
            yield item[0]
        if self.error is not None:
            raise BenchError(f"live source failed: {self.error}")

    def stop(self) -> None:
        self.stopped = True
        self.thread.join(timeout=5)


def enhance_realtime(
    src: Path,
    method,
    dst: Path,
    scale: int | None = None,
    codec: str = "h264",
    crf: int = 18,
    side_by_side: bool = False,
    device: str = "cpu",
    progress: bool = True,
    duration: float | None = None,
    engine: str | None = None,
    precision: str | None = None,
) -> dict[str, Any]:
    """Play ``src`` live through ``method`` one frame at a time (see the module docstring)."""
    camera = is_camera(src)
    if not camera and not Path(src).exists():
        raise BenchError(f"{src}: no such file or camera (use camera:N or /dev/videoN for a camera)")
    if not camera and Path(src).suffix.lower() in IMAGE_EXTS or Path(src).is_dir():
        raise BenchError(f"{src}: --realtime needs a video file or a camera")
    if codec not in CODECS:
        raise BenchError(f"--codec {codec!r}: choose one of {', '.join(CODECS)}")
    _check_input(Path(src))
    _check_video_output(Path(dst))
    scale = output_scale(method, scale)
    prepare(method, device, engine, precision)  # its networks on the engine (benchmark.core.engine)
    info = _write_atomically(
        Path(dst), lambda tmp: _realtime(src, method, tmp, scale, codec, crf, side_by_side, progress, duration, device)
    )
    return {**info, "output": str(dst)}


def _realtime(
    src: Path,
    method,
    dst: Path,
    scale: int,
    codec: str,
    crf: int,
    side_by_side: bool,
    progress: bool,
    duration: float | None,
    device: str,
) -> dict[str, Any]:
    import av

    camera = is_camera(src)
    with _open_video(src) as inp:
        vin = inp.streams.video[0]
        rate = vin.average_rate or vin.guessed_rate or Fraction(25)
        ow, oh = vin.codec_context.width * scale, vin.codec_context.height * scale
        ctx = Context(scale=scale, item_id=Path(str(src)).stem, kind="video", fps=float(rate), device=device)
        _warm_up(method, ctx, vin.codec_context.height, vin.codec_context.width, src)
        source = LiveSource(inp, paced=not camera)
        taken: deque = deque()
        latencies: list[float] = []
        w = ow * 2 if side_by_side else ow
        t_start = None
        interrupted = False
        with av.open(str(dst), "w") as out, _progress(f"real time {Path(str(src)).name}", progress) as bar:
            writer = _Writer(out, codec, rate, w, oh, crf, time_base=vin.time_base or Fraction(1, 90000))
            task = bar.add_task("frames", total=None if camera else (vin.frames or None), info="")
            last_pts = None
            try:
                for o in restore_stream(method, source.frames(taken), ctx, 1):
                    f, pts, arrived = taken.popleft()
                    now = time.perf_counter()
                    t_start = arrived if t_start is None else t_start
                    latencies.append(now - arrived)
                    if pts is None or (last_pts is not None and pts <= last_pts):
                        pts = (last_pts or 0) + 1
                    writer.write(_panels([f, o], oh, ow) if side_by_side else o, pts)
                    last_pts = pts
                    bar.update(
                        task,
                        completed=source.arrived,
                        info=f"{len(latencies) / max(now - t_start, 1e-9):.1f} fps, {source.dropped} dropped",
                    )
                    if duration is not None and now - t_start >= duration:
                        break
            except KeyboardInterrupt:
                interrupted = True
            except OSError:
                raise  # the output cannot be written: _write_atomically says so
            except Exception as exc:
                _raise_method_error(exc, method, src)
            finally:
                source.stop()
            t_end = time.perf_counter()
            writer.close()
    span = (t_end - t_start) if t_start is not None else 0.0
    return {
        "source": str(src),
        "output": str(dst),
        "source_fps": float(rate),
        "size": f"{w}x{oh}",
        **_figures(source.arrived, latencies, span),
        "interrupted": interrupted,
        "method": method.name,
        "window": list(method.window),
    }


def _figures(arrived: int, latencies: list[float], span: float) -> dict[str, Any]:
    """Frames arrived, processed and dropped, the achieved fps and the latency percentiles (ms)."""
    lat = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    processed = len(latencies)
    return {
        "frames_arrived": arrived,
        "frames_processed": processed,
        "frames_dropped": arrived - processed,
        "achieved_fps": (processed - 1) / span
        if span > 0 and processed > 1
        else float("nan"),  # frame intervals per second
        "latency_ms": {
            "p50": float(np.percentile(lat, 50)),
            "p95": float(np.percentile(lat, 95)),
            "max": float(np.max(lat)),
        },
        "wall_s": span,
    }


def _warm_up(method, ctx: Context, h: int, w: int, src: Path) -> None:
    """One blank frame through the method first: its lazy initialisation is not the source's latency."""
    try:
        next(restore_stream(method, [np.zeros((h, w, 3), np.uint8)], ctx, 1))
    except Exception as exc:
        _raise_method_error(exc, method, src)
