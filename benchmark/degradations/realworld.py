"""Real-ESRGAN's second-order random degradation (``realx4``), seeded per item, in NumPy/OpenCV.

Wang et al., "Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic Data"
(ICCVW 2021), Sec. 3: the HR image goes twice through blur -> random resize -> noise -> JPEG,
then back to 1/4 of its size with a final sinc filter, JPEG and sinc in random order. The
parameter ranges are those of the paper's released training options
(``xinntao/Real-ESRGAN options/train_realesrgan_x4plus.yml``) and kernels of
``basicsr/data/degradations.py`` (iso/aniso/generalized/plateau Gaussian kernels of side 7..21,
sinc filters), as used in ``realesrgan/models/realesrgan_model.py`` ``feed_data``; they are in
:data:`FIRST`, :data:`SECOND` and :data:`FINAL` and in each data set's description.

Differences from the training code, stated: JPEG is OpenCV's (libjpeg, 4:2:0, quality rounded)
instead of the differentiable DiffJPEG; resizing is OpenCV's area/bilinear/bicubic instead of
``torch.nn.functional.interpolate``; kernels are not zero-padded to 21x21 (which changes nothing
inside the image). Every draw comes from one ``numpy.random.default_rng`` per item (seeded from
the item id and the run's seed), so a rerun gives the same images."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from benchmark.core.imaging import to_uint8

from ..api import Degradation

FIRST = {
    "kernel_list": ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso"),
    "kernel_prob": (0.45, 0.25, 0.12, 0.03, 0.12, 0.03),
    "sinc_prob": 0.1,
    "blur_sigma": (0.2, 3.0),
    "betag_range": (0.5, 4.0),
    "betap_range": (1.0, 2.0),
    "resize_prob": (0.2, 0.7, 0.1),
    "resize_range": (0.15, 1.5),
    "gaussian_noise_prob": 0.5,
    "noise_range": (1.0, 30.0),
    "poisson_scale_range": (0.05, 3.0),
    "gray_noise_prob": 0.4,
    "jpeg_range": (30.0, 95.0),
    "blur_prob": 1.0,
}
SECOND = {
    **FIRST,
    "sinc_prob": 0.1,
    "blur_sigma": (0.2, 1.5),
    "resize_prob": (0.3, 0.4, 0.3),
    "resize_range": (0.3, 1.2),
    "noise_range": (1.0, 25.0),
    "poisson_scale_range": (0.05, 2.5),
    "blur_prob": 0.8,
}
FINAL = {"final_sinc_prob": 0.8, "kernel_range": tuple(range(7, 22, 2)), "scale": 4}
SOURCE = (
    "Real-ESRGAN (Wang et al., ICCVW 2021) options/train_realesrgan_x4plus.yml + realesrgan_model.py feed_data; "
    "kernels: basicsr/data/degradations.py"
)
_MODES = ("area", "bilinear", "bicubic")


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    half = (size - 1) / 2.0
    y, x = np.mgrid[-half : half + 1, -half : half + 1]
    return x, y


def mixed_kernel(
    rng: np.random.Generator,
    kind: str,
    size: int,
    sigma: tuple[float, float],
    betag: tuple[float, float],
    betap: tuple[float, float],
) -> np.ndarray:
    """One of basicsr's random kernels: (generalized/plateau) iso- or anisotropic Gaussian, sum 1."""
    iso = kind.endswith("iso") and not kind.endswith("aniso")
    sx = rng.uniform(*sigma)
    sy, theta = (sx, 0.0) if iso else (rng.uniform(*sigma), rng.uniform(-math.pi, math.pi))
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    inv = np.linalg.inv(rot @ np.diag([sx * sx, sy * sy]) @ rot.T)
    x, y = _grid(size)
    q = inv[0, 0] * x * x + 2 * inv[0, 1] * x * y + inv[1, 1] * y * y
    if kind.startswith("generalized"):
        lo, hi = betag
        beta = rng.uniform(lo, 1) if rng.uniform() < 0.5 else rng.uniform(1, hi)
        k = np.exp(-0.5 * np.power(q, beta))
    elif kind.startswith("plateau"):
        lo, hi = betap
        beta = rng.uniform(lo, 1) if rng.uniform() < 0.5 else rng.uniform(1, hi)
        k = 1.0 / (np.power(q, beta) + 1)
    else:
        k = np.exp(-0.5 * q)
    return k / k.sum()


def sinc_kernel(cutoff: float, size: int) -> np.ndarray:
    """basicsr's ``circular_lowpass_kernel``: a 2-D sinc (Bessel J1) low-pass at ``cutoff`` rad/pixel, sum 1."""
    from scipy.special import j1

    x, y = _grid(size)
    r = np.sqrt(x * x + y * y)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = cutoff * j1(cutoff * r) / (2 * np.pi * r)
    c = (size - 1) // 2
    k[c, c] = cutoff**2 / (4 * np.pi)
    return k / k.sum()


def _kernel(rng: np.random.Generator, opt: dict[str, Any]) -> np.ndarray:
    size = int(rng.choice(FINAL["kernel_range"]))
    if rng.uniform() < opt["sinc_prob"]:
        cutoff = rng.uniform(math.pi / 3, math.pi) if size < 13 else rng.uniform(math.pi / 5, math.pi)
        return sinc_kernel(cutoff, size)
    kind = str(rng.choice(opt["kernel_list"], p=opt["kernel_prob"]))
    return mixed_kernel(rng, kind, size, opt["blur_sigma"], opt["betag_range"], opt["betap_range"])


