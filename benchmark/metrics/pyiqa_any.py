"""``pyiqa:NAME``: any of pyiqa's metrics (FR and NR: TOPIQ, MANIQA, PIQE, NRQM, PI, LPIPS,
DISTS ...) as a bench metric, its direction, kind and range read from pyiqa's own table
(``pyiqa.default_model_configs.DEFAULT_CONFIGS``).

The registry resolves ``pyiqa:NAME`` to this module's attribute ``NAME`` (a module
``__getattr__`` builds the class on first use), so worker processes resolve it the same way.
pyiqa is PolyForm Noncommercial 1.0.0: an optional extra (``pip install 'bench-enhance[iqa]'``),
said in the metric's origin (the manifest, ``bench list``) and its card.

Weights follow bench's rule: a run never downloads. The model is built while torch.hub's and
pyiqa's downloaders refuse (:func:`benchmark.files.weights.no_downloads`) and no socket may connect,
so a missing file is one error naming ``bench metrics fetch pyiqa:NAME``, the URL and the path.
That fetch builds the model once with pyiqa's downloads routed through bench's downloader
(resumable; the SHA-256 checked against the prefix pyiqa or the file name gives).
"""

from __future__ import annotations

import contextlib
import functools
import socket
from importlib import metadata
from typing import Any, Callable, ClassVar, Iterator

from benchmark.files.weights import WeightsMissing, no_downloads

from ..api import Metric, crop
from ..errors import BenchError
from .fidelity import _check

PREFIX = "pyiqa:"
LICENSE = "PolyForm-Noncommercial-1.0.0 (pyiqa); its weights carry their own licenses"
ORIGIN = "pyiqa (PolyForm Noncommercial 1.0.0): pip install 'bench-enhance[iqa]'"
_FIDELITY = {"psnr", "psnry", "ssim", "ssimc", "ms_ssim", "cw_ssim", "fsim", "vif", "gmsd", "nlpd", "vsi", "mad"}


def pyiqa_version() -> str | None:
    try:
        return metadata.version("pyiqa")
    except metadata.PackageNotFoundError:
        return None


def _require_pyiqa(what: str) -> None:
    if pyiqa_version() is None:
        raise BenchError(
            f"{what} uses pyiqa, which is not installed: pip install 'bench-enhance[iqa]' (pyiqa is PolyForm Noncommercial 1.0.0)"
        )


@functools.lru_cache(maxsize=1)
def configs() -> dict[str, dict[str, Any]]:
    """pyiqa's table of metrics (name -> metric_mode, lower_better, score_range, metric_opts)."""
    _require_pyiqa("a pyiqa:NAME metric")
    from pyiqa.default_model_configs import DEFAULT_CONFIGS

    return DEFAULT_CONFIGS


@contextlib.contextmanager
def no_network(what: str, fetch: str) -> Iterator[None]:
    """No socket of this process connects to a network address within the block (what a
    library downloads by its own means, e.g. timm through the Hugging Face Hub)."""
    real = socket.socket.connect

    def refuse(sock, address, *a, **k):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            raise WeightsMissing(
                f"{what} tried to reach {address[0]}:{address[1]} to download a file that is not on disk; "
                f"runs never download: run `bench metrics fetch {fetch}` first"
            )
        return real(sock, address, *a, **k)

    socket.socket.connect = refuse
    try:
        yield
    finally:
        socket.socket.connect = real


@contextlib.contextmanager
def bench_downloads(timeout: float, progress: Callable[[str], Any] | None, log: list) -> Iterator[None]:
    """Within the block, torch.hub's and pyiqa's ``download_url_to_file`` go through bench's
    downloader (:func:`benchmark.files.metricweights.fetch_url`); each file is added to ``log``."""
    from benchmark.files.metricweights import fetch_url
    from benchmark.files.weights import downloads_through

    def fetch(url, dst, hash_prefix=None, progress_=True, **_):
        log.append(
            fetch_url(
                url,
                dst,
                hash_prefix,
                timeout=timeout,
                on_progress=progress(str(dst).rsplit("/", 1)[-1]) if progress else None,
            )
        )

    with downloads_through(fetch):
        yield


