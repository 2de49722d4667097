"""Video metrics that see whole clips: temporal consistency (``tof``, ``flicker``) and VMAF.

A per-frame metric cannot see flicker: a restoration whose every frame is good but
which changes from frame to frame differently from the reference. These metrics
compare the *motion* and the *temporal change* of the output with the reference's.

* ``tof`` (after TecoGAN, Chu et al. 2020): dense optical flow between consecutive
  frames (OpenCV Farneback on luma, TecoGAN's parameters 0.5, 3, 15, 3, 5, 1.2) of the
  output and of the reference; the value for frame t is the mean end-point
  difference of the two flows, in pixels. Undefined on frame 0.
* ``flicker``: the reference's backward flow t -> t-1 warps frame t-1 onto frame t,
  for the output and for the reference alike; the value is the mean absolute
  difference between the output's and the reference's motion-compensated change
  (``x_t - warp(x_{t-1})``), on luma 0-255. 0 when the output changes exactly as the
  reference does; independent per-frame noise or shimmer raises it, a static
  artifact does not. Undefined on frame 0.
* ``vmaf``: Netflix VMAF (model vmaf_v0.6.1 built into libvmaf) through an ffmpeg
  build with ``--enable-libvmaf``: the one in the ``imageio-ffmpeg`` wheel, or
  ``$BENCH_FFMPEG``. Frames are streamed to temporary files on disk (not memory) and
  converted to yuv420p (BT.601 limited range), cropped to even sizes.
* ``vmaf-neg``: the same with libvmaf's built-in ``vmaf_v0.6.1neg`` model (VMAF "no
  enhancement gain": its detail and VIF terms do not credit gains over the reference), the
  figure to set beside ``vmaf`` for methods that sharpen or change contrast (Netflix/vmaf#489, #1102).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np

from benchmark.core import environment
from benchmark.core.imaging import rgb_to_y

from ..api import ClipMetric, crop
from ..errors import BenchError
from .fidelity import _check

_FARNEBACK = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)


def luma(frame: np.ndarray) -> np.ndarray:
    return rgb_to_y(frame) if frame.shape[2] == 3 else frame[..., 0].astype(np.float64)


def farneback(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Farneback flow from luma ``a`` to luma ``b`` (float64 in, float32 HxWx2 out)."""
    return cv2.calcOpticalFlowFarneback(
        np.clip(a, 0, 255).astype(np.uint8), np.clip(b, 0, 255).astype(np.uint8), None, **_FARNEBACK
    )


