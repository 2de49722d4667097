"""``bench enhance``: run a method on a real video file (or an image, or a folder of images).

Video is decoded with PyAV, processed in batches of ``batch`` frames (memory stays flat
whatever the length), and encoded at the input's frame rate with the chosen codec; the
audio stream is copied through untouched (remuxed packets, no re-encoding). Frames keep
their presentation timestamps. ``side_by_side`` writes input (nearest-upscaled to the
output size) | output.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .api import Context
from .errors import BenchError
from .imaging import IMAGE_EXTS, read_image, write_png

CODECS = {"h264": "libx264", "hevc": "libx265", "av1": "libsvtav1"}


def _side_by_side(inp: np.ndarray, out: np.ndarray) -> np.ndarray:
    s_h, s_w = out.shape[0] // inp.shape[0], out.shape[1] // inp.shape[1]
    up = np.repeat(np.repeat(inp, s_h, 0), s_w, 1)
    if up.shape[2] != out.shape[2]:
        up, out = np.repeat(up, 3 // up.shape[2], 2), np.repeat(out, 3 // out.shape[2], 2)
    return np.concatenate([up, out], axis=1)


def _process(method, frames: list[np.ndarray], ctx: Context) -> list[np.ndarray]:
    from .runner import checked_outputs

    try:
        return checked_outputs(method, frames, method.process(frames, ctx), ctx.scale)
    except ValueError as exc:
        raise BenchError(f"{exc}: pass --scale to match the method" if "x scale" in str(exc) else str(exc)) from None


def enhance(src: Path, method, dst: Path, scale: int = 1, codec: str = "h264", crf: int = 18, side_by_side: bool = False,
            batch: int = 8, device: str = "cpu", progress: bool = True) -> dict[str, Any]:
    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise BenchError(f"{src}: no such file or folder")
    method.setup(device)
    if src.is_dir() or src.suffix.lower() in IMAGE_EXTS:
        return _enhance_images(src, method, dst, scale, side_by_side, device)
    return _enhance_video(src, method, dst, scale, codec, crf, side_by_side, batch, device, progress)


def _enhance_images(src: Path, method, dst: Path, scale: int, sbs: bool, device: str) -> dict[str, Any]:
    files = sorted(p for p in src.iterdir() if p.suffix.lower() in IMAGE_EXTS) if src.is_dir() else [src]
    if not files:
        raise BenchError(f"{src}: no images")
    if src.is_dir():
        dst.mkdir(parents=True, exist_ok=True)
    for f in files:
        img = read_image(f)
        out = _process(method, [img], Context(scale=scale, item_id=f.stem, device=device))[0]
        target = dst / f"{f.stem}.png" if src.is_dir() else dst
        write_png(target, _side_by_side(img, out) if sbs else out)
    return {"frames": len(files), "output": str(dst)}


def _enhance_video(src: Path, method, dst: Path, scale: int, codec: str, crf: int, sbs: bool, batch: int, device: str, progress: bool) -> dict[str, Any]:
    import time

    import av
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    if codec not in CODECS:
        raise BenchError(f"--codec {codec!r}: choose one of {', '.join(CODECS)}")
    with av.open(str(src)) as inp:
        if not inp.streams.video:
            raise BenchError(f"{src}: no video stream")
        vin = inp.streams.video[0]
        ain = inp.streams.audio[0] if inp.streams.audio else None
        rate = vin.average_rate or vin.guessed_rate or Fraction(25)
        total = vin.frames or None
        w, h = vin.codec_context.width * scale, vin.codec_context.height * scale
        if sbs:
            w *= 2
        dst.parent.mkdir(parents=True, exist_ok=True)
        with av.open(str(dst), "w") as out:
            vout = out.add_stream(CODECS[codec], rate=rate)
            vout.width, vout.height = w + w % 2, h + h % 2
            vout.pix_fmt = "yuv420p"
            vout.options = {"crf": str(crf)}
            aout = out.add_stream_from_template(ain) if ain is not None else None
            ctx = Context(scale=scale, item_id=src.stem, kind="video", fps=float(rate), device=device)
            frames_done, seconds = 0, 0.0
            pending: list[tuple[np.ndarray, Any]] = []

            def flush() -> None:
                nonlocal frames_done, seconds
                if not pending:
                    return
                t0 = time.perf_counter()
                outs = _process(method, [f for f, _ in pending], ctx)
                seconds += time.perf_counter() - t0
                for (f, pts), o in zip(pending, outs):
                    img = _side_by_side(f, o) if sbs else o
                    if img.shape[2] == 1:
                        img = np.repeat(img, 3, 2)
                    if img.shape[0] % 2 or img.shape[1] % 2:
                        img = np.pad(img, ((0, img.shape[0] % 2), (0, img.shape[1] % 2), (0, 0)), mode="edge")
                    vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
                    for pkt in vout.encode(vf):
                        out.mux(pkt)
                frames_done += len(pending)
                bar.update(task, completed=frames_done, info=f"{frames_done / max(seconds, 1e-9):.1f} fps")
                pending.clear()

            with Progress(TextColumn(f"[bold]enhance {src.name}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                          TimeElapsedColumn(), TimeRemainingColumn(), disable=not progress) as bar:
                task = bar.add_task("frames", total=total, info="")
                streams = [vin] + ([ain] if ain is not None else [])
                for packet in inp.demux(*streams):
                    if packet.stream is ain:
                        if packet.dts is None:
                            continue
                        packet.stream = aout
                        out.mux(packet)
                        continue
                    for vf in packet.decode():
                        pending.append((vf.to_ndarray(format="rgb24"), vf.pts))
                        if len(pending) >= batch:
                            flush()
                flush()
            for pkt in vout.encode():
                out.mux(pkt)
    return {"frames": frames_done, "fps": frames_done / seconds if seconds else float("inf"), "output": str(dst),
            "size": f"{w}x{h}", "audio": ain is not None}
