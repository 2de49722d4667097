"""Any published model from its weights file: ``-m path/to/RealESRGAN_x4plus.pth``.

spandrel (MIT) recognises dozens of restoration and super-resolution architectures
(ESRGAN/Real-ESRGAN, SwinIR, HAT, FBCNN, DnCNN, DRUNet, SCUNet, SPAN, ...) from their
original state dicts and reports each model's scale, input channels and size constraints;
this adapter turns such a file into a :class:`~benchmark.api.Method`:

* the file is read safely: ``.safetensors`` as is, ``.pth``/``.pt``/``.ckpt`` with
  ``torch.load(weights_only=True)`` (tensors and plain containers only, never code);
  TorchScript archives and pickled model classes are refused with a message, as is a file
  that is not a model;
* the row's method name is the file's stem (or ``name=``); the version carries the
  architecture and the file's SHA-256, which is also the method's ``weights_hash``, so a
  changed file never reuses cached outputs;
* ``scale`` is the model's, so the runner can refuse an x4 model on a QF20 set and
  ``bench enhance`` sizes its output without ``--scale``;
* gray (1-channel) models restore each channel of an RGB frame; RGB models see a gray frame
  repeated to three channels and their output is averaged back;
* large frames are restored in overlapping, blended tiles (:mod:`benchmark.core.tiling`), the
  tile chosen from the free memory and the model's measured bytes per pixel (``tile=N`` forces
  it, ``tile=0`` turns tiling off, ``overlap=N`` sets the overlap, 32 input pixels by default);
* on a GPU it runs in fp16 where spandrel says the architecture supports it, else bf16, else
  fp32 (``precision=fp32|fp16|bf16`` forces one), and batches frames of one size when the
  architecture takes batches.

* float input (a noisy image kept unrounded, e.g. ``set12-noise25``) goes to the model as it
  is, divided by 255 like uint8 input, as the papers' test code does (KAIR ``uint2single`` then
  ``+= noise``); ``input=uint8`` rounds and clips it to uint8 first, the 8-bit frame interface,
  and the row's method label says so (``dncnn_25:input=uint8``).

Settings that change the output (``tile``, ``overlap``, ``precision``, ``input``) enter the cache key
when given; the automatic choices, like the device, do not.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.api import Context, Method
from benchmark.core import memory
from benchmark.core.imaging import channel_mean_uint8
from benchmark.core.memory import choose_tile, cuda_peak, largest_activation, parse_tile
from benchmark.core.paths import expand as expand_path
from benchmark.errors import BenchError

WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors", ".ckpt")
DEFAULT_OVERLAP = 32
PRECISIONS = ("fp32", "fp16", "bf16")
INPUTS = ("float", "uint8")


def is_weights_ref(name: str) -> bool:
    """Whether a method name is a path to a weights file rather than a registered name."""
    return Path(name).suffix.lower() in WEIGHT_SUFFIXES or "/" in name or name.startswith("~") or os.sep in name


def read_state_dict(path: Path) -> dict[str, Any]:
    """The tensors of a weights file, read without running any code from it."""
    import zipfile

    import torch

    suffix = path.suffix.lower()
    if suffix not in WEIGHT_SUFFIXES:
        raise BenchError(f"{path}: not a weights file: expected one of {', '.join(WEIGHT_SUFFIXES)}")
    if not path.is_file():
        raise BenchError(f"{path}: no such file")
    if suffix != ".safetensors" and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            if any("/code/" in n or n.endswith("constants.pkl") for n in z.namelist()):
                raise BenchError(
                    f"{path}: a TorchScript archive (it carries code); bench reads weights only: save the "
                    "model's state_dict() (or convert it to .safetensors) and pass that file"
                )
    try:
        if suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(path), device="cpu")
        else:
            import warnings

            with warnings.catch_warnings():  # torch's note on the pickle protocol says nothing the error below does not
                warnings.simplefilter("ignore", UserWarning)
                sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to read is the user's file, named
        raise BenchError(_unreadable(path, exc)) from None
    if not isinstance(sd, dict) or not sd:
        raise BenchError(f"{path}: holds {type(sd).__name__}, not a state dict of tensors")
    return sd


def _unreadable(path: Path, exc: Exception) -> str:
    """Why a weights file could not be read, in one sentence: torch's reason, not its advice."""
    msg = str(exc)
    found = re.search(r"GLOBAL (\S+?)(?: was not an allowed global| whose module)", msg)  # torch's two wordings
    if found:
        return (
            f"{path}: not readable as model weights: it is a pickle of Python objects ({found.group(1)}), not only tensors, "
            "and bench reads pickles with weights_only=True only (never code); if it is a whole pickled model, save its "
            "state_dict() or convert it to .safetensors"
        )
    boiler = ("Weights only load failed", "Please file an issue", "Check the documentation", "In PyTorch 2.6")
    lines = [x.strip() for x in msg.splitlines() if x.strip()]
    why = next((x for x in lines if not x.startswith(boiler) and not x.endswith("error:")), lines[0] if lines else "")
    return f"{path}: not readable as model weights ({type(exc).__name__}: {why[:200]})"