def warp(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(
        img.astype(np.float32), gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


class _Temporal(ClipMetric):
    kind = "fr"
    family = "temporal"

    def start(self, crop_border: int = 0) -> None:
        self.border = crop_border
        self.prev: tuple[np.ndarray, np.ndarray] | None = None
        self.values: list[float | None] = []

    def update(self, output, reference):
        reference = _check(output, reference)
        cur = (luma(crop(output, self.border)), luma(crop(reference, self.border)))
        self.values.append(None if self.prev is None else self.pair(self.prev, cur))
        self.prev = cur

    def finish(self):
        return self.values


class TOF(_Temporal):
    name = "tof"
    version = "1"
    higher_is_better = False
    unit = "px"
    conventions = {
        "flow": "OpenCV Farneback on luma (BT.601), TecoGAN parameters",
        "value": "mean end-point difference per frame pair",
        "frame_0": "undefined (no row)",
        "crop_border": "run setting",
    }
    description = "Temporal optical-flow difference (TecoGAN's tOF): how differently the output moves from the reference; 0 is best."

    def pair(self, prev, cur):
        d = farneback(prev[0], cur[0]) - farneback(prev[1], cur[1])
        return float(np.mean(np.sqrt(np.sum(d.astype(np.float64) ** 2, axis=2))))


class Flicker(_Temporal):
    name = "flicker"
    version = "1"
    higher_is_better = False
    unit = "luma"
    conventions = {
        "flow": "reference's backward Farneback flow t -> t-1 on luma",
        "value": "mean |(o_t - W o_{t-1}) - (r_t - W r_{t-1})|, luma 0-255",
        "frame_0": "undefined (no row)",
        "crop_border": "run setting",
    }
    description = (
        "Motion-compensated temporal change of the output against the reference's: flicker and shimmer; 0 is best."
    )

    def pair(self, prev, cur):
        back = farneback(cur[1], prev[1])  # for each pixel of frame t, where it was in t-1 (reference motion)
        change_out = cur[0] - warp(prev[0], back)
        change_ref = cur[1] - warp(prev[1], back)
        return float(np.mean(np.abs(change_out - change_ref)))


def ffmpeg_with_vmaf() -> str | None:
    """Path of an ffmpeg that has the libvmaf filter, or None."""
    candidates = [environment.get(environment.FFMPEG)]
    try:
        import imageio_ffmpeg

        candidates.append(imageio_ffmpeg.get_ffmpeg_exe())
    except Exception:
        pass
    candidates.append(shutil.which("ffmpeg"))
    for exe in (c for c in candidates if c):
        try:
            out = subprocess.run([exe, "-hide_banner", "-filters"], capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        if " libvmaf " in out:
            return exe
    return None


class VMAF(ClipMetric):
    name = "vmaf"
    version = "1"
    kind = "fr"
    higher_is_better = True
    unit = ""
    family = "perceptual"
    conventions = {
        "model": "vmaf_v0.6.1 (libvmaf built-in)",
        "pixels": "yuv420p BT.601 limited, even-cropped; gray repeated to RGB first",
        "ffmpeg": "imageio-ffmpeg's build or $BENCH_FFMPEG",
        "crop_border": "run setting",
    }
    description = "Netflix VMAF 0-100 per frame (SVM fusion of VIF, DLM and motion), through ffmpeg's libvmaf."
    model: ClassVar[str] = "vmaf_v0.6.1"  # libvmaf's built-in model (the filter's default)
    license: ClassVar[str] = (
        "BSD-2-Clause-Patent (libvmaf and its built-in models); ffmpeg LGPL/GPL, a separate program"
    )
    value_range: ClassVar[str] = "0-100 (the model clips its score to this range)"

    @staticmethod
    def availability() -> str:
        exe = ffmpeg_with_vmaf()
        return "" if exe else "unavailable: no ffmpeg with libvmaf (pip install imageio-ffmpeg, or set BENCH_FFMPEG)"

    def start(self, crop_border=0):
        self.border = crop_border
        self.tmp = tempfile.TemporaryDirectory(prefix="bench-vmaf-")
        self.files = [open(Path(self.tmp.name) / n, "wb") for n in ("dist.rgb", "ref.rgb")]
        self.size: tuple[int, int] | None = None
        self.count = 0

    def update(self, output, reference):
        reference = _check(output, reference)
        for f, frame in zip(self.files, (output, reference)):
            frame = crop(frame, self.border)
            frame = frame[: frame.shape[0] // 2 * 2, : frame.shape[1] // 2 * 2]
            if frame.shape[2] == 1:
                frame = np.repeat(frame, 3, axis=2)
            self.size = (frame.shape[1], frame.shape[0])
            f.write(np.ascontiguousarray(frame).tobytes())
        self.count += 1

    def finish(self):
        try:
            for f in self.files:
                f.close()
            exe = ffmpeg_with_vmaf()
            if exe is None:
                raise BenchError(self.availability())
            tmp = Path(self.tmp.name)
            raw = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{self.size[0]}x{self.size[1]}", "-r", "25"]
            log = tmp / "vmaf.json"
            cmd = [
                exe,
                "-hide_banner",
                "-nostdin",
                "-loglevel",
                "error",
                *raw,
                "-i",
                str(tmp / "dist.rgb"),
                *raw,
                "-i",
                str(tmp / "ref.rgb"),
                "-lavfi",
                f"[0:v]format=yuv420p[d];[1:v]format=yuv420p[r];[d][r]libvmaf=model=version={self.model}:log_fmt=json:log_path={log}:n_threads=2",
                "-f",
                "null",
                "-",
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"ffmpeg libvmaf failed: {proc.stderr.strip()[-400:]}")
            frames = json.loads(log.read_text())["frames"]
            if len(frames) != self.count:
                raise RuntimeError(f"libvmaf scored {len(frames)} frames of {self.count}")
            return [float(fr["metrics"]["vmaf"]) for fr in frames]
        finally:
            self.tmp.cleanup()


class VMAFNEG(VMAF):
    name = "vmaf-neg"
    version = "1"
    model = "vmaf_v0.6.1neg"
    conventions = {**VMAF.conventions, "model": "vmaf_v0.6.1neg (libvmaf built-in, 'no enhancement gain')"}
    description = "VMAF NEG: VMAF with libvmaf's vmaf_v0.6.1neg model, which does not credit enhancement (sharpening, contrast) over the reference."
    value_range = "0-100; at most about vmaf for the same frames"
