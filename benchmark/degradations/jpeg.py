"""JPEG at a quality factor, the grayscale (Y) protocol of the JPEG literature (``gray``) and the
full-range gray of the denoising literature (``grayfull``)."""

from __future__ import annotations

import functools
import io
import re
from typing import Any, Iterable, Iterator

import numpy as np

from benchmark.core.imaging import normalize_decoded, rgb_to_gray_uint8, rgb_to_y_uint8

from ..api import Degradation

_SUBSAMPLING = ("420", "422", "444")
_ENCODERS = {"cv": "opencv", "opencv": "opencv", "pil": "pillow", "pillow": "pillow"}


@functools.lru_cache(maxsize=None)
def encoder_versions(encoder: str) -> dict[str, str]:
    if encoder == "opencv":
        import cv2

        info = cv2.getBuildInformation()
        m = re.search(r"JPEG:\s*(.+)", info)
        return {"opencv": cv2.__version__, "libjpeg": m.group(1).strip() if m else "?"}
    import PIL
    from PIL import features

    return {"pillow": PIL.__version__, "libjpeg": str(features.version("jpg"))}


class JPEG(Degradation):
    name = "jpeg"
    version = "1"
    examples = ("qf10", "qf20s444", "qf30pil")
    token = r"qf(?P<quality>\d{1,3})(?:s(?P<subsampling>420|422|444))?(?P<encoder>pil|cv)?"
    description = (
        "JPEG at quality factor Q (IJG scaling of the standard tables). Token qfQ[sNNN][pil|cv]: "
        "chroma subsampling 420 (default), 422 or 444; encoder OpenCV (default) or Pillow. "
        "Grayscale frames are encoded as single-channel JPEG."
    )

    def __init__(self, quality: int | str = 75, subsampling: str = "420", encoder: str = "opencv"):
        quality = int(quality)
        if not 1 <= quality <= 100:
            raise ValueError(f"JPEG quality must be 1..100, got {quality}")
        if str(subsampling) not in _SUBSAMPLING:
            raise ValueError(f"JPEG subsampling must be one of {_SUBSAMPLING}, got {subsampling!r}")
        if encoder not in _ENCODERS:
            raise ValueError(f"JPEG encoder must be opencv or pillow, got {encoder!r}")
        enc = _ENCODERS[encoder]
        super().__init__(quality=quality, subsampling=str(subsampling), encoder=enc, **encoder_versions(enc))

    def label(self) -> str:
        p = self.params
        s = "" if p["subsampling"] == "420" else f"s{p['subsampling']}"
        e = "" if p["encoder"] == "opencv" else "pil"
        return f"qf{p['quality']}{s}{e}"

    def encode(self, frame: np.ndarray) -> bytes:
        q, sub = self.params["quality"], self.params["subsampling"]
        if self.params["encoder"] == "opencv":
            import cv2

            factor = {
                "420": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
                "422": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
                "444": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
            }[sub]
            arr = frame[:, :, 0] if frame.shape[2] == 1 else frame[:, :, ::-1]
            ok, buf = cv2.imencode(".jpg", arr, [cv2.IMWRITE_JPEG_QUALITY, q, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, factor])
            if not ok:
                raise ValueError("OpenCV JPEG encoding failed")
            return buf.tobytes()
        from PIL import Image

        img = Image.fromarray(frame[:, :, 0] if frame.shape[2] == 1 else frame)
        b = io.BytesIO()
        img.save(b, "JPEG", quality=q, subsampling={"444": 0, "422": 1, "420": 2}[sub])
        return b.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        import cv2

        return normalize_decoded(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED))

    def apply_frames(
        self, frames: Iterable[np.ndarray], fps: float | None, info: dict[str, Any]
    ) -> Iterator[np.ndarray]:
        bits = pixels = 0
        for f in frames:
            data = self.encode(f)
            bits += 8 * len(data)
            pixels += f.shape[0] * f.shape[1]
            info["bpp"] = bits / pixels
            yield self.decode(data)

    def apply(self, frame: np.ndarray) -> np.ndarray:
        return self.decode(self.encode(frame))


class Gray(Degradation):
    """The grayscale protocol: the reference *becomes* its luma.

    As in the JPEG artifact-removal literature (ARCNN, DnCNN, ...), colour references
    are converted with MATLAB ``rgb2ycbcr`` (BT.601, 16-235, rounded to uint8) and
    everything after it (JPEG, methods, metrics) works on that single channel."""

    name = "gray"
    version = "1"
    examples = ("gray",)
    token = r"gray"
    description = "Reference converted to MATLAB rgb2ycbcr Y (BT.601, 16-235, uint8); later stages see 1 channel."

    def __init__(self) -> None:
        super().__init__(space="Y BT.601 MATLAB rgb2ycbcr", range="16-235", rounding="round-half-even to uint8")

    def label(self) -> str:
        return "gray"

    def prepare_reference(self, frame: np.ndarray) -> np.ndarray:
        return frame if frame.shape[2] == 1 else rgb_to_y_uint8(frame)

    def apply(self, frame: np.ndarray) -> np.ndarray:
        return self.prepare_reference(frame)


class GrayFull(Degradation):
    """The denoising protocol's gray: the reference *becomes* its full-range luma.

    DnCNN/KAIR's gray test sets (BSD68, Set12) are full-range gray images, read with OpenCV
    (``cv2.imread(path, 0)``); a colour set (CBSD68) becomes one with OpenCV's
    ``cvtColor(.., COLOR_RGB2GRAY)``: ``0.299 R + 0.587 G + 0.114 B`` on 0..255, rounded (OpenCV's
    fixed point). Unlike ``gray`` (MATLAB ``rgb2ycbcr`` Y, 16-235, the JPEG protocol), black stays
    0 and white 255. Everything after it sees one channel."""

    name = "grayfull"
    version = "1"
    examples = ("grayfull",)
    token = r"grayfull"
    description = (
        "Reference converted to full-range gray, OpenCV COLOR_RGB2GRAY (BT.601 0.299R+0.587G+0.114B, "
        "0-255, uint8): the DnCNN/KAIR gray denoising protocol (cbsd68-grayfull-noise25); later stages see 1 channel."
    )

    def __init__(self) -> None:
        super().__init__(
            space="BT.601 luma full range, OpenCV cvtColor COLOR_RGB2GRAY",
            range="0-255",
            rounding="OpenCV fixed point, rounded to uint8",
        )

    def label(self) -> str:
        return "grayfull"

    def prepare_reference(self, frame: np.ndarray) -> np.ndarray:
        return rgb_to_gray_uint8(frame)

    def apply(self, frame: np.ndarray) -> np.ndarray:
        return self.prepare_reference(frame)
