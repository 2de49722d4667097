"""``bench run``: the thin orchestration. Names are resolved (:mod:`.resolve`), the run
folder opened (:mod:`.rundir`), the plan of content-addressed units made (:mod:`.plan`),
the units not yet done handed to an executor (:mod:`.executors`) that runs each through
the stages (:mod:`.work`, :mod:`.stages`), every result appended to the row log
(:mod:`.writer`), the corpus metrics computed per data set, and the tables written.

One failing item, method or metric becomes rows with ``status="error"`` and the run goes on.
Everything is cached by content, so a rerun recomputes nothing and a killed run resumes
where it stopped.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from benchmark.api import CorpusMetric
from benchmark.core.names import Specs
from benchmark.core.progress import Progress
from benchmark.datasets.base import data_root as resolve_data_root
from benchmark.metrics.cost import COST_METRICS
from benchmark.run.config import (
    DEFAULT_DATASETS,
    DEFAULT_MAX_FRAMES,
    DEFAULT_MAX_PIXELS,
    DEFAULT_METRICS,
    DEFAULT_PLAN,
    ENV_MAX_PIXELS,
    RunConfig,
    RunResult,
    max_pixels,
    resolve_device,
    split_list,
)
from benchmark.run.executors import make_executor
from benchmark.run.interrupts import RunInterrupted, interrupt_on_signals
from benchmark.run.keys import corpus_unit_key, cost_key, cost_unit_key, crop_border
from benchmark.run.measure import cost_enabled
from benchmark.run.plan import Plan, dry_run, make_plan
from benchmark.run.resolve import Resolved, make_method, parse_settings, resolve_run
from benchmark.run.rundir import RunFolder, resumable, run_config, write_or_fail
from benchmark.run.stages.corpus import collect, corpus_cached, corpus_rows
from benchmark.run.stages.cost import cost_rows
from benchmark.run.stages.rows import base_row, error_rows
from benchmark.run.unit import UnitResult
from benchmark.run.work import UnitWorker, open_cache, worker_config
from benchmark.run.workers import for_run
from benchmark.run.writer import ROWS_FILE, RowLog, read_records, write_plan

__all__ = [
    "Runner",
    "RunConfig",
    "RunResult",
    "RunInterrupted",
    "run",
    "make_method",
    "parse_settings",
    "split_list",
    "resolve_device",
    "DEFAULT_DATASETS",
    "DEFAULT_MAX_FRAMES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_METRICS",
    "DEFAULT_PLAN",
    "ENV_MAX_PIXELS",
]


class Runner:
    """One ``bench run``: ``run()`` it, or ``dry_run()`` to see its plan. ``root``, ``specs``
    and ``cache`` are the data root, spec files and cache it works with."""

    def __init__(self, cfg: RunConfig, console=None):
        self.cfg = cfg
        self.console = console
        self.root = resolve_data_root(cfg.data_root)
        self.specs = Specs.load(cfg.specs)
        self.cache, self._tmp_cache = open_cache(cfg)

    def resolve(self) -> Resolved:
        return resolve_run(self.cfg, self.root, self.specs)

    def run(self, progress: bool | None = None) -> RunResult:
        cfg = self.cfg
        resolved = self.resolve()
        device = resolve_device(cfg.device)
        config, config_digest = run_config(cfg, resolved)
        folder = RunFolder.open(cfg, config_digest)  # first: an unwritable --out fails at once
        try:
            return self._run(resolved, device, folder, config, config_digest, progress)
        finally:
            folder.unlock()
            self.close()

    def _run(
        self, resolved: Resolved, device: str, folder: RunFolder, config, config_digest: str, progress: bool | None
    ) -> RunResult:
        cfg, out = self.cfg, folder.out
        manifest = folder.start(
            cfg,
            config,
            config_digest,
            resolved,
            {
                "data_root": str(self.root) if self.root else None,
                "cache_dir": str(self.cache.root),
                "spec_files": self.specs.files,
                "device": device,
            },
        )
        log = RowLog(out, resume=folder.resume)
        manifest["timings"] = timings = {}
        show = sys.stdout.isatty() if progress is None else progress
        executor = None
        try:
            with interrupt_on_signals(), Progress(show) as bar:
                t_plan = time.perf_counter()
                plan = make_plan(
                    resolved, cfg, max_pixels(cfg.max_pixels)
                )  # lists items up front: a missing set fails before any work
                todo = [u for u in plan.units if self._todo(log, u, plan, resolved)]
                manifest["units"] = len(plan.units)
                write_or_fail(out, lambda: write_plan(out, plan.units, {u.key for u in todo}))
                worker = UnitWorker(cfg, resolved, self.cache, device, plan.items)
                name, workers = cfg.executor, cfg.workers
                if name == "auto":  # the planner picks the local workers (run/workers.py) and says so in one line
                    chosen = for_run(cfg, todo, resolved, self.cache, device)
                    name, workers = chosen.executor, chosen.workers
                    manifest["workers_chosen"] = chosen.line
                    if self.console is not None and not chosen.forced:
                        self.console.print(chosen.line, soft_wrap=True, highlight=False, markup=False)
                manifest["engines"] = {m.name: m.engine.tag for m in resolved.methods if m.engine is not None}
                executor = make_executor(
                    name,
                    worker,
                    worker_config(cfg, self.cache.root, self.root),
                    resolved.plugin_names(),
                    workers,
                    cfg.ray_address,
                    cfg.retries,
                    bar,
                )
                manifest["executor"] = executor.describe()
                bar.start_dataset(f"units ({executor.name})", len(todo))
                timings["plan_s"] = time.perf_counter() - t_plan
                self._execute(executor, todo, plan, resolved, folder.run_id, log, bar, timings)
                manifest["retried"] = dict(executor.retried)  # units whose worker died under them, and how often
                units = [u.key for u in plan.units] + self._corpus_units(plan, resolved, folder.run_id, log)
                units += self._cost_units(plan, resolved, folder.run_id, log)
        except BaseException as exc:
            if executor is not None:
                executor.close()
            log.close()
            if not isinstance(exc, KeyboardInterrupt) and not log.done and folder.made:
                folder.discard()  # it failed before its first unit: nothing to resume, no folder left behind
                raise
            folder.stopped(exc, len(log.done))
            if isinstance(exc, KeyboardInterrupt):
                raise RunInterrupted(folder.manifest["stopped_by"], out, len(log.done)) from None
            raise
        log.close()
        df, failures = folder.finish(log, units, self.cache.root)
        return RunResult(out, folder.run_id, df, failures, manifest)

    def _execute(
        self, executor, todo, plan: Plan, resolved: Resolved, run_id: str, log: RowLog, bar, timings: dict[str, float]
    ) -> None:
        """Run the units to do and append each result to the log as it comes."""
        t_exec = time.perf_counter()
        measured = []
        for unit, result in executor.run(todo, run_id):
            rows, failures, art, corpus = self._result_rows(unit, result, plan, resolved, run_id)
            if (
                result.error is None and not failures and result.computed
            ):  # a unit read from the cache says nothing of its cost
                measured.append(
                    (
                        cost_key(resolved.method(unit.dataset, unit.method), resolved.metrics),
                        unit.method,
                        unit.pixels,
                        result.seconds,
                    )
                )
            log.append(
                unit.key,
                rows,
                failures,
                dataset=unit.dataset,
                item_id=unit.item_id,
                method=unit.method,
                artifact=art,
                corpus=corpus,
                seconds=result.seconds,
                cost=result.cost,
            )
            bar.item_done()
        executor.close()
        timings["execute_s"] = time.perf_counter() - t_exec
        timings["unit_s"] = sum(m[3] for m in measured)
        self.cache.record_costs(measured)

    def _todo(self, log: RowLog, unit, plan: Plan, resolved: Resolved) -> bool:
        """Whether ``unit`` is still to do (not finished in the log, or its corpus predictions gone)."""
        rec = log.finished(unit.key)
        if (
            rec is not None
            and rec.get("corpus")
            and not corpus_cached(self.cache, rec["corpus"], resolved.metrics, plan.item(unit))
        ):
            return True
        return rec is None

    def _result_rows(self, unit, result: UnitResult, plan: Plan, resolved: Resolved, run_id: str):
        """(rows, failures, artifact, corpus) of a finished unit, or error rows naming the
        unit when it could not be run (``result.error`` is then the reason)."""
        if result.error is not None:
            spec, item = resolved.spec(unit.dataset), plan.item(unit)
            base = base_row(run_id, spec, item, crop_border(self.cfg.crop_border, spec))
            rows, failures = error_rows(
                base,
                spec,
                item,
                resolved.method(unit.dataset, unit.method),
                resolved.metrics,
                f"unit {unit.key[:12]}",
                result.error,
            )
            return rows, failures, None, {}
        for pkey, value in result.predictions.items():
            if self.cache.get_json(pkey) is None:
                self.cache.put_json(pkey, value)
        return result.rows, result.failures, result.artifact, result.corpus

    def _corpus_units(self, plan: Plan, resolved: Resolved, run_id: str, log: RowLog) -> list[str]:
        """Each data set's corpus rows (mAP, CIDEr ...) as one unit after its items, from the
        items' predictions in plan order (whatever order the items finished in)."""
        if not any(isinstance(m, CorpusMetric) for m in resolved.metrics):
            return []
        keys = []
        for spec in resolved.specs:
            units = [u for u in plan.units if u.dataset == spec.name]
            methods = resolved.methods_for[spec.name]
            key = corpus_unit_key(spec, methods, resolved.metrics, [u.key for u in units])
            if log.finished(key) is None:
                slots = collect([(plan.item(u), u.method, (log.done.get(u.key) or {}).get("corpus")) for u in units])
                failures: list[str] = []
                rows = corpus_rows(self.cache, spec, methods, resolved.metrics, run_id, slots, failures)
                log.append(key, rows, failures, dataset=spec.name, item_id="*", method="*")
            keys.append(key)
        return keys

    def _cost_units(self, plan: Plan, resolved: Resolved, run_id: str, log: RowLog) -> list[str]:
        """Each data set's cost rows (params, MACs, peak memory, latency per method) as one unit
        after its items, from the items' cost records (:mod:`.stages.cost`); none with cost off."""
        if not cost_enabled(self.cfg.cost):
            return []
        keys = []
        for spec in resolved.specs:
            units = [u for u in plan.units if u.dataset == spec.name]
            records = [(u.method, (log.done.get(u.key) or {}).get("cost")) for u in units]
            methods = resolved.methods_for[
                spec.name
            ]  # the key says which units had a record: one that has one now renews the rows
            key = cost_unit_key(spec, methods, COST_METRICS, [(u.key, bool(r)) for u, (_, r) in zip(units, records)])
            if log.finished(key) is None:
                log.append(
                    key, cost_rows(spec, methods, run_id, records), [], dataset=spec.name, item_id="*", method="*"
                )
            keys.append(key)
        return keys

    def dry_run(self) -> dict[str, Any]:
        """The plan without running it: each unit as ``done`` (in the run directory that
        the same command would resume), ``cached`` (its output and scores are in the cache:
        a rerun only reads them) or ``todo``, with an estimate of the time the todo units
        take from the unit times measured in earlier runs (``costs.json`` in the cache)."""
        resolved = self.resolve()
        _, config_digest = run_config(self.cfg, resolved)
        plan = make_plan(resolved, self.cfg, max_pixels(self.cfg.max_pixels))
        run_dir = resumable(self.cfg, config_digest)[0]
        done = (
            {r["unit"] for r in read_records(run_dir / ROWS_FILE)[0] if not r.get("failures")}
            if run_dir is not None
            else set()
        )
        result = dry_run(plan, resolved, self.cfg, self.cache, done)
        self.close()
        return {**result, "run_dir": str(run_dir) if run_dir else None, "config_digest": config_digest}

    def close(self) -> None:
        if self._tmp_cache is not None:
            self._tmp_cache.cleanup()
            self._tmp_cache = None


def run(cfg: RunConfig, progress: bool | None = None) -> RunResult:
    return Runner(cfg).run(progress=progress)