def _filter(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    import cv2

    out = cv2.filter2D(img, -1, kernel.astype(np.float32), borderType=cv2.BORDER_REFLECT_101)
    return out.reshape(img.shape)


def _resize(img: np.ndarray, h: int, w: int, mode: str) -> np.ndarray:
    import cv2

    flag = {"area": cv2.INTER_AREA, "bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}[mode]
    return cv2.resize(img, (max(1, w), max(1, h)), interpolation=flag).reshape(max(1, h), max(1, w), img.shape[2])


def _noise(rng: np.random.Generator, img: np.ndarray, opt: dict[str, Any]) -> np.ndarray:
    h, w, c = img.shape
    gray = rng.uniform() < opt["gray_noise_prob"]
    if rng.uniform() < opt["gaussian_noise_prob"]:
        sigma = rng.uniform(*opt["noise_range"]) / 255.0
        n = rng.standard_normal((h, w, 1) if gray else (h, w, c)).astype(np.float32) * sigma
    else:
        scale = rng.uniform(*opt["poisson_scale_range"])
        base = img.mean(axis=2, keepdims=True) if gray and c == 3 else img
        vals = 2 ** math.ceil(math.log2(max(len(np.unique(np.round(base * 255))), 2)))
        n = (rng.poisson(np.clip(base, 0, None) * vals) / vals - base).astype(np.float32) * scale
    return np.clip(img + n, 0, 1)


def _jpeg(rng: np.random.Generator, img: np.ndarray, opt: dict[str, Any]) -> np.ndarray:
    import cv2

    q = int(round(rng.uniform(*opt["jpeg_range"])))
    u8 = to_uint8(img * 255)
    arr = u8[:, :, 0] if u8.shape[2] == 1 else cv2.cvtColor(u8, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", arr, [cv2.IMWRITE_JPEG_QUALITY, q])
    dec = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    dec = dec[:, :, None] if dec.ndim == 2 else cv2.cvtColor(dec, cv2.COLOR_BGR2RGB)
    return dec.astype(np.float32) / 255.0


def _order(rng: np.random.Generator, img: np.ndarray, opt: dict[str, Any], size: tuple[int, int]) -> np.ndarray:
    """One order of degradation: blur, random resize (relative to ``size``), noise, JPEG."""
    if rng.uniform() < opt["blur_prob"]:
        img = _filter(img, _kernel(rng, opt))
    kind = rng.choice(3, p=opt["resize_prob"])
    lo, hi = opt["resize_range"]
    s = rng.uniform(1, hi) if kind == 0 else rng.uniform(lo, 1) if kind == 1 else 1.0
    img = _resize(img, int(size[0] * s), int(size[1] * s), str(rng.choice(_MODES)))
    img = np.clip(_noise(rng, img, opt), 0, 1)
    return np.clip(_jpeg(rng, img, opt), 0, 1)


def real_esrgan(rng: np.random.Generator, frame: np.ndarray, scale: int = 4) -> np.ndarray:
    """``frame`` (uint8 HxWxC) through the second-order chain: uint8, ``scale`` times smaller."""
    img = frame.astype(np.float32) / 255.0
    h, w = frame.shape[:2]
    img = _order(rng, img, FIRST, (h, w))
    img = _order(rng, img, SECOND, (h // scale, w // scale))
    size = FINAL["kernel_range"][int(rng.integers(len(FINAL["kernel_range"])))]
    sinc = sinc_kernel(rng.uniform(math.pi / 3, math.pi), size) if rng.uniform() < FINAL["final_sinc_prob"] else None
    mode = str(rng.choice(_MODES))

    def back(x: np.ndarray) -> np.ndarray:
        x = _resize(x, h // scale, w // scale, mode)
        return x if sinc is None else _filter(x, sinc)

    if rng.uniform() < 0.5:
        img = _jpeg(rng, np.clip(back(img), 0, 1), SECOND)
    else:
        img = back(_jpeg(rng, np.clip(img, 0, 1), SECOND))
    return to_uint8(img * 255)


class RealESRGAN(Degradation):
    name = "realesrgan"
    version = "1"
    examples = ("realx4",)
    token = r"realx(?P<factor>\d+)"
    seeded = True
    description = (
        "Real-ESRGAN second-order random degradation (token realx4): blur (iso/aniso/generalized/plateau "
        "Gaussian or sinc, 7..21 px), random resize (area/bilinear/bicubic), Gaussian or Poisson noise (colour "
        "or gray), JPEG, twice, then resize to 1/4 with a final sinc filter and JPEG in random order; "
        "seeded per item. For no-reference scoring (niqe, brisque) of real-world SR. "
        f"Parameter ranges: {SOURCE}."
    )

    def __init__(self, factor: int | str = 4):
        if int(factor) != 4:
            raise ValueError(f"realx{factor}: the Real-ESRGAN chain is defined for x4 only (realx4)")
        super().__init__(
            factor=4,
            first=FIRST,
            second=SECOND,
            final=FINAL,
            source=SOURCE,
            jpeg="OpenCV libjpeg 4:2:0",
            resize="OpenCV area/bilinear/bicubic",
            seeding="per item: sha256(item id, run seed, step)",
        )
        self.rng: np.random.Generator | None = None

    @property
    def scale(self) -> int:
        return 4

    def label(self) -> str:
        return "realx4"

    def with_seed(self, seed: int) -> "RealESRGAN":
        bound = RealESRGAN()
        bound.rng = np.random.default_rng(seed)
        return bound

    def apply(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        if h % 4 or w % 4:
            raise ValueError(f"frame {w}x{h} is not a multiple of the scale 4")
        if self.rng is None:
            self.rng = np.random.default_rng(0)
        return real_esrgan(self.rng, frame, 4)
