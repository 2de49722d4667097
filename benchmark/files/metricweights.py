"""Metric weights by name: every file a learned metric loads, with its declared source(s),
SHA-256, size and license (``bench metrics fetch NAME``, ``bench metrics``).

A file lives where the library that reads it looks: torch.hub's folder (``$TORCH_HOME/hub``,
default ``~/.cache/torch/hub``), under ``checkpoints/`` for torchvision backbones and
torch-fidelity's Inception, and under ``pyiqa/`` for a file pyiqa reads too (the DISTS
weights, shared by bench's ``dists`` and pyiqa's). ``fetch`` downloads each file with the one
downloader (:mod:`benchmark.files.download`: resumable ``.part``, size and SHA-256 checked before
the file takes its name), trying the declared sources in order. Runs never download:
:func:`require` verifies the files (SHA-256, hashed once per process) and otherwise raises a
one-line :class:`~benchmark.files.weights.WeightsMissing` that names the fetch command, the source
and the path for an offline copy.

Checksums: each SHA-256 below was read from more than one independent record and, where the
file name carries a hash prefix (torchvision's, torch-fidelity's, pyiqa's), agrees with it;
the DISTS file is byte for byte the ``weights.pt`` of the authors' ``DISTS_pytorch`` 0.1 wheel
on PyPI (MIT), whose SHA-256 was computed here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from benchmark.errors import BenchError
from benchmark.files.download import download
from benchmark.files.weights import WeightsMissing, file_sha256

_TV = "https://download.pytorch.org/models/"
_PYIQA_HF = "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/"
TORCHVISION_LICENSE = "BSD-3-Clause (torchvision's ImageNet weights)"


@dataclass(frozen=True)
class MetricFile:
    key: str  # short name (`bench metrics fetch vgg16` works too)
    filename: str
    urls: tuple[str, ...]  # declared sources, tried in order
    sha256: str
    size: int | None  # bytes, checked by the download
    license: str
    what: str
    folder: str = "checkpoints"  # under torch.hub.get_dir()


FILES: dict[str, MetricFile] = {
    f.key: f
    for f in [
        MetricFile(
            "alexnet",
            "alexnet-owt-7be5be79.pth",
            (_TV + "alexnet-owt-7be5be79.pth",),
            "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02",
            244_408_911,
            TORCHVISION_LICENSE,
            "AlexNet ImageNet weights (torchvision IMAGENET1K_V1): the backbone of LPIPS-alex and tLP",
        ),
        MetricFile(
            "vgg16",
            "vgg16-397923af.pth",
            (_TV + "vgg16-397923af.pth",),
            "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
            553_433_881,
            TORCHVISION_LICENSE,
            "VGG16 ImageNet weights (torchvision IMAGENET1K_V1): the backbone of LPIPS-vgg and DISTS",
        ),
        MetricFile(
            "dists-weights",
            "DISTS_weights-f5e65c96.pth",
            (
                _PYIQA_HF + "DISTS_weights-f5e65c96.pth",
                "https://raw.githubusercontent.com/dingkeyan93/DISTS/master/DISTS_pytorch/weights.pt",
            ),
            "f5e65c96230b7f6ca995691647d482237e4cab8a50c5c4a5784f219ef0748218",
            12_288,
            "MIT (Keyan Ding, the DISTS authors)",
            "DISTS alpha/beta layer weights (the authors' DISTS_pytorch/weights.pt; pyiqa's mirror of the same bytes)",
            folder="pyiqa",
        ),
        MetricFile(
            "inception-fid",
            "weights-inception-2015-12-05-6726825d.pth",
            (
                "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
            ),
            "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
            95_628_359,
            "Apache-2.0 (TensorFlow's 2015-12-05 Inception, converted by torch-fidelity)",
            "the FID Inception-v3 (TensorFlow's, as torch-fidelity ports it): the feature network of fid and kid",
        ),
    ]
}


def hub_dir() -> Path:
    """torch.hub's folder: ``$TORCH_HOME/hub`` (default ``~/.cache/torch/hub``)."""
    import torch.hub

    return Path(torch.hub.get_dir())


def local_path(f: MetricFile) -> Path:
    return hub_dir() / f.folder / f.filename


