"""Executing one unit: the small interface every executor runs, in the driver or in a worker.

A :class:`UnitWorker` holds what a unit needs (the cache, the resolved data sets, methods and
metrics, the device) and runs the stages for one unit: reference -> degrade -> restore ->
score -> rows. :func:`run_unit_remote` is the picklable entry point of a worker process or
Ray task: it builds the worker from the run's configuration once per process. Nothing here
knows of plans, run folders or executors."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from benchmark.api import Context, CorpusMetric, Item, Method, Metric
from benchmark.core import engine, environment
from benchmark.core.debug import debug
from benchmark.core.names import DatasetSpec, Specs
from benchmark.core.paths import expand as expand_path
from benchmark.core.progress import NO_BAR
from benchmark.datasets.base import data_root as resolve_data_root
from benchmark.errors import BenchError, warn
from benchmark.run.cache import Cache, CacheDamaged, default_cache_dir
from benchmark.run.config import RunConfig, max_pixels, resolve_device
from benchmark.run.keys import crop_border
from benchmark.run.measure import cost_enabled
from benchmark.run.plan import limit_pixels
from benchmark.run.resolve import Resolved, resolve_run
from benchmark.run.stages import degrade, degraded_frames, reference, restore, score
from benchmark.run.stages.corpus import predict_unit, unit_predictions
from benchmark.run.stages.cost import CostProbe, unit_record
from benchmark.run.stages.restore import input_note
from benchmark.run.stages.rows import base_row, error_rows, score_rows
from benchmark.run.unit import Unit, UnitResult

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def open_cache(cfg: RunConfig) -> tuple[Cache, tempfile.TemporaryDirectory | None]:
    """The run's cache: ``--cache-dir``, $BENCH_CACHE_DIR or the default, or a throw-away one
    (``--no-cache``, returned too so that the caller removes it)."""
    from benchmark.run.results import check_writable

    if cfg.no_cache:
        tmp = tempfile.TemporaryDirectory(prefix="bench-nocache-")
        return Cache(Path(tmp.name)), tmp
    root = expand_path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir()
    check_writable(root, "the cache folder (--cache-dir / $BENCH_CACHE_DIR)")
    return Cache(root), None


class UnitWorker:
    """Runs units of one run configuration; readies each method and metric once."""

    def __init__(
        self,
        cfg: RunConfig,
        resolved: Resolved,
        cache: Cache,
        device: str,
        items: dict[tuple[str, str], Item] | None = None,
    ):
        self.cfg, self.resolved, self.cache, self.device = cfg, resolved, cache, device
        self.items = items if items is not None else {}
        self.max_pixels = max_pixels(cfg.max_pixels)
        self.cost = cost_enabled(cfg.cost)
        self._setup_done: set[str] = set()
        self._prepared: tuple[Any, dict[str, Any]] = (None, {})
        self._computed = False

    @classmethod
    def from_config(cls, cfg: RunConfig) -> "UnitWorker":
        """A worker process's own: the data sets, methods and metrics resolved from ``cfg``."""
        cache, _ = open_cache(cfg)
        resolved = resolve_run(cfg, resolve_data_root(cfg.data_root), Specs.load(cfg.specs))
        return cls(cfg, resolved, cache, resolve_device(cfg.device))

    # ------------------------------------------------------------------ readiness
    def setup(self, part: Method | Metric) -> None:
        """``part.setup(device)`` once per process; marks the unit as computing."""
        self._computed = True
        tag = f"metric:{part.name}" if isinstance(part, CorpusMetric) else part.name
        if tag not in self._setup_done:
            part.setup(self.device)
            if isinstance(part, Method) and part.engine is not None:  # its networks on the run's engine
                engine.attach(part, part.engine.with_cache(self.cache.root / "engine"))
            self._setup_done.add(tag)

    def item_of(self, unit: Unit) -> Item:
        key = (unit.dataset, unit.item_id)
        if key not in self.items:  # a worker: list the data set once
            spec = self.resolved.spec(unit.dataset)
            for item in spec.dataset.items():
                self.items[(spec.name, item.item_id)] = limit_pixels(item, self.max_pixels)
            if key not in self.items:
                raise BenchError(
                    f"{unit.dataset}: no item {unit.item_id!r} here (the worker sees other data than the driver: "
                    "put the data sets on storage every node reads at the same path)"
                )
        return self.items[key]

    # ------------------------------------------------------------------ units
    def prefetch(self, unit: Unit) -> None:
        """Put ``unit``'s reference and degraded input into the cache (a background
        thread's work; errors are left for the unit itself to meet and report)."""
        try:
            spec = self.resolved.spec(unit.dataset)
            item = self.item_of(unit)
            ref_key, ref_frames = reference(self.cache, spec, item, unit.fingerprint)
            degrade(self.cache, spec, item, ref_key, ref_frames, seed=self.cfg.seed)
        except Exception:
            pass

    def execute(self, unit: Unit, run_id: str, bar=None) -> UnitResult:
        """Compute one unit: its rows, failures, artifact, corpus entries, cost record, time."""
        t0 = time.perf_counter()
        spec = self.resolved.spec(unit.dataset)
        item = self.item_of(unit)
        method = self.resolved.method(unit.dataset, unit.method)
        if self._prepared[0] != (unit.dataset, unit.item_id):
            self._prepared = ((unit.dataset, unit.item_id), {})
        prepared = self._prepared[1]
        self._computed = False
        for attempt in (1, 2):
            try:
                rows, failures, art, corpus, cost = self._unit(
                    spec, item, method, run_id, prepared, unit.fingerprint, bar or NO_BAR
                )
                break
            except CacheDamaged as exc:  # the entry is gone now: compute it again, once
                warn(f"{exc}; recomputing it")
                prepared.clear()
                if attempt == 2:
                    raise
        return UnitResult(
            rows=rows,
            failures=failures,
            artifact=art,
            corpus=corpus,
            cost=cost,
            seconds=time.perf_counter() - t0,
            computed=self._computed,
        )

    def unit_predictions(self, result: UnitResult) -> dict[str, Any]:
        return unit_predictions(self.cache, self.resolved.metrics, result.corpus)

    def _prepare(self, spec: DatasetSpec, item: Item, fingerprint: str, bar) -> dict[str, Any]:
        """Reference and degraded input of an item (cached), or the exception that stopped them."""
        try:
            ref_key, ref_frames = reference(self.cache, spec, item, fingerprint)
            deg_key, info = degrade(
                self.cache, spec, item, ref_key, ref_frames, bar.stage(f"degrade {item.item_id}", None), self.cfg.seed
            )
        except CacheDamaged:
            raise
        except (Exception, SystemExit) as exc:
            debug(exc)
            return {"error": _as_error(exc)}
        art = {
            "dataset": spec.name,
            "item_id": item.item_id,
            "kind": item.kind,
            "reference": ref_key,
            "source": item.source,
            "degraded": deg_key,
            "scale": spec.scale,
        }
        return {"ref_key": ref_key, "ref_frames": ref_frames, "deg_key": deg_key, "info": info, "art": art}

    def _unit(
        self,
        spec: DatasetSpec,
        item: Item,
        method: Method,
        run_id: str,
        prepared: dict[str, Any],
        fingerprint: str,
        bar,
    ):
        """(rows, failures, artifact, corpus entries, cost record or None) of one (item, method)
        unit; a failure becomes error rows naming its stage."""
        metrics, crop = self.resolved.metrics, crop_border(self.cfg.crop_border, spec)
        if not prepared:
            prepared.update(self._prepare(spec, item, fingerprint, bar))
        if "error" in prepared:
            base = base_row(run_id, spec, item, crop)
            rows, failures = error_rows(base, spec, item, method, metrics, "reference/degradation", prepared["error"])
            return rows, failures, None, {}, None
        ref_key, ref_frames, deg_key = prepared["ref_key"], prepared["ref_frames"], prepared["deg_key"]
        base = base_row(run_id, spec, item, crop, prepared["info"])
        art = dict(prepared["art"])
        stage = "method"
        try:
            ctx = self._context(spec, item)
            deg = degraded_frames(self.cache, deg_key, ref_key, ref_frames)
            probe = CostProbe(self.cache, method, spec, ctx, self.device) if self.cost else None
            out_key, meta, _ = restore(
                self.cache,
                method,
                spec,
                ctx,
                deg_key,
                deg,
                self.cfg.batch_size,
                bar.stage(f"{method.name} {item.item_id}", None),
                self.setup,
                probe,
            )
            if probe is not None:  # when the output came from the cache and the probe did not: one call apart
                probe.ensure(lambda: degraded_frames(self.cache, deg_key, ref_key, ref_frames), self.setup)
            art["output"] = out_key
            stage = "scoring"
            scores, computed = score(
                self.cache,
                metrics,
                out_key,
                ref_key,
                ref_frames,
                crop,
                bar.stage(f"score {item.item_id}", meta["frames"]),
            )
            self._computed |= computed
        except CacheDamaged:
            raise
        except (Exception, SystemExit) as exc:  # a plug-in's sys.exit() ends its unit, not the run
            debug(exc)
            rows, failures = error_rows(base, spec, item, method, metrics, stage, _as_error(exc))
            return rows, failures, art, {}, None
        # float input rounded to uint8 for an 8-bit-only method: the rows' method_version says so
        rows, failures = score_rows(
            base,
            spec,
            item,
            method,
            metrics,
            scores,
            meta["frames"],
            meta.get("seconds", float("nan")),
            input_note(meta),
        )
        corpus = self._predictions(spec, item, method, out_key, ref_key, ref_frames, failures)
        return rows, failures, art, corpus, unit_record(probe, method, spec, meta) if probe is not None else None

    def _context(self, spec: DatasetSpec, item: Item) -> Context:
        """What the method may know of the item it restores."""
        return Context(
            scale=spec.scale,
            degradation=spec.degradation,
            item_id=item.item_id,
            kind=item.kind,
            fps=item.fps,
            device=self.device,
            seed=self.cfg.seed,
        )

    def _predictions(
        self, spec: DatasetSpec, item: Item, method: Method, out_key: str, ref_key: str, ref_frames, failures: list[str]
    ) -> dict[str, dict[str, str]]:
        """The unit's corpus predictions (cached) per corpus metric; a failed one is a failure line."""
        corpus: dict[str, dict[str, str]] = {}
        for met in (m for m in self.resolved.metrics if isinstance(m, CorpusMetric)):
            corpus[met.name], computed = predict_unit(
                self.cache, met, item, out_key, ref_key, ref_frames, self.cfg.batch_size, self.setup
            )
            self._computed |= computed
            if "error" in corpus[met.name]:
                failures.append(f"{spec.name} / {method.name} / {met.name}: {corpus[met.name]['error']}")
        return corpus


