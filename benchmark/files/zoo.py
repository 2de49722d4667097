"""A small zoo of published restoration and super-resolution models, by name.

Each entry names the authors' own release file (URL), its license, paper, task, scale and,
where it could be confirmed from more than one independent record, its SHA-256 and size.
``bench models fetch NAME`` downloads it into ``$BENCH_MODELS_DIR`` (default: ``models/``
under the cache folder), resuming a partial download (``NAME.part``, HTTP range requests)
and checking the checksum before the file takes its final name. A zoo name is a method name
(``bench run -m realesrgan-x4plus``) once its file is there; nothing is downloaded at run
time: a missing file fails at once with its URL, its SHA-256 and where to put it.

The files are loaded like any weights file (:mod:`benchmark.methods.adapters.published`), so spandrel
detects the architecture; ``architecture`` here is what it should detect, for the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from benchmark.core import environment
from benchmark.core.paths import expand as expand_path
from benchmark.errors import BenchError
from benchmark.files.download import download
from benchmark.files.weights import WeightsMissing, file_sha256

ENV_MODELS_DIR = environment.MODELS_DIR


@dataclass(frozen=True)
class ZooModel:
    name: str
    task: str
    scale: int
    architecture: str
    license: str
    paper: str
    url: str
    sha256: str | None  # None: no checksum could be confirmed; fetch says so and verifies nothing
    size: int | None  # bytes, where known
    notes: str = ""

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


_REALESRGAN = "Wang, Xie, Dong, Shan: Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic Data, ICCVW 2021, arXiv:2107.10833"
_SWINIR = "Liang, Cao, Sun, Zhang, Van Gool, Timofte: SwinIR: Image Restoration Using Swin Transformer, ICCVW 2021, arXiv:2108.10257"

MODELS: list[ZooModel] = [
    ZooModel(
        "realesrgan-x4plus",
        "real-world SR (blind degradations)",
        4,
        "ESRGAN",
        "BSD-3-Clause",
        _REALESRGAN,
        "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.0/RealESRGAN_x4plus.pth",
        "4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1",
        67_040_989,
    ),
    ZooModel(
        "realesrgan-x2plus",
        "real-world SR (blind degradations)",
        2,
        "ESRGAN",
        "BSD-3-Clause",
        _REALESRGAN,
        "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.2.1/RealESRGAN_x2plus.pth",
        "49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb",
        67_061_725,
    ),
    ZooModel(
        "realesr-general-x4v3",
        "real-world SR, small (SRVGGNetCompact)",
        4,
        "Compact",
        "BSD-3-Clause",
        _REALESRGAN,
        "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.2.5.0/realesr-general-x4v3.pth",
        "8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292",
        4_885_111,
    ),
    ZooModel(
        "swinir-classical-x2",
        "bicubic SR (classical, DF2K)",
        2,
        "SwinIR",
        "Apache-2.0",
        _SWINIR,
        "https://github.com/JingyunLiang/SwinIR/releases/download/v0.0/001_classicalSR_DF2K_s64w8_SwinIR-M_x2.pth",
        "2032ebf8f401dd3ce2fae5f3852117cb72101ec6ed8358faa64c2a3fa09ed4ac",
        67_277_475,
    ),
    ZooModel(
        "swinir-classical-x4",
        "bicubic SR (classical, DF2K)",
        4,
        "SwinIR",
        "Apache-2.0",
        _SWINIR,
        "https://github.com/JingyunLiang/SwinIR/releases/download/v0.0/001_classicalSR_DF2K_s64w8_SwinIR-M_x4.pth",
        "4e78e33f22c1aa8a773db0cf4a7381bae97c2362c717f155439ebc690cbd9215",
        67_869_037,
    ),
    ZooModel(
        "fbcnn-color",
        "JPEG artifact removal (blind, predicts the QF)",
        1,
        "FBCNN",
        "Apache-2.0",
        "Jiang, Zhang, Timofte: Towards Flexible Blind JPEG Artifacts Removal, ICCV 2021, arXiv:2109.14573",
        "https://github.com/jiaxi-jiang/FBCNN/releases/download/v1.0/fbcnn_color.pth",
        "8b0e4ef23d59cf7ac934a342cb31a17619e4fa4a0b3374a9d78c5174312387e8",
        287_755_111,
    ),
    ZooModel(
        "drunet-color",
        "Gaussian denoising (DPIR's denoiser)",
        1,
        "DRUNet",
        "MIT (KAIR)",
        "Zhang, Li, Zuo, Zhang, Van Gool, Timofte: Plug-and-Play Image Restoration with Deep Denoiser Prior, TPAMI 2021, arXiv:2008.13751",
        "https://github.com/cszn/KAIR/releases/download/v1.0/drunet_color.pth",
        "479abe3c5327dfd10ff54a80ec7d4098ca80752a5c9492cdff31cee430bec4b4",
        None,
        notes="spandrel feeds it a fixed noise level of 15/255",
    ),
    ZooModel(
        "scunet-color-real-psnr",
        "real-world denoising (blind)",
        1,
        "SCUNet",
        "Apache-2.0",
        "Zhang, Li, Liang, Cao, Zhang, Tang, Wen, Van Gool, Timofte: Practical Blind Image Denoising via Swin-Conv-UNet and Data Synthesis, MIR 2023, arXiv:2203.13278",
        "https://github.com/cszn/KAIR/releases/download/v1.0/scunet_color_real_psnr.pth",
        "fa78899ba2caec9d235a900e91d96c689da71c42029230c2028b00f09f809c2e",
        71_982_841,
    ),
]
ZOO: dict[str, ZooModel] = {m.name: m for m in MODELS}


def models_dir() -> Path:
    env = environment.get(environment.MODELS_DIR)
    if env:
        return expand_path(env)
    from benchmark.run.cache import default_cache_dir

    return default_cache_dir() / "models"


def get(name: str) -> ZooModel:
    if name not in ZOO:
        import difflib

        close = difflib.get_close_matches(name, list(ZOO), n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise BenchError(f"no zoo model {name!r}.{hint} Known: {', '.join(ZOO)} (`bench models` lists them).")
    return ZOO[name]


def local_path(model: ZooModel) -> Path:
    return models_dir() / model.filename


def _where(model: ZooModel) -> str:
    sha = f"sha256 {model.sha256}" if model.sha256 else "no published sha256 recorded"
    size = f", {model.size:,} bytes" if model.size else ""
    return f"{model.url} ({sha}{size}) and put it at {local_path(model)}"


def resolve(name: str) -> Path:
    """The checked local file of zoo model ``name``, or :class:`WeightsMissing` saying how to get it."""
    model = get(name)
    path = local_path(model)
    if not path.is_file():
        raise WeightsMissing(
            f"zoo model {name!r} is not on disk: run `bench models fetch {name}`, or offline download "
            f"{_where(model)} (${ENV_MODELS_DIR} sets the folder)."
        )
    if model.sha256 and file_sha256(path) != model.sha256:
        raise WeightsMissing(
            f"zoo model {name!r}: {path} has sha256 {file_sha256(path)}, expected {model.sha256} "
            f"(a different or damaged file): delete it and run `bench models fetch {name}`."
        )
    return path


def fetch(
    name: str, timeout: float = 30.0, on_progress: Callable[[int, int | None], None] | None = None, chunk: int = 1 << 20
) -> dict[str, Any]:
    """Download zoo model ``name`` into :func:`models_dir`, resuming ``<file>.part`` and checking
    size and SHA-256 before renaming it into place. Returns what happened (for the CLI)."""
    model = get(name)
    info = download(
        model.url,
        local_path(model),
        what=f"zoo model {name!r}",
        hint=f"download {_where(model)}",
        sha256=model.sha256,
        size=model.size,
        timeout=timeout,
        on_progress=on_progress,
        chunk=chunk,
    )
    return {"name": name, **info}