def state(f: MetricFile) -> str:
    """'present', 'missing', 'partial N bytes' (an interrupted fetch) or 'wrong size N bytes'.
    Sizes only: the SHA-256 is checked when the file is loaded."""
    p = local_path(f)
    if p.is_file():
        size = p.stat().st_size
        return "present" if f.size is None or size == f.size else f"wrong size {size:,} bytes"
    part = p.with_name(p.name + ".part")
    return f"partial {part.stat().st_size:,} bytes" if part.is_file() else "missing"


def files_of(keys: Iterable[str]) -> list[MetricFile]:
    return [FILES[k] for k in keys]


def offline_hint(f: MetricFile) -> str:
    return f"download {f.urls[0]} (sha256 {f.sha256}) to {local_path(f)}"


def missing_note(metric: str, keys: Iterable[str]) -> str:
    """'' when every file of ``keys`` is on disk (sizes only), else the one line saying what is
    missing and the fetch command (`bench list metrics` and a run's check show it)."""
    gone = [f for f in files_of(keys) if state(f) != "present"]
    if not gone:
        return ""
    what = ", ".join(f"{f.filename} ({state(f)})" for f in gone)
    return (
        f"weights not on disk: {what} in {local_path(gone[0]).parent.parent}: run `bench metrics fetch {metric}` "
        f"(runs never download; offline: " + "; ".join(offline_hint(f) for f in gone) + ")"
    )


def require(metric: str, keys: Iterable[str]) -> dict[str, Path]:
    """The verified local path of each file of ``keys``, or :class:`WeightsMissing` (one line
    naming `bench metrics fetch METRIC`)."""
    out = {}
    for f in files_of(keys):
        p = local_path(f)
        if not p.is_file():
            raise WeightsMissing(
                f"metric '{metric}' needs {f.filename}, which is not at {p}: run `bench metrics fetch {metric}` "
                f"(runs never download; offline: {offline_hint(f)})"
            )
        sha = file_sha256(p)
        if sha != f.sha256:
            raise WeightsMissing(
                f"metric '{metric}': {p} has sha256 {sha}, expected {f.sha256} (a different or damaged file): "
                f"delete it and run `bench metrics fetch {metric}`"
            )
        out[f.key] = p
    return out


def fetch_file(
    f: MetricFile,
    timeout: float = 30.0,
    on_progress: Callable[[int, int | None], None] | None = None,
    chunk: int = 1 << 20,
) -> dict[str, Any]:
    """Download ``f`` into :func:`local_path` (resumed, checked), from its first source that
    answers. An existing file is verified, not fetched again."""
    dest = local_path(f)
    errors = []
    for url in f.urls:
        try:
            info = download(
                url,
                dest,
                what=f"metric weights {f.filename}",
                hint=offline_hint(f),
                sha256=f.sha256,
                size=f.size,
                timeout=timeout,
                on_progress=on_progress,
                chunk=chunk,
            )
            return {"key": f.key, "url": url, **info}
        except BenchError as exc:
            if dest.is_file() or "interrupted" in str(exc):
                raise  # a damaged file here, or a cut download to resume: said as it is
            errors.append(str(exc))  # unreachable, or another file (removed): the next source
    raise BenchError(" / ".join(errors) if len(errors) == 1 else "every source failed: " + " | ".join(errors))


# -- pyiqa's own files (pyiqa:NAME) ------------------------------------------------------
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,})\.")  # torch.hub's convention: name-<sha256 prefix>.ext


def hash_prefix(filename: str) -> str | None:
    m = _HASH_IN_NAME.search(filename)
    return m.group(1) if m else None


def fetch_url(
    url: str,
    dest: str | os.PathLike,
    hash_prefix_: str | None = None,
    timeout: float = 30.0,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> dict[str, Any]:
    """A file a library asks for by URL (pyiqa's tables, torchvision's), through bench's
    downloader; its SHA-256 must start with the prefix the library passes or the file name
    carries, else it is removed. Used by ``bench metrics fetch pyiqa:NAME`` only."""
    dest = Path(dest)
    prefix = hash_prefix_ or hash_prefix(dest.name)
    info = download(
        url,
        dest,
        what=f"metric weights {dest.name}",
        hint=f"download {url} to {dest}",
        timeout=timeout,
        on_progress=on_progress,
    )
    if prefix and not info["sha256"].startswith(prefix):
        dest.unlink()
        raise BenchError(
            f"metric weights {dest.name}: sha256 {info['sha256']} does not start with {prefix} (from the file's "
            f"name): removed it; the file at {url} is not the one recorded, or it was damaged in transit."
        )
    return {**info, "url": url, "verified": bool(prefix), "key": dest.name}