def _as_error(exc: BaseException) -> Exception:
    """The exception to report: a plug-in's ``sys.exit()`` as a RuntimeError that says so."""
    if isinstance(exc, SystemExit):
        return RuntimeError(f"the plug-in called sys.exit({exc.code!r})")
    return exc  # type: ignore[return-value]


# ----------------------------------------------------------------------------- worker processes
def worker_config(cfg: RunConfig, cache_root: Path, data_root: Path | None) -> RunConfig:
    """The configuration a worker builds its :class:`UnitWorker` from: the run's, with the
    data root, cache folder and whether to measure costs made explicit (a worker has neither
    the driver's environment nor its throw-away cache)."""
    return replace(
        cfg,
        cache_dir=str(cache_root),
        no_cache=False,
        data_root=str(data_root) if data_root else cfg.data_root,
        out=None,
        executor="serial",
        workers=None,
        cost=cost_enabled(cfg.cost),
    )


_WORKER: dict[str, Any] = {}


def set_threads(threads: int) -> None:
    """torch/BLAS/OpenCV threads of this worker process."""
    environment.set_worker_threads(threads, THREAD_VARS)
    try:
        import cv2

        cv2.setNumThreads(threads)  # OpenCV's own pool (filters, codecs) ignores the variables above
    except ImportError:  # pragma: no cover - opencv is a dependency
        pass
    if "torch" in sys.modules:  # else torch reads OMP_NUM_THREADS when a method imports it
        sys.modules["torch"].set_num_threads(threads)


