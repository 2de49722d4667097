"""The run's configuration and the defaults it starts from (no work, no heavy imports)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.core import environment
from benchmark.errors import BenchError

DEFAULT_METRICS = ["psnr", "psnr-y", "ssim", "ssim-y", "psnr-b", "fps"]
DEFAULT_DATASETS = ["photos-qf20", "clips-crf35"]
DEFAULT_MAX_FRAMES = 30  # for the default run only, to keep it about a minute on a laptop CPU
ENV_MAX_PIXELS = environment.MAX_PIXELS
DEFAULT_MAX_PIXELS = 40_000_000  # 40 MP: a 7700x5200 photo; above it, an error row (memory would grow with the frame)
# `bench run` with neither --methods nor --dataset: a small comparison on the embedded data,
# each set with the methods made for it (the JPEG restorers on the photos, an x2 upscaler on the clips)
DEFAULT_PLAN = {"photos-qf20": ["identity", "ssim", "gan"], "clips-x2": ["bicubic", "fast-srgan"]}


@dataclass
class RunConfig:
    methods: list[str] = field(default_factory=list)  # empty: identity (with no datasets either: DEFAULT_PLAN)
    datasets: list[str] = field(default_factory=list)
    metrics: list[str] | None = None
    data_root: str | None = None
    out: str | None = None
    limit: int | None = None
    items: list[str] | None = None  # only these item ids (e.g. ["bigbuckbunny"])
    max_frames: int | None = None
    cache_dir: str | None = None
    no_cache: bool = False
    batch_size: int = 8
    crop_border: int | None = None
    device: str = "auto"
    specs: list[str] = field(default_factory=list)
    seed: int = 0
    detector: str | None = None  # for detection metrics (else $BENCH_DETECTOR, else the metric's default)
    captioner: str | None = None  # for captioning metrics (else $BENCH_CAPTIONER, else the default model id)
    max_pixels: int | None = None  # refuse larger frames (else $BENCH_MAX_PIXELS, else DEFAULT_MAX_PIXELS; 0: no limit)
    command: list[str] | None = None
    executor: str = "serial"  # auto (the planner picks the local workers: run/workers.py) | serial | processes | ray
    workers: int | None = None  # local worker processes (executor "processes"; >1 implies it; with "auto": forced)
    engine: str | None = (
        None  # the networks' inference engine: auto | eager | openvino | cuda (None: $BENCH_ENGINE, else auto)
    )
    precision: str | None = None  # the engine's precision: f32 | bf16 | f16 (None: $BENCH_PRECISION, else f32)
    ray_address: str | None = None
    retries: int = 2  # a unit whose worker dies is run again this many times, then becomes error rows
    cost: bool | None = (
        None  # measure each method's cost (params, MACs, peak memory, latency); None: $BENCH_COST, else on
    )


@dataclass
class RunResult:
    out_dir: Path
    run_id: str
    rows: Any  # pandas.DataFrame
    failures: list[str]
    manifest: dict[str, Any]


def split_list(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out += [x.strip() for x in v.split(",") if x.strip()]
    return out


def resolve_device(device: str) -> str:
    """``auto``: cuda when torch sees a GPU, else cpu. Without an NVIDIA device node (or a
    ROCm one) on Linux there is none to see, and torch is not imported just to learn that (a run
    whose methods and metrics need no torch starts ~1.3 s sooner, in every worker too)."""
    if device != "auto":
        return device
    if (
        sys.platform.startswith("linux")
        and "torch" not in sys.modules
        and not (
            Path("/dev/nvidiactl").exists() or Path("/dev/kfd").exists() or list(Path("/dev").glob("nvidia[0-9]*"))
        )
    ):
        return "cpu"
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover
        return "cpu"


def check_device(device: str) -> None:
    """Raise :class:`BenchError` when ``device`` (the ``--device`` option) names a device this
    machine lacks: the run would otherwise start and turn every unit that needs it into an
    error row (or record a device nothing ran on). ``auto`` and ``cpu`` always pass."""
    kind, _, index = device.partition(":")
    if device == "auto" or kind == "cpu":
        return
    try:
        import torch
    except ImportError:  # pragma: no cover
        raise BenchError(f"--device {device}: needs PyTorch, which is not installed here; use --device cpu") from None
    try:
        torch.device(device)
    except RuntimeError:
        raise BenchError(f"--device {device!r} is not a device: use auto, cpu, cuda, cuda:N or mps") from None
    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            built = "" if torch.version.cuda else f", and this PyTorch ({torch.__version__}) is built without CUDA"
            raise BenchError(
                f"--device {device}: no CUDA GPU is visible here{built}; use --device auto (cuda when there is one) or cpu"
            )
        if index and int(index) >= count:
            raise BenchError(f"--device {device}: this machine has {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}")
    elif kind == "mps" and not torch.backends.mps.is_available():
        raise BenchError(f"--device {device}: Apple's MPS is not available here; use --device auto or cpu")


def max_pixels(value: int | None) -> int:
    """The pixel limit per frame: the option, else $BENCH_MAX_PIXELS, else the default (0: none)."""
    if value is not None:
        return value
    env = environment.get(environment.MAX_PIXELS)
    if env:
        try:
            return int(float(env))
        except ValueError:
            raise BenchError(
                f"{ENV_MAX_PIXELS}={env!r}: expected a number of pixels, e.g. 100000000 (0: no limit)"
            ) from None
    return DEFAULT_MAX_PIXELS
