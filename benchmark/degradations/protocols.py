"""The SR papers' BD and DN degradations, step for step as RDN's MATLAB code makes its test data.

Source: ``yulunzhang/RDN``, ``RDN_TestCode/Prepare_TestData_HR_LR.m`` (Zhang et al., "Residual
Dense Network for Image Super-Resolution", CVPR 2018, Table 2 / TPAMI 2020), whose BD and DN
test sets SRMD (Zhang et al., CVPR 2018) and later papers share:

* **BD** (``bdN``): ``imfilter(HR, fspecial('gaussian', 7, 1.6), 'replicate')`` on the uint8 HR
  image (so the blurred image is rounded to uint8), then ``imresize(.., 1/N, 'nearest')``: every
  N-th pixel starting at (N+1)/2 (1-based), i.e. rows and columns ``(N-1)//2 :: N`` (0-based). The
  kernel side is 7 at x3 (the code's special case), else ``2*ceil(3*1.6)+1`` (odd N) or
  ``2*ceil(3*1.6)+2`` (even N, decimated from N/2, 1-based: the same ``(N-1)//2`` 0-based).
* **DN** (``dnN``): ``imresize(HR, 1/N, 'bicubic')`` (uint8), then
  ``uint8(single(LR) + single(30 * randn(size(LR))))``: Gaussian noise sigma 30 on the 0..255
  scale, rounded and saturated to uint8. RDN fixes ``randn('seed', 0)`` (MATLAB's legacy
  generator); bench draws its noise per item from the run's seed, so single images differ by the
  noise realisation and the averages agree within it.

The reference (HR) is the image cropped to a multiple of N at the top left (``modcrop``), which
bench's reference stage does for every SR data set."""

from __future__ import annotations

import math

import numpy as np

from ..api import Degradation
from .blur import fspecial_gaussian, imfilter
from .noise import GaussianNoise
from .resize import matlab_resize

SOURCE = "github.com/yulunzhang/RDN RDN_TestCode/Prepare_TestData_HR_LR.m"
BD_SIGMA = 1.6
DN_SIGMA = 30


def bd_kernel_size(scale: int, sigma: float = BD_SIGMA) -> int:
    """RDN's ``imresize_BD`` kernel side: 7 for x3 at sigma 1.6, else ``ceil(3 sigma)*2 + 1`` (odd
    scale) or ``+ 2`` (even scale)."""
    if scale == 3 and sigma == BD_SIGMA:
        return 7
    return math.ceil(sigma * 3) * 2 + (1 if scale % 2 else 2)


def decimate(frame: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB ``imresize(x, 1/scale, 'nearest')`` for an integer scale: pixels ``(scale-1)//2 :: scale``."""
    start = (scale - 1) // 2
    return np.ascontiguousarray(frame[start::scale, start::scale])


class _Protocol(Degradation):
    """A paper's protocol at an integer scale: token ``<name>N`` (``bd3``, ``dn3``)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.token, cls.examples = rf"{cls.name}(?P<factor>\d+)", (f"{cls.name}3",)

    def __init__(self, factor: int | str, **params):
        factor = int(factor)
        if not 2 <= factor <= 4:
            raise ValueError(
                f"{self.name}{factor}: the {self.name.upper()} protocol is defined for x2, x3 and x4 "
                f"({self.name}3 is the papers' setting)"
            )
        super().__init__(factor=factor, **params, source=SOURCE)

    @property
    def scale(self) -> int:
        return int(self.params["factor"])

    def label(self) -> str:
        return f"{self.name}{self.params['factor']}"

    def check(self, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        if h % self.scale or w % self.scale:
            raise ValueError(f"frame {w}x{h} is not a multiple of the scale {self.scale}")


class BlurDownscale(_Protocol):
    name = "bd"
    version = "1"
    description = (
        "BD protocol of RDN/SRMD (token bdN, the papers use bd3): Gaussian blur fspecial('gaussian', 7, 1.6) "
        "with imfilter 'replicate' on the uint8 image (rounded to uint8), then nearest downsampling x N "
        f"(imresize 'nearest': pixels (N-1)//2::N). Source: {SOURCE}."
    )

    def __init__(self, factor: int | str = 3):
        size = bd_kernel_size(int(factor))
        super().__init__(
            factor,
            kernel=f"fspecial('gaussian', {size}, {BD_SIGMA})",
            filter="imfilter replicate, uint8",
            downsampler="imresize nearest",
        )

    def kernel_side(self) -> int:
        return bd_kernel_size(self.scale)

    def apply(self, frame: np.ndarray) -> np.ndarray:
        self.check(frame)
        blurred = imfilter(frame, fspecial_gaussian(bd_kernel_size(self.scale), BD_SIGMA))
        return decimate(blurred, self.scale)


class DownscaleNoise(_Protocol):
    name = "dn"
    version = "1"
    seeded = True
    description = (
        "DN protocol of RDN/SRMD (token dnN, the papers use dn3): MATLAB bicubic imresize 1/N (uint8), then Gaussian "
        "noise sigma 30 (0..255) added in single precision and rounded/saturated to uint8 (MATLAB uint8()); "
        f"noise seeded per item from the item id and --seed. Source: {SOURCE}."
    )

    def __init__(self, factor: int | str = 3):
        super().__init__(
            factor,
            downsampler="MATLAB bicubic imresize (resize-right), uint8",
            noise_sigma=DN_SIGMA,
            noise="single(LR) + single(30*randn), uint8()",
            seeding="per item: sha256(item id, run seed, step)",
        )
        self.noise = GaussianNoise(DN_SIGMA, u8=True)

    def with_seed(self, seed: int) -> "DownscaleNoise":
        bound = DownscaleNoise(self.scale)
        bound.noise = self.noise.with_seed(seed)
        return bound

    def apply(self, frame: np.ndarray) -> np.ndarray:
        self.check(frame)
        return self.noise.add(matlab_resize(frame, 1.0 / self.scale))