def load_model(path: Path):
    """spandrel's :class:`ImageModelDescriptor` for a weights file, on the CPU, in eval mode."""
    import spandrel

    sd = spandrel.canonicalize_state_dict(read_state_dict(path))
    try:
        model = spandrel.ModelLoader().load_from_state_dict(sd)
    except spandrel.UnsupportedModelError:
        keys = ", ".join(list(sd)[:4])
        raise BenchError(
            f"{path}: not a model spandrel {spandrel.__version__} knows (its keys start {keys} ...); "
            "supported architectures: https://github.com/chaiNNer-org/spandrel#model-architecture-support"
        ) from None
    except Exception as exc:  # noqa: BLE001 - a detected architecture whose tensors do not fit
        raise BenchError(
            f"{path}: spandrel could not build a model from it ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
    if not isinstance(model, spandrel.ImageModelDescriptor):
        raise BenchError(
            f"{path}: a {model.architecture.name} {model.purpose.lower()} model, which needs a mask; "
            "bench runs image-to-image models only"
        )
    if model.input_channels not in (1, 3) or model.output_channels != model.input_channels:
        raise BenchError(
            f"{path}: a {model.architecture.name} model with {model.input_channels} input and "
            f"{model.output_channels} output channels; bench runs gray->gray and RGB->RGB models"
        )
    return model.eval()


class PublishedModel(Method):
    """A model loaded from its weights file by spandrel (see the module docstring)."""

    name = "weights-file"
    version = "1"
    description = (
        "Any published restoration/SR model from its weights file (.pth, .pt, .safetensors, .ckpt): "
        "architecture, scale and channels detected by spandrel; tiled, fp16/bf16 on a GPU."
    )

    def __init__(
        self,
        path: str | os.PathLike,
        name: str | None = None,
        tile: Any = None,
        overlap: Any = None,
        precision: str | None = None,
        origin: str = "weights file",
        input: str | None = None,
    ):
        import spandrel

        if input not in (None, *INPUTS):
            raise ValueError(
                f"input must be one of {', '.join(INPUTS)} (float: as the degradation gives it; uint8: rounded "
                f"and clipped to 8 bits first); got {input!r}"
            )
        self.takes_float = input != "uint8"
        settings = {"tile": tile, "overlap": overlap, "precision": precision, "input": input}
        super().__init__(**{k: v for k, v in settings.items() if v is not None})
        self.path = expand_path(path)
        self.tile = parse_tile(tile)
        self.overlap = DEFAULT_OVERLAP if overlap is None else int(overlap)
        if self.overlap < 0:
            raise ValueError(f"overlap must be >= 0, got {overlap}")
        if precision not in (None, "auto", *PRECISIONS):
            raise ValueError(f"precision must be one of auto, {', '.join(PRECISIONS)}; got {precision!r}")
        self.precision = precision or "auto"
        self.model = load_model(self.path)  # fails here, before any work, for a bad file
        from benchmark.files.weights import file_sha256

        self.weights_hash = file_sha256(self.path)
        self.arch = self.model.architecture.id
        self.scale = int(self.model.scale)
        self.name = str(name) if name else self.path.stem
        self.version = f"{type(self).version}+{self.arch}-{self.weights_hash[:12]}"
        self.origin = origin
        self.spandrel_version = spandrel.__version__
        self.description = (
            f"{self.model.architecture.name} x{self.scale} ({self.model.purpose}, "
            f"{'gray' if self.model.input_channels == 1 else 'RGB'}) from {self.path.name}"
        )
        self.device = None
        self.dtype = None
        self._bytes_per_pixel: float | None = None
        self._batches = False

    # -- identity ------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "architecture": self.arch, "loader": f"spandrel {self.spandrel_version}"}

    def provenance(self) -> dict[str, Any]:
        """For the run manifest (``plugins``)."""
        m = self.model
        return {
            "origin": self.origin,
            "target": str(self.path),
            "version": self.version,
            "sha256": self.weights_hash,
            "architecture": self.arch,
            "scale": self.scale,
            "input_channels": m.input_channels,
            "size_requirements": {
                "minimum": m.size_requirements.minimum,
                "multiple_of": m.size_requirements.multiple_of,
                "square": m.size_requirements.square,
            },
            "loader": f"spandrel {self.spandrel_version}",
        }

    def network(self):
        """The network spandrel built from the file (for the run's cost rows)."""
        return self.model.model

    # -- setup ---------------------------------------------------------------------
    def setup(self, device: str) -> None:
        import torch

        self.device = device
        self.dtype = resolve_precision(self.precision, device, self.model)
        try:
            self.model.to(torch.device(device)).to(self.dtype)
        except Exception as exc:  # spandrel's UnsupportedDtypeError, or a device that is not there
            raise BenchError(f"{self.name}: cannot run on {device} in {self.precision}: {exc}") from None
        self._bytes_per_pixel = None
        self._batches = device.startswith("cuda") and self._takes_batches()

    def _call(self, t):
        """One model call on a uint8 or float (N, C, h, w) tensor on the 0-255 scale -> float (N, C, h*s, w*s)
        on the 0-1 scale (a float input, a view of the frame under tiling, is never changed in place)."""
        x = t.to(self.device).to(self.dtype)
        return self.model(x.div_(255.0) if x is not t else x / 255.0)

    def _probe_side(self) -> int:
        req = self.model.size_requirements
        side = max(64, req.minimum)
        return -(-side // req.multiple_of) * req.multiple_of

    def _takes_batches(self) -> bool:
        import torch

        p = self._probe_side()
        try:
            out = self._call(torch.zeros(2, self.model.input_channels, p, p, dtype=torch.uint8))
        except Exception:  # noqa: BLE001 - some call functions assume one image (DRUNet's noise map)
            return False
        return out.shape[0] == 2

    # -- memory --------------------------------------------------------------------
    def bytes_per_pixel(self) -> float:
        """Memory one input pixel costs during a forward pass: measured on a GPU (peak allocated
        on a probe tile), estimated on the CPU from the largest activation (x4 for the tensors
        alive beside it: skips, concatenations, the input and output)."""
        import torch

        if self._bytes_per_pixel is not None:
            return self._bytes_per_pixel
        p = self._probe_side()
        x = torch.zeros(1, self.model.input_channels, p, p, dtype=torch.uint8)
        if str(self.device).startswith("cuda"):
            bpp = 1.25 * cuda_peak(self.device, lambda: self._call(x)) / (p * p)
        else:
            largest, out = largest_activation(self.model.model.modules(), lambda: self._call(x))
            bpp = (4 * largest + out.numel() * out.element_size() + x.numel() * 4) / (p * p)
        self._bytes_per_pixel = float(bpp)
        return self._bytes_per_pixel

    def pixels_that_fit(self) -> float:
        """Input pixels one forward pass may cover at once on this device."""
        return memory.memory_budget(self.device) / self.bytes_per_pixel()

    def choose_tile(self, n: int, h: int, w: int) -> int | None:
        """The tile side for ``n`` frames of ``h`` x ``w`` (None: whole frames)."""
        from spandrel import ModelTiling

        req = self.model.size_requirements
        if self.tile is None and self.model.tiling == ModelTiling.INTERNAL:
            return None
        return choose_tile(self.tile, n, h, w, self.pixels_that_fit, req.multiple_of, req.minimum, self.overlap)

    # -- inference -----------------------------------------------------------------
    def process(self, frames: list[np.ndarray], ctx: Context) -> list[np.ndarray]:
        if self.device is None:
            self.setup(ctx.device)
        outs: list[np.ndarray] = []
        i = 0
        while i < len(frames):  # runs of frames of one shape
            j = i + 1
            while j < len(frames) and frames[j].shape == frames[i].shape:
                j += 1
            outs += self.restore(frames[i:j])
            i = j
        return outs

    def restore(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        """Frames of one shape (uint8, or float on the 0-255 scale, HxWxC) -> uint8 outputs, ``scale`` times larger, same channels."""
        import torch

        from benchmark.core.tiling import run_tiled

        n, h, w, c = len(frames), *frames[0].shape
        x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)
        mc = self.model.input_channels
        if mc == 1 and c == 3:  # each colour channel through the gray model
            x = x.reshape(n * 3, 1, h, w)
        elif mc == 3 and c == 1:
            x = x.expand(n, 3, h, w)
        per_call = len(x)
        if not self._batches:
            per_call = 1
        elif self.tile is None and h * w * per_call > self.pixels_that_fit():
            per_call = max(1, int(self.pixels_that_fit() // (h * w)))
        parts = []
        with torch.inference_mode():
            for k in range(0, len(x), per_call):
                xb = x[k : k + per_call]
                parts.append(run_tiled(self._call, xb, self.scale, self.choose_tile(len(xb), h, w), self.overlap))
        out = np.concatenate(parts)
        if mc == 1 and c == 3:
            out = out.reshape(n, 3, h * self.scale, w * self.scale).transpose(0, 2, 3, 1)
        elif mc == 3 and c == 1:
            out = channel_mean_uint8(out)
        return [np.ascontiguousarray(o) for o in out]


def resolve_precision(precision: str, device: str, model) -> Any:
    """The torch dtype to run ``model`` in: fp32 on the CPU; on a GPU fp16 where the architecture
    supports it, else bf16 where both do, else fp32. An explicit choice is checked."""
    import torch

    dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    if precision != "auto":
        supported = {"fp32": True, "fp16": model.supports_half, "bf16": model.supports_bfloat16}[precision]
        if not supported:
            raise BenchError(
                f"{model.architecture.name} does not support {precision} (spandrel says so); "
                "use precision=fp32 or the other half type"
            )
        return dtypes[precision]
    if not str(device).startswith("cuda"):
        return torch.float32
    if model.supports_half:
        return torch.float16
    if model.supports_bfloat16 and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32