class PyIQAAny(Metric):
    """One pyiqa metric, by its pyiqa name (``pyiqa_name``); the fields come from its config."""

    pyiqa_name: ClassVar[str] = ""
    license: ClassVar[str] = LICENSE
    value_range: ClassVar[str] = ""
    requires = ("pyiqa",)
    requires_extra = "iqa"
    _models: ClassVar[dict[str, Any]] = {}
    _broken: ClassVar[dict[str, str]] = {}

    @classmethod
    def build(cls):
        """The pyiqa model (CPU, eval), built once per process without any download."""
        if cls.pyiqa_name not in cls._models:
            _require_pyiqa(f"metric '{cls.name}'")
            import pyiqa
            import torch

            what = f"metric '{cls.name}'"
            with no_downloads(what + f" (run `bench metrics fetch {cls.name}`)"), no_network(what, cls.name):
                cls._models[cls.pyiqa_name] = pyiqa.create_metric(
                    cls.pyiqa_name, device=torch.device("cpu"), as_loss=False
                ).eval()
        return cls._models[cls.pyiqa_name]

    @classmethod
    def availability(cls) -> str:
        why = super().availability()
        if why:
            return why
        try:
            cls.build()
        except WeightsMissing as exc:
            return str(exc)
        return ""

    @classmethod
    def fetch(cls, timeout: float = 30.0, progress: Callable[[str], Any] | None = None) -> list[dict[str, Any]]:
        """Build the model with pyiqa's and torch.hub's downloads through bench's downloader."""
        _require_pyiqa(f"metric '{cls.name}'")
        import pyiqa  # noqa: F401  (its download module must be imported to be routed)
        import pyiqa.utils.download_util  # noqa: F401
        import torch

        log: list = []
        with bench_downloads(timeout, progress, log):
            cls._models[cls.pyiqa_name] = pyiqa.create_metric(
                cls.pyiqa_name, device=torch.device("cpu"), as_loss=False
            ).eval()
        return log

    def score(self, output, reference=None, crop_border=0):
        import torch

        from .perceptual import _tensor

        model = self.build()
        out = _tensor(crop(output, crop_border))
        with torch.no_grad():
            if self.kind == "fr":
                ref = _tensor(crop(_check(output, reference), crop_border))
                return float(model(out, ref).reshape(()))
            return float(model(out).reshape(()))


def metric_class(pname: str) -> type[PyIQAAny]:
    table = configs()
    if pname not in table:
        import difflib

        close = difflib.get_close_matches(pname, list(table), n=3)
        raise BenchError(
            f"pyiqa has no metric {pname!r}"
            + (f" (did you mean {', '.join(close)}?)" if close else "")
            + '; `python -c "import pyiqa; print(pyiqa.list_models())"` lists them'
        )
    cfg = table[pname]
    fr = str(cfg.get("metric_mode", "NR")).upper() == "FR"
    lower = bool(cfg.get("lower_better", False))
    rng = str(cfg.get("score_range", "")).strip()
    opts = {k: v for k, v in (cfg.get("metric_opts") or {}).items()}
    family = "fidelity" if pname in _FIDELITY else "perceptual" if fr else "no-reference"
    conventions = {
        "implementation": f"pyiqa {pyiqa_version()} create_metric('{pname}'), as_loss=False, CPU",
        "pyiqa_options": opts,
        "input": "RGB in [0, 1], NCHW float32, gray repeated to 3 channels",
        "range": f"{rng} (pyiqa's table)",
        "crop_border": "run setting",
        "weights": "pyiqa's and torchvision's files in $TORCH_HOME/hub (never downloaded by a run)",
    }
    return type(
        f"PyIQA_{pname}",
        (PyIQAAny,),
        {
            "name": PREFIX + pname,
            "pyiqa_name": pname,
            "version": f"1+pyiqa{pyiqa_version()}",
            "kind": "fr" if fr else "nr",
            "higher_is_better": not lower,
            "unit": "",
            "family": family,
            "value_range": f"{rng} (pyiqa's table)",
            "conventions": conventions,
            "__module__": __name__,
            "description": f"pyiqa's '{pname}' ({'full-reference' if fr else 'no-reference'}, {'lower' if lower else 'higher'} is better).",
        },
    )


_classes: dict[str, type[PyIQAAny]] = {}


def __getattr__(name: str):
    """``pyiqa_any.<pyiqa name>``: what the registry loads for ``pyiqa:<pyiqa name>``."""
    if name.startswith("__"):
        raise AttributeError(name)
    if name not in _classes:
        _classes[name] = metric_class(name)
    return _classes[name]