def _worker(cfg: RunConfig, plugins: list[tuple[str, str, str]], threads: int | None) -> UnitWorker:
    """The worker process's UnitWorker for this run configuration (built once per process)."""
    from benchmark.api import digest
    from benchmark.core.plugins import register_plugins

    tag = digest(asdict(cfg), plugins)
    if _WORKER.get("tag") != tag:
        if threads:
            set_threads(threads)
        register_plugins(plugins)
        worker = UnitWorker.from_config(cfg)
        _WORKER.clear()
        _WORKER.update(tag=tag, worker=worker)
    return _WORKER["worker"]


def run_unit_remote(
    cfg: RunConfig, plugins, threads: int | None, unit: Unit, run_id: str, cwd: str | None = None
) -> UnitResult:
    """Entry point of a unit in a worker (process or Ray task): its result, with the
    predictions the driver needs for corpus metrics. ``cwd``: the driver's working folder,
    entered where it exists, so that relative data-set paths mean the same (a Ray worker
    starts elsewhere)."""
    if cwd and os.getcwd() != cwd and os.path.isdir(cwd):
        os.chdir(cwd)
    worker = _worker(cfg, plugins, threads)
    result = worker.execute(unit, run_id, bar=None)
    return replace(result, predictions=worker.unit_predictions(result), pid=os.getpid())
