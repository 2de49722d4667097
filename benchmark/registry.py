"""Plug-in registries: one per kind (datasets, degradations, methods, metrics).

Built-ins are registered lazily as ``"module:attr"`` strings so that importing
:mod:`benchmark` stays light and one broken optional dependency only breaks the
plug-in that needs it. Third parties register through Python entry points in the
groups ``bench.methods``, ``bench.datasets``, ``bench.degradations`` and
``bench.metrics``; code can also use the :meth:`Registry.register` decorator.
A name defined twice is an error that names both origins. Every plug-in is checked against
its kind's contract (:func:`benchmark.api.contract_problem`) when it is registered by code, and
when a lazily registered one (built in, entry point) is first loaded: a wrong type is one line
naming the plug-in.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable

from benchmark.api import Dataset, Degradation, Method, Metric, contract_problem
from benchmark.errors import RegistryError

KINDS = ("methods", "datasets", "degradations", "metrics")


@dataclass
class Entry:
    name: str
    target: str | Any  # "module:attr" or the object itself
    origin: str  # "built-in", "entry point <dist> <version>", "registered in <module>"
    dist_version: str | None = None
    kind: str = ""  # "methods" ...: what its contract is checked against when it loads
    _loaded: Any = field(default=None, repr=False)
    _error: str | None = field(default=None, repr=False)

    def load(self) -> Any:
        if self._loaded is not None:
            return self._loaded
        if not isinstance(self.target, str):
            self._loaded = self.target
            return self._loaded
        module, _, attr = self.target.partition(":")
        try:
            obj = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except Exception as exc:  # a broken plug-in must not break the others
            self._error = f"{type(exc).__name__}: {exc}"
            raise RegistryError(f"{self.name!r} ({self.origin}, {self.target}) failed to load: {self._error}") from exc
        problem = contract_problem(BASES[self.kind], obj) if self.kind in BASES else None
        if problem:
            self._error = problem
            raise RegistryError(f"{self.kind[:-1]} {self.name!r} ({self.origin}, {_target_str(self.target)}) {problem}")
        self._loaded = obj
        return obj

    @property
    def version(self) -> str:
        try:
            obj = self.load()
        except RegistryError:
            return "?"
        return str(obj.version or self.dist_version or "?")


class Registry:
    def __init__(self, kind: str, builtins: dict[str, str], prefixes: dict[str, tuple[str, str]] | None = None):
        self.kind = kind
        self.group = f"bench.{kind}"
        self._builtins = dict(builtins)
        self._entries: dict[str, Entry] | None = None
        self._extra: dict[str, Entry] = {}
        # "prefix:NAME" -> module attribute NAME (e.g. pyiqa:topiq_fr), with the origin said for it
        self._prefixes = dict(prefixes or {})
        self._prefixed: dict[str, Entry] = {}

    # -- discovery -------------------------------------------------------------------
    def _discover(self) -> dict[str, Entry]:
        if self._entries is not None:
            return self._entries
        entries: dict[str, Entry] = {}

        def add(entry: Entry) -> None:
            if entry.name in entries:
                old = entries[entry.name]
                raise RegistryError(
                    f"{self.kind[:-1]} name {entry.name!r} is defined twice: by {old.origin} "
                    f"({_target_str(old.target)}) and by {entry.origin} ({_target_str(entry.target)}). "
                    "Rename one of them (uninstall or rename the plug-in)."
                )
            entries[entry.name] = entry

        for name, target in self._builtins.items():
            add(Entry(name, target, "built-in", kind=self.kind))
        for ep in metadata.entry_points(group=self.group):
            dist = getattr(ep, "dist", None)
            dname = dist.name if dist is not None else "?"
            dver = dist.version if dist is not None else None
            add(Entry(ep.name, ep.value, f"entry point of {dname} {dver or ''}".strip(), dver, kind=self.kind))
        for entry in self._extra.values():
            add(entry)
        self._entries = entries
        return entries

    def register(self, name: str | None = None) -> Callable[[Any], Any]:
        """Decorator: ``@registry.register("my-method")`` on a class."""

        def deco(obj: Any) -> Any:
            problem = contract_problem(BASES[self.kind], obj)
            key = name or (getattr(obj, "__name__", repr(obj)).lower() if problem else obj.name)
            if problem:
                raise RegistryError(
                    f"{self.kind[:-1]} {key!r} (registered in {obj.__module__}, {_target_str(obj)}) {problem}"
                )
            entry = Entry(key, obj, f"registered in {obj.__module__}", kind=self.kind)
            if self._entries is not None:
                if key in self._entries:
                    old = self._entries[key]
                    raise RegistryError(
                        f"{self.kind[:-1]} name {key!r} is defined twice: by {old.origin} "
                        f"({_target_str(old.target)}) and by {entry.origin} ({_target_str(obj)})."
                    )
                self._entries[key] = entry
            self._extra[key] = entry
            return obj

        return deco

    def add(self, name: str, target: str, origin: str) -> None:
        """Register ``"module:attr"`` under ``name`` (what a worker process does with the
        plug-ins its driver registered by code)."""
        entry = Entry(name, target, origin, kind=self.kind)
        if self._entries is not None:
            self._entries.setdefault(name, entry)
        self._extra.setdefault(name, entry)

    def registered(self) -> list[Entry]:
        """The entries registered by code in this process (not built-in, not entry points)."""
        return list(self._extra.values())

    def unregister(self, name: str) -> None:
        self._extra.pop(name, None)
        if self._entries is not None:
            self._entries.pop(name, None)

    # -- lookup ----------------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted(self._discover())

    def entry(self, name: str) -> Entry:
        entries = self._discover()
        prefix, sep, rest = name.partition(":")
        if name not in entries and sep and rest and prefix in self._prefixes:
            module, origin = self._prefixes[prefix]
            return self._prefixed.setdefault(name, Entry(name, f"{module}:{rest}", origin, kind=self.kind))
        if name not in entries:
            close = difflib.get_close_matches(name, list(entries), n=3)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise RegistryError(
                f"unknown {self.kind[:-1]} {name!r}.{hint} Known: {', '.join(sorted(entries))}. "
                f"(`bench list {self.kind}` shows them all.)"
            )
        return entries[name]

    def get(self, name: str) -> Any:
        return self.entry(name).load()

    def __contains__(self, name: str) -> bool:
        return name in self._discover() or name.partition(":")[0] in self._prefixes

    def entries(self) -> list[Entry]:
        return [self._discover()[n] for n in self.names()]


def _target_str(target: Any) -> str:
    if isinstance(target, str):
        return target
    return f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', repr(target))}"


_BUILTIN_METHODS = {
    "identity": "benchmark.methods.adapters.classic:Identity",
    "bicubic": "benchmark.methods.adapters.classic:Bicubic",
    "lanczos": "benchmark.methods.adapters.classic:Lanczos",
    "ssim": "benchmark.methods.adapters.galteri:SSIMMethod",
    "gan": "benchmark.methods.adapters.galteri:GANMethod",
    "pix2pix": "benchmark.methods.adapters.pix2pix:Pix2Pix",
    "srgan": "benchmark.methods.adapters.srgan:SRGAN",
    "srresnet": "benchmark.methods.adapters.srgan:SRResNetMethod",
    "fast-srgan": "benchmark.methods.adapters.srgan:FastSRGAN",
    "videoboost": "benchmark.methods.adapters.videoboost:VideoBoost",
    "h264": "benchmark.methods.adapters.h264:H264Method",
    "tsmooth": "benchmark.methods.adapters.temporal:TemporalSmooth",
}

_BUILTIN_DATASETS = {
    "live1": "benchmark.datasets.folders:LIVE1",
    "classic5": "benchmark.datasets.folders:Classic5",
    "set5": "benchmark.datasets.folders:Set5",
    "set14": "benchmark.datasets.folders:Set14",
    "set12": "benchmark.datasets.folders:Set12",
    "cbsd68": "benchmark.datasets.folders:CBSD68",
    "bsd200": "benchmark.datasets.folders:BSD200",
    "bsd200-pan": "benchmark.datasets.pan:BSD200Pan",
    "bsd200-grainpan": "benchmark.datasets.pan:BSD200GrainPan",
    "kodak": "benchmark.datasets.folders:Kodak",
    "bsd100": "benchmark.datasets.folders:BSD100",
    "urban100": "benchmark.datasets.folders:Urban100",
    "div2k": "benchmark.datasets.folders:DIV2KValid",
    "vid4": "benchmark.datasets.video:Vid4",
    "coco": "benchmark.datasets.coco:COCO",
    "voc": "benchmark.datasets.voc:VOC",
    "photos": "benchmark.datasets.embedded:Photos",
    "clips": "benchmark.datasets.embedded:Clips",
}

_BUILTIN_DEGRADATIONS = {
    "jpeg": "benchmark.degradations.jpeg:JPEG",
    "gray": "benchmark.degradations.jpeg:Gray",
    "grayfull": "benchmark.degradations.jpeg:GrayFull",
    "h264": "benchmark.degradations.codec:H264",
    "hevc": "benchmark.degradations.codec:HEVC",
    "downscale": "benchmark.degradations.resize:Downscale",
    "noise": "benchmark.degradations.noise:GaussianNoise",
    "poisson": "benchmark.degradations.noise:PoissonNoise",
    "blur": "benchmark.degradations.blur:GaussianBlur",
    "ablur": "benchmark.degradations.blur:AnisotropicBlur",
    "motion": "benchmark.degradations.blur:MotionBlur",
    "bd": "benchmark.degradations.protocols:BlurDownscale",
    "dn": "benchmark.degradations.protocols:DownscaleNoise",
    "realesrgan": "benchmark.degradations.realworld:RealESRGAN",
}

_BUILTIN_METRICS = {
    "psnr": "benchmark.metrics.fidelity:PSNR",
    "psnr-y": "benchmark.metrics.fidelity:PSNRY",
    "ssim": "benchmark.metrics.fidelity:SSIM",
    "ssim-y": "benchmark.metrics.fidelity:SSIMY",
    "psnr-b": "benchmark.metrics.fidelity:PSNRB",
    "fps": "benchmark.metrics.speed:FPS",
    "ms-ssim": "benchmark.metrics.learned:MSSSIM",
    "niqe": "benchmark.metrics.niqe:NIQE",
    "brisque": "benchmark.metrics.brisque:BRISQUE",
    "lpips": "benchmark.metrics.perceptual:LPIPS",
    "lpips-vgg": "benchmark.metrics.perceptual:LPIPSVGG",
    "dists": "benchmark.metrics.perceptual:DISTS",
    "musiq": "benchmark.metrics.learned:MUSIQ",
    "clipiqa": "benchmark.metrics.learned:CLIPIQA",
    "imagenet-agreement": "benchmark.metrics.semantic:ImageNetAgreement",
    "imagenet-kl": "benchmark.metrics.semantic:ImageNetKL",
    "tof": "benchmark.metrics.temporal:TOF",
    "flicker": "benchmark.metrics.temporal:Flicker",
    "vmaf": "benchmark.metrics.temporal:VMAF",
    "vmaf-neg": "benchmark.metrics.temporal:VMAFNEG",
    "tlp": "benchmark.metrics.perceptual:TLP",
    "fid": "benchmark.metrics.distribution:FID",
    "kid": "benchmark.metrics.distribution:KID",
    "map": "benchmark.metrics.detection:MAP",
    "map50": "benchmark.metrics.detection:MAP50",
    "voc-map50": "benchmark.metrics.detection:VOCMAP50",
    "det-fidelity": "benchmark.metrics.detection:DetectionFidelity",
    "bleu1": "benchmark.metrics.captioning:BLEU1",
    "bleu2": "benchmark.metrics.captioning:BLEU2",
    "bleu3": "benchmark.metrics.captioning:BLEU3",
    "bleu4": "benchmark.metrics.captioning:BLEU4",
    "meteor": "benchmark.metrics.captioning:METEOR",
    "rouge-l": "benchmark.metrics.captioning:ROUGEL",
    "cider": "benchmark.metrics.captioning:CIDEr",
    "spice": "benchmark.metrics.captioning:SPICE",
}

#: the base class each kind's plug-ins subclass (their contract)
BASES: dict[str, type] = {"methods": Method, "datasets": Dataset, "degradations": Degradation, "metrics": Metric}

methods = Registry("methods", _BUILTIN_METHODS)
datasets = Registry("datasets", _BUILTIN_DATASETS)
degradations = Registry("degradations", _BUILTIN_DEGRADATIONS)
metrics = Registry(
    "metrics", _BUILTIN_METRICS, {"pyiqa": ("benchmark.metrics.pyiqa_any", "pyiqa (PolyForm Noncommercial 1.0.0)")}
)

REGISTRIES = {"methods": methods, "datasets": datasets, "degradations": degradations, "metrics": metrics}
