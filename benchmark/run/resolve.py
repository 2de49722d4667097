"""Names -> the run's parts: method specs (``name:key=value``, weights files, zoo and spec-file
models) become :class:`Method` objects; data set, method and metric names become a
:class:`Resolved` (what each data set is run with). Nothing is loaded or decoded here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark import registry
from benchmark.api import Method, Metric, check_scale
from benchmark.core import engine
from benchmark.core.imaging import check_regular
from benchmark.core.names import MAX_SPEC_DEPTH, DatasetSpec, Specs, check_depth, expand, resolve
from benchmark.core.paths import expand as expand_path
from benchmark.errors import BenchError
from benchmark.run.config import (
    DEFAULT_DATASETS,
    DEFAULT_MAX_FRAMES,
    DEFAULT_METRICS,
    DEFAULT_PLAN,
    RunConfig,
    check_device,
    resolve_device,
    split_list,
)


def parse_settings(items: list[str], usage: str) -> dict[str, Any]:
    """``["lam=100", "name=x"]`` -> ``{"lam": 100, "name": "x"}`` (values parsed as JSON
    when they are, else kept as text); ``usage`` starts the error for a malformed item."""
    import json

    params: dict[str, Any] = {}
    for kv in items:
        k, sep, v = kv.partition("=")
        if not sep or not k:
            raise BenchError(f"{usage}, got {kv!r}")
        try:
            value = json.loads(v)
        except ValueError:
            value = v
        except RecursionError:  # the JSON decoder's own limit
            raise BenchError(
                f"setting {k!r} is nested deeper than {MAX_SPEC_DEPTH} levels (arrays and objects within "
                "each other); nothing bench reads needs more"
            ) from None
        params[k] = check_depth(value, f"setting {k!r}")
    return params


def make_method(spec: str, specs: Specs | None = None) -> Method:
    """``name`` or ``name:key=value:key=value`` (e.g. ``pix2pix:lam=100``, ``gan:qf=20``,
    ``srgan:weights=my.safetensors``). A method with settings is labelled by the whole spec
    in the results, so two settings of one method are two rows.

    A path to a weights file (``~/models/RealESRGAN_x4plus.pth``, settings as for a name:
    ``model.pth:tile=256:name=esrgan``) or the name of a zoo model (``bench models``) is a
    method too (:class:`benchmark.methods.adapters.published.PublishedModel`), labelled by the file's
    stem, the zoo name or ``name=``. So is a ``[methods.NAME]`` entry of a spec file (``specs``)."""
    name, *settings = spec.split(":")
    params = parse_settings(settings, f"method '{spec}': expected name:key=value")
    if specs is not None and name in specs.methods:
        entry = specs.methods[name]
        defaults = {k: v for k, v in entry.items() if k not in ("path", "origin")}
        return _published(
            entry["path"], {"name": _label(name, settings), **defaults, **params, "origin": entry["origin"]}, spec
        )
    if name not in registry.methods:
        from benchmark.files import zoo
        from benchmark.methods.adapters.published import is_weights_ref

        if name in zoo.ZOO or is_weights_ref(name):
            return _published(name, params, spec, settings)
    cls = registry.methods.get(name)
    try:
        m = cls(**params)
    except (TypeError, ValueError) as exc:
        raise BenchError(f"method '{spec}': {exc}") from None
    m.registry_name = name
    if registry.methods.entry(name).origin != "built-in":
        m.code_hash = source_hash(cls)
    if settings:
        m.name = spec
    return m


def source_hash(cls: type) -> str | None:
    """The digest of the source file that defines a plug-in's class: in its identity, so that
    editing the plug-in's code never reuses outputs cached from the old code (built-ins are
    versioned by hand instead). None when the source cannot be read (e.g. a class made at run time)."""
    import hashlib
    import inspect

    try:
        return hashlib.sha256(Path(inspect.getsourcefile(cls) or "").read_bytes()).hexdigest()[:16]
    except (OSError, TypeError):
        return None


def _label(base: str, settings: list[str]) -> str:
    """A model's label in the results: ``base`` (a file's stem, a zoo or spec-file name) with
    the settings given after it, ``name=`` aside (``esrgan:tile=64``), so that two settings of
    one model are two rows, in a run and when runs are merged, never one averaged row."""
    return ":".join([base, *(kv for kv in settings if not kv.startswith("name="))])


def _published(name: str, params: dict[str, Any], spec: str, settings: tuple[str, ...] | list[str] = ()) -> Method:
    from benchmark.files import zoo
    from benchmark.methods.adapters.published import PublishedModel

    if name in zoo.ZOO:
        params = {"name": _label(name, list(settings)), **params, "origin": f"zoo model {name} ({zoo.ZOO[name].url})"}
        path = zoo.resolve(name)
    else:
        path = expand_path(name)
        try:
            check_regular(path)  # a FIFO would block the loader
        except ValueError as exc:
            raise BenchError(f"method '{spec}': {exc}") from None
        except OSError:
            pass  # missing: the loader says so
        if "name" not in params and any(not kv.startswith("name=") for kv in settings):
            params = {"name": _label(path.stem, list(settings)), **params}
    try:
        return PublishedModel(path, **params)
    except (TypeError, ValueError) as exc:
        raise BenchError(
            f"method '{spec}': {exc} (a weights file takes name=, tile=, overlap=, precision=, input=)"
        ) from None


@dataclass
class Resolved:
    """A run's parts, resolved from its names: data sets, methods, metrics, and the methods
    each data set is run with (all of them, or the default plan's choice per set)."""

    specs: list[DatasetSpec]
    methods: list[Method]
    metrics: list[Metric]
    methods_for: dict[str, list[Method]]

    def spec(self, dataset: str) -> DatasetSpec:
        return next(s for s in self.specs if s.name == dataset)

    def method(self, dataset: str, name: str) -> Method:
        return next(m for m in self.methods_for[dataset] if m.name == name)

    def plugin_names(self) -> set[str]:
        """Names of the plug-ins this run uses (methods, metrics, data sets, degradations)."""
        names = {m.registry_name or m.name for ms in self.methods_for.values() for m in ms}
        names |= {m.name for m in self.metrics}
        for spec in self.specs:
            names.add(spec.base)
            names |= {d.name for d in spec.chain}
        return names

    def plugins(self) -> dict[str, Any]:
        """Origin, target and version of every plug-in in the run (for the manifest)."""

        def info(reg, name):
            e = reg.entry(name)
            return {
                "origin": e.origin,
                "target": e.target if isinstance(e.target, str) else repr(e.target),
                "version": e.version,
            }

        bases = {s.base for s in self.specs if s.base in registry.datasets}
        degs = {d.name for s in self.specs for d in s.chain}
        return {
            "methods": {
                m.name: m.provenance() or info(registry.methods, m.registry_name or m.name) for m in self.methods
            },
            "metrics": {m.name: info(registry.metrics, m.name) for m in self.metrics},
            "datasets": {b: info(registry.datasets, b) for b in sorted(bases)},
            "degradations": {d: info(registry.degradations, d) for d in sorted(degs) if d in registry.degradations},
        }


def resolve_run(cfg: RunConfig, root: Path | None, specs: Specs) -> Resolved:
    """The data sets, methods and metrics ``cfg`` names (with neither methods nor data sets:
    :data:`DEFAULT_PLAN`). Every name is checked, and every metric's availability, before
    any work: one error, not one per item."""
    if not (cfg.executor == "ray" and cfg.ray_address):  # a Ray cluster's nodes, not this machine, have its devices
        check_device(cfg.device)
    plan = DEFAULT_PLAN if not cfg.datasets and not split_list(cfg.methods) else None
    names = list(plan) if plan else [n for d in (cfg.datasets or DEFAULT_DATASETS) for n in expand(d)]
    max_frames = cfg.max_frames if cfg.max_frames is not None else (DEFAULT_MAX_FRAMES if not cfg.datasets else None)
    params = {"max_frames": max_frames} if max_frames else {}
    sets = [resolve(n, root, specs, **params) for n in names]
    if len({s.name for s in sets}) != len(sets):
        raise BenchError("the same data set is named twice")
    method_names = (
        list(dict.fromkeys(n for ms in plan.values() for n in ms)) if plan else split_list(cfg.methods) or ["identity"]
    )
    methods = [make_method(n, specs) for n in method_names]
    _unique_labels(methods, method_names)
    choice = engine.choose(cfg.engine, cfg.precision, resolve_device(cfg.device))
    for m in methods:
        engine.settle(m, choice)  # a version naming the engine where its outputs may differ from eager's
    by_name = {m.name: m for m in methods}
    methods_for = {s.name: [by_name[n] for n in plan[s.name]] if plan else methods for s in sets}
    for spec in sets:
        for m in methods_for[spec.name]:
            check_scale(m, spec.name, spec.scale)
    metrics = make_metrics(
        split_list(cfg.metrics) or list(DEFAULT_METRICS), {"detector": cfg.detector, "captioner": cfg.captioner}
    )
    return Resolved(sets, methods, metrics, methods_for)


def _unique_labels(methods: list[Method], specs: list[str]) -> None:
    """Refuse two methods with one label: their rows would read as one method's, averaged."""
    seen: dict[str, str] = {}
    for m, spec in zip(methods, specs):
        if m.name in seen:
            same = (
                f"'{spec}' is given twice"
                if seen[m.name] == spec
                else f"'{seen[m.name]}' and '{spec}' are both labelled '{m.name}' in the results"
            )
            renamed = ":".join(p for p in spec.split(":") if not p.startswith("name=")) + f":name={m.name}-2"
            raise BenchError(
                f"the same method is named twice: {same}; drop one, or tell them apart with :name= (e.g. '{renamed}')"
            )
        seen[m.name] = spec


def make_metrics(names: list[str], options: dict[str, Any]) -> list[Metric]:
    """The metrics named, each given the options it declares (``detector``, ``captioner``);
    an unusable one (a missing optional dependency or model) is an error before any work."""
    metrics = []
    for n in names:
        cls = registry.metrics.get(n)
        metrics.append(cls(**{o: options.get(o) for o in cls.options}))
    if len({m.name for m in metrics}) != len(metrics):
        raise BenchError("the same metric is named twice")
    unusable = [f"metric '{m.name}': {why}" for m in metrics if (why := m.availability())]
    if unusable:
        raise BenchError("cannot score here. " + " | ".join(unusable))
    return metrics
