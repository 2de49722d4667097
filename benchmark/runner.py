"""``bench run``: degrade (cached) -> restore (cached, batched, streamed) -> score (cached) -> rows.

Nothing is held per clip beyond one batch of frames. One failing item, method or metric
becomes rows with ``status="error"`` and the run goes on. Everything is cached by
content, so a rerun recomputes nothing and a killed run resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import signal
import sys
import threading
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from . import registry
from .api import ClipMetric, Context, CorpusMetric, CorpusRecord, Item, Method, Metric, check_scale, digest, restore_stream
from .cache import Cache, CacheDamaged, default_cache_dir
from .datasets.base import data_root as resolve_data_root
from .errors import BenchError, warn
from .names import DatasetSpec, Specs, expand, resolve
from .results import (bench_version, check_writable, git_revision, machine, now_utc, package_versions, process_info, read_manifest, run_state,
                      to_frame, write_artifacts, write_manifest, write_scores)
from .executors import Unit, make_executor
from .writer import ROWS_FILE, OutputUnwritable, RowLog, write_plan

DEFAULT_METRICS = ["psnr", "psnr-y", "ssim", "ssim-y", "psnr-b", "fps"]
DEFAULT_DATASETS = ["photos-qf20", "clips-crf35"]
DEFAULT_MAX_FRAMES = 30  # for the default run only, to keep it about a minute on a laptop CPU
ENV_MAX_PIXELS = "BENCH_MAX_PIXELS"
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
    executor: str = "serial"  # serial | processes | ray (see benchmark.executors)
    workers: int | None = None  # local worker processes (executor "processes"; >1 implies it)
    ray_address: str | None = None
    retries: int = 2  # a unit whose worker dies is run again this many times, then becomes error rows


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
    if sys.platform.startswith("linux") and "torch" not in sys.modules and not (Path("/dev/nvidiactl").exists() or Path("/dev/kfd").exists() or list(Path("/dev").glob("nvidia[0-9]*"))):
        return "cpu"
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover
        return "cpu"


class _Progress:
    """rich progress bars (silent when stdout is not a terminal)."""

    def __init__(self, enabled: bool):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.p = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
            disable=not enabled, transient=False,
        )
        self.items = None
        self.frames = None

    def __enter__(self):
        self.p.__enter__()
        return self

    def __exit__(self, *a):
        self.p.__exit__(*a)

    def start_dataset(self, name: str, total: int) -> None:
        if self.items is not None:
            self.p.remove_task(self.items)
        self.items = self.p.add_task(name, total=total)

    def item_done(self) -> None:
        self.p.advance(self.items)

    def stage(self, desc: str, total: int | None) -> Callable[[], None]:
        if self.frames is None:
            self.frames = self.p.add_task(desc, total=total)
        self.p.reset(self.frames, total=total, description=desc)
        return lambda: self.p.advance(self.frames)


def max_pixels(value: int | None) -> int:
    """The pixel limit per frame: the option, else $BENCH_MAX_PIXELS, else the default (0: none)."""
    if value is not None:
        return value
    env = os.environ.get(ENV_MAX_PIXELS)
    if env:
        try:
            return int(float(env))
        except ValueError:
            raise BenchError(f"{ENV_MAX_PIXELS}={env!r}: expected a number of pixels, e.g. 100000000 (0: no limit)") from None
    return DEFAULT_MAX_PIXELS


def limit_pixels(item: Item, limit: int) -> Item:
    """``item`` whose frames raise, naming the way out, when one is above ``limit`` pixels
    (an image file is measured from its header, before it is decoded)."""
    if not limit:
        return item

    def refuse(w: int, h: int) -> None:
        if w * h > limit:
            raise ValueError(f"{w}x{h} = {w * h / 1e6:.1f} MP is above the limit of {limit / 1e6:g} MP per frame; "
                             f"raise it with --max-pixels N or {ENV_MAX_PIXELS}=N (0: no limit), memory grows with the frame size")

    def frames() -> Iterator[np.ndarray]:
        if item.kind == "image" and item.source:
            size = _header_size(item.source)
            if size:
                refuse(*size)
        for f in item.frames():
            refuse(f.shape[1], f.shape[0])
            yield f

    return replace(item, frames=frames)


def _header_size(path: str) -> tuple[int, int] | None:
    from PIL import Image

    try:
        with Image.open(path) as im:  # reads the header only
            return im.size
    except Image.DecompressionBombError:
        return 1 << 20, 1 << 20  # far above any limit
    except Exception:
        return None  # not for PIL: the decoder says what is wrong


class _NoBar:
    def stage(self, desc: str, total: int | None) -> Callable[[], None]:
        return lambda: None


_NO_BAR = _NoBar()


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by SIGINT or SIGTERM; its manifest says ``interrupted`` and the rows
    of its finished units are in ``rows.jsonl``."""

    def __init__(self, signal_name: str, out: Path | None = None, units_done: int = 0):
        super().__init__(signal_name)
        self.signal_name, self.out, self.units_done = signal_name, out, units_done

    @property
    def exit_code(self) -> int:
        return 128 + getattr(signal, self.signal_name, signal.SIGINT).value

    def __str__(self) -> str:
        where = f"; the rows of its {self.units_done} finished unit(s) are in {self.out / ROWS_FILE}" if self.out else ""
        return f"interrupted by {self.signal_name}{where}; rerun the same command to resume"


@contextlib.contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """SIGTERM raises :class:`RunInterrupted` in the main thread, and SIGINT (Ctrl-C)
    KeyboardInterrupt, so the run can record where it stopped. SIGINT's handler is installed
    too: a process started in the background by a non-interactive shell inherits SIGINT as
    ignored, and `kill -INT` would then not stop the run. Elsewhere: nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise RunInterrupted(signal.Signals(signum).name)

    old_term = signal.signal(signal.SIGTERM, handler)
    old_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGINT, old_int)


def _write_or_fail(out: Path, write: Callable[[], Any], rows: int | None = None) -> None:
    try:
        write()
    except OSError as exc:
        kept = f"; the {rows} rows are kept in {out / ROWS_FILE}: make the folder writable and rerun the same command to write the tables" if rows is not None else ""
        raise OutputUnwritable(f"cannot write into the run directory {out} ({exc.strerror or exc}){kept}") from None


class Runner:
    def __init__(self, cfg: RunConfig, console=None):
        self.cfg = cfg
        self.console = console
        self.root = resolve_data_root(cfg.data_root)
        self.specs = Specs.load(cfg.specs)
        self.device = "cpu"
        self._tmp_cache: tempfile.TemporaryDirectory | None = None
        if cfg.no_cache:
            self._tmp_cache = tempfile.TemporaryDirectory(prefix="bench-nocache-")
            self.cache = Cache(Path(self._tmp_cache.name))
        else:
            root = Path(cfg.cache_dir).expanduser() if cfg.cache_dir else default_cache_dir()
            check_writable(root, "the cache folder (--cache-dir / $BENCH_CACHE_DIR)")
            self.cache = Cache(root)
        self.max_pixels = max_pixels(cfg.max_pixels)
        self._setup_done: set[str] = set()
        self._corpus: dict[tuple[str, str, str], dict[str, list]] = {}
        self._items: dict[tuple[str, str], Item] = {}
        self._specs: dict[str, DatasetSpec] = {}
        self._prepared: tuple[Any, dict[str, Any]] = (None, {})
        self.metrics: list[Metric] = []
        self._computed = False

    # ------------------------------------------------------------------ resolution
    def resolve_all(self) -> tuple[list[DatasetSpec], list[Method], list[Metric]]:
        cfg = self.cfg
        plan = DEFAULT_PLAN if not cfg.datasets and not split_list(cfg.methods) else None
        names = list(plan) if plan else [n for d in (cfg.datasets or DEFAULT_DATASETS) for n in expand(d)]
        max_frames = cfg.max_frames if cfg.max_frames is not None else (DEFAULT_MAX_FRAMES if not cfg.datasets else None)
        params = {"max_frames": max_frames} if max_frames else {}
        specs = [resolve(n, self.root, self.specs, **params) for n in names]
        if len({s.name for s in specs}) != len(specs):
            raise BenchError("the same data set is named twice")
        method_names = list(dict.fromkeys(n for ms in plan.values() for n in ms)) if plan else split_list(cfg.methods) or ["identity"]
        methods = [make_method(n, self.specs) for n in method_names]
        if len({m.name for m in methods}) != len(methods):
            raise BenchError("the same method is named twice")
        by_name = {m.name: m for m in methods}
        self.methods_for = {s.name: [by_name[n] for n in plan[s.name]] if plan else methods for s in specs}
        for spec in specs:
            for m in self.methods_for[spec.name]:
                check_scale(m, spec.name, spec.scale)
        metric_names = split_list(cfg.metrics) or list(DEFAULT_METRICS)
        options = {"detector": cfg.detector, "captioner": cfg.captioner}
        metrics = []
        for n in metric_names:
            cls = registry.metrics.get(n)
            metrics.append(cls(**{o: options.get(o) for o in getattr(cls, "options", ())}))
        if len({m.name for m in metrics}) != len(metrics):
            raise BenchError("the same metric is named twice")
        unusable = [f"metric '{m.name}': {why}" for m in metrics if (why := m.availability())]
        if unusable:  # before any work: one error, not one per item
            raise BenchError("cannot score here. " + " | ".join(unusable))
        return specs, methods, metrics

    def select(self, spec: DatasetSpec) -> Iterator[Item]:
        """The items of ``spec`` the run covers (all, or those named by ``cfg.items``)."""
        wanted = set(self.cfg.items or ())
        if not wanted:
            yield from spec.dataset.items()
            return
        seen = set()
        for item in spec.dataset.items():
            seen.add(item.item_id)
            if item.item_id in wanted:
                yield item
        if not wanted & seen:
            raise BenchError(f"{spec.name}: no item named {', '.join(sorted(wanted))}; it has {', '.join(sorted(seen)[:20])}")

    # ------------------------------------------------------------------ stages
    @staticmethod
    def keys(spec: DatasetSpec, fp: str, method: Method | None = None, seed: int = 0) -> tuple[str, str, str | None]:
        """Cache keys of an item's reference, degraded input and (with ``method``) output."""
        preps = [d for d in spec.chain if hasattr(d, "prepare_reference")]
        ref = digest("reference", fp) if spec.scale == 1 and not preps else digest("reference", fp, spec.scale, [d.describe() for d in preps])
        deg = degraded_key(spec, ref)
        return ref, deg, output_key(method, spec, deg, seed) if method is not None else None

    def reference(self, spec: DatasetSpec, item: Item, fp: str | None = None) -> tuple[str, Callable[[], Iterator[np.ndarray]]]:
        fp = item.fingerprint() if fp is None else fp
        preps = [d for d in spec.chain if hasattr(d, "prepare_reference")]
        s = spec.scale
        key = self.keys(spec, fp)[0]
        if s == 1 and not preps:
            return key, item.frames
        if not self.cache.has_frames(key):
            with self.cache.writer(key) as w:
                for f in item.frames():
                    h, w_ = f.shape[:2]
                    f = f[: h - h % s, : w_ - w_ % s]
                    for d in preps:
                        f = d.prepare_reference(f)
                    w.add(np.ascontiguousarray(f))
        return key, lambda: self.cache.read_frames(key)

    def degrade(self, spec: DatasetSpec, item: Item, ref_key: str, ref_frames, tick) -> tuple[str, dict[str, Any]]:
        if not spec.chain:
            return ref_key, {}
        key = degraded_key(spec, ref_key)
        if not self.cache.has_frames(key):
            info: dict[str, Any] = {}
            frames: Iterator[np.ndarray] = ref_frames()
            for d in spec.chain:
                frames = d.apply_frames(frames, item.fps, info)
            with self.cache.writer(key) as w:
                for f in frames:
                    w.add(f)
                    tick()
                w.meta["info"] = info
        return key, self.cache.frames_meta(key).get("info", {})

    def degraded_frames(self, deg_key: str, ref_key: str, ref_frames):
        return ref_frames() if deg_key == ref_key else self.cache.read_frames(deg_key)

    def restore(self, method: Method, spec: DatasetSpec, item: Item, deg_key: str, deg_iter, tick) -> tuple[str, dict[str, Any]]:
        ctx = Context(scale=spec.scale, degradation=spec.degradation, item_id=item.item_id, kind=item.kind, fps=item.fps, device=self.device, seed=self.cfg.seed)
        if passes_through(method, spec) and self.cache.has_frames(deg_key):
            meta = self.cache.frames_meta(deg_key)  # the output is the input: score the degraded frames themselves
            for _ in range(meta["frames"]):
                tick()
            return deg_key, {**meta, "seconds": 0.0, "method": method.identity()}
        key = output_key(method, spec, deg_key, ctx.seed)
        if self.cache.has_frames(key):
            return key, self.cache.frames_meta(key)
        self._computed = True
        if method.name not in self._setup_done:
            method.setup(self.device)
            self._setup_done.add(method.name)
        seconds = 0.0

        def timed(dt: float, n: int) -> None:
            nonlocal seconds
            seconds += dt

        with self.cache.writer(key) as w:
            for arr in restore_stream(method, deg_iter, ctx, self.cfg.batch_size, timed):
                w.add(arr)
                tick()
            w.meta.update(seconds=seconds, method=method.identity())
        return key, self.cache.frames_meta(key)

    def score(self, metrics: list[Metric], out_key: str, ref_key: str, ref_frames, crop_border: int, tick) -> dict[str, tuple[list[float] | None, str | None]]:
        results: dict[str, tuple[list[float] | None, str | None]] = {}
        todo: list[tuple[Metric, str]] = []
        for m in metrics:
            if m.kind == "speed" or isinstance(m, CorpusMetric):
                continue
            key = score_key(m, out_key, ref_key, crop_border)
            cached = self.cache.get_json(key)
            if cached is not None:
                results[m.name] = (cached["values"], None)
            else:
                todo.append((m, key))
        if not todo:
            return results
        self._computed = True
        values: dict[str, list[float | None]] = {m.name: [] for m, _ in todo}
        errors: dict[str, str] = {}
        for m, _ in todo:
            if isinstance(m, ClipMetric):
                _guard(errors, m, "start", lambda m=m: m.start(crop_border))
        for i, (out, ref) in enumerate(itertools.zip_longest(self.cache.read_frames(out_key), ref_frames())):
            if out is None or ref is None:
                raise ValueError(f"output and reference differ in frame count (at frame {i})")
            for m, _ in todo:
                if m.name in errors:
                    continue
                if isinstance(m, ClipMetric):
                    _guard(errors, m, f"frame {i}", lambda m=m: m.update(out, ref))
                else:
                    _guard(errors, m, f"frame {i}", lambda m=m: values[m.name].append(_finite(m.score(out, ref if m.kind == "fr" else None, crop_border))))
            tick()
        for m, _ in todo:
            if isinstance(m, ClipMetric) and m.name not in errors:
                _guard(errors, m, "finish", lambda m=m: values[m.name].extend(None if v is None else _finite(v) for v in m.finish()))
        for m, key in todo:
            if m.name in errors:
                results[m.name] = (None, errors[m.name])
            else:
                self.cache.put_json(key, {"values": values[m.name], "metric": m.identity()})
                results[m.name] = (values[m.name], None)
        return results

    # ------------------------------------------------------------------ main loop
    def run(self, progress: bool | None = None) -> RunResult:
        cfg = self.cfg
        specs, methods, metrics = self.resolve_all()
        self._specs = {sp.name: sp for sp in specs}
        self.device = resolve_device(cfg.device)
        config, config_digest = self._config(specs, methods, metrics)
        out, previous = self._out_dir(config_digest)
        resume = previous is not None and not cfg.no_cache
        run_id = previous["run_id"] if resume else f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{config_digest[:6]}"
        manifest: dict[str, Any] = {
            "run_id": run_id,
            "bench_version": bench_version(),
            "started": now_utc(),
            "status": "running",
            "command": cfg.command or sys.argv,
            "config": config,
            "config_digest": config_digest,
            "options": {k: v for k, v in asdict(cfg).items() if k not in ("command",)},
            "data_root": str(self.root) if self.root else None,
            "cache_dir": str(self.cache.root),
            "spec_files": self.specs.files,
            "plugins": self._plugins(specs, methods, metrics),
            "versions": package_versions(),
            "git_revision": git_revision(),
            "seeds": {"run": cfg.seed},
            "machine": machine(self.device),
            "process": process_info(),
            "results_format": "docs/results.md (one row per value)",
        }
        if resume:
            manifest["resumed"] = {"from_started": previous.get("started"), "previous_status": previous.get("status")}
        _write_or_fail(out, lambda: write_manifest(out, manifest))
        log = RowLog(out, resume=resume)
        units: list[str] = []  # the plan's order: the tables follow it, whatever finished when
        show = sys.stdout.isatty() if progress is None else progress
        executor = None
        timings: dict[str, float] = {}
        manifest["timings"] = timings
        try:
            with interrupt_on_signals(), _Progress(show) as bar:
                # list items up front: a missing data set fails before any work
                t_plan = time.perf_counter()
                plan = self.plan(specs, metrics)
                todo = [u for u in plan if not self._finished(log, u)]
                manifest["units"] = len(plan)
                _write_or_fail(out, lambda: write_plan(out, plan, {u.key for u in todo}))
                executor = make_executor(cfg.executor, self, cfg.workers, cfg.ray_address, cfg.retries, bar)
                manifest["executor"] = executor.describe()
                bar.start_dataset(f"units ({executor.name})", len(todo))
                t_exec = time.perf_counter()
                timings["plan_s"] = t_exec - t_plan
                measured = []
                for unit, result in executor.run(todo, run_id):
                    rows, failures, art, corpus = self._result_rows(unit, result, metrics, run_id)
                    if isinstance(result, dict) and not failures and result.get("computed"):  # a unit read from the cache says nothing of its cost
                        measured.append((cost_key(self._method_of(unit), metrics), unit.method, unit.pixels, result["seconds"]))
                    log.append(unit.key, rows, failures, dataset=unit.dataset, item_id=unit.item_id, method=unit.method,
                               artifact=art, corpus=corpus, seconds=result.get("seconds") if isinstance(result, dict) else None)
                    bar.item_done()
                executor.close()
                timings["execute_s"] = time.perf_counter() - t_exec
                timings["unit_s"] = sum(m[3] for m in measured)
                self.cache.record_costs(measured)
                units = [u.key for u in plan]
                for spec in specs:
                    if any(isinstance(m, CorpusMetric) for m in metrics):
                        units.append(self._corpus_unit(spec, self.methods_for[spec.name], metrics, run_id, log,
                                                       [u for u in plan if u.dataset == spec.name]))
        except BaseException as exc:
            if executor is not None:
                executor.close()
            log.close()
            interrupted = isinstance(exc, KeyboardInterrupt)
            manifest.update(finished=now_utc(), status="interrupted" if interrupted else "failed",
                            units_done=len(log.done), stopped_by=getattr(exc, "signal_name", "SIGINT") if interrupted else f"{type(exc).__name__}: {exc}")
            try:
                write_manifest(out, manifest)
            except OSError:
                pass
            self.close()
            if interrupted:
                raise RunInterrupted(manifest["stopped_by"], out, len(log.done)) from None
            raise
        log.close()
        t_tables = time.perf_counter()
        records = log.records(units)
        rows = [r for rec in records for r in rec["rows"]]
        failures = [f for rec in records for f in rec["failures"]]
        df = to_frame(rows)
        artifacts: dict[tuple[str, str], dict[str, Any]] = {}
        for rec in records:
            a = rec.get("artifact")
            if a:
                slot = artifacts.setdefault((a["dataset"], a["item_id"]), {**{k: v for k, v in a.items() if k != "output"}, "outputs": {}})
                if a.get("output"):
                    slot["outputs"][rec["method"]] = a["output"]
        _write_or_fail(out, lambda: (write_scores(out, df), write_artifacts(out, self.cache.root, list(artifacts.values()))), rows=len(rows))
        timings["tables_s"] = time.perf_counter() - t_tables
        manifest.update(finished=now_utc(), status="complete" if not failures else "complete with failures", failures=failures, rows=len(df),
                        units_done=len(units), units_resumed=log.resumed)
        _write_or_fail(out, lambda: write_manifest(out, manifest), rows=len(rows))
        self.close()
        return RunResult(out, run_id, df, failures, manifest)

    def _config(self, specs, methods, metrics) -> tuple[dict[str, Any], str]:
        cfg = self.cfg
        config = {
            "datasets": [s.describe() for s in specs],
            "methods": [m.identity() for m in methods],
            "metrics": [m.identity() for m in metrics],
            "limit": cfg.limit,
            "crop_border": cfg.crop_border,
            "seed": cfg.seed,
        }
        if any(ms is not methods for ms in self.methods_for.values()):
            config["methods_per_dataset"] = {d: [m.name for m in ms] for d, ms in self.methods_for.items()}
        return config, digest(config, cfg.items, cfg.max_frames)

    # ------------------------------------------------------------------ dry run
    def dry_run(self) -> dict[str, Any]:
        """The plan without running it: each unit as ``done`` (in the run directory that
        the same command would resume), ``cached`` (its output and scores are in the cache:
        a rerun only reads them) or ``todo``, with an estimate of the time the todo units
        take from the unit times measured in earlier runs (``costs.json`` in the cache)."""
        specs, methods, metrics = self.resolve_all()
        self._specs = {sp.name: sp for sp in specs}
        _, config_digest = self._config(specs, methods, metrics)
        plan = self.plan(specs, metrics)
        done: dict[str, Any] = {}
        run_dir = self._resumable_dir(config_digest)[0]
        if run_dir is not None:
            from .writer import read_records

            done = {r["unit"]: r for r in read_records(run_dir / ROWS_FILE)[0] if not r.get("failures")}
        costs = self.cache.costs()
        units = []
        for u in plan:
            state = "done" if u.key in done else ("cached" if self._unit_cached(u, metrics) else "todo")
            est = estimate_seconds(costs, u, self._method_of(u), metrics) if state == "todo" else 0.0
            units.append({"unit": u.key, "dataset": u.dataset, "item_id": u.item_id, "method": u.method, "state": state,
                          "pixels": u.pixels, "estimated_s": est})
        todo = [x for x in units if x["state"] == "todo"]
        known = [x["estimated_s"] for x in todo if x["estimated_s"] is not None]
        return {"units": units, "run_dir": str(run_dir) if run_dir else None, "config_digest": config_digest,
                "counts": {k: sum(1 for x in units if x["state"] == k) for k in ("done", "cached", "todo")},
                "estimated_s": sum(known) if known else None, "estimated_units": len(known)}

    def _method_of(self, unit: Unit) -> Method:
        return next(m for m in self.methods_for[unit.dataset] if m.name == unit.method)

    def _unit_cached(self, unit: Unit, metrics: list[Metric]) -> bool:
        spec = self._specs[unit.dataset]
        ref, deg, out = self.keys(spec, unit.fingerprint, self._method_of(unit), self.cfg.seed)
        if not self.cache.has_frames(out):
            return False
        crop = self._crop_border(spec)
        for m in metrics:
            if m.kind == "speed":
                continue
            if isinstance(m, CorpusMetric):
                if self.cache.get_json(prediction_key(m, out)) is None:
                    return False
            elif self.cache.get_json(score_key(m, out, ref, crop)) is None:
                return False
        return True

    def _resumable_dir(self, config_digest: str) -> tuple[Path | None, dict[str, Any] | None]:
        """The run directory the same command would resume and its manifest, if any
        (nothing is created)."""
        if self.cfg.out:
            m = read_manifest(Path(self.cfg.out))  # --out resumes a run of the same configuration, complete or not
            return (Path(self.cfg.out), m) if m and m.get("config_digest") == config_digest else (None, None)
        runs = Path("runs")
        for d in sorted(runs.glob(f"*-{config_digest[:6]}"), key=lambda p: p.name, reverse=True) if runs.is_dir() else []:
            m = read_manifest(d)
            if m and m.get("config_digest") == config_digest and run_state(m)[0] in ("interrupted", "gone", "failed"):
                return d, m
        return None, None

    def _out_dir(self, config_digest: str) -> tuple[Path, dict[str, Any] | None]:
        """The run directory, and the manifest of an unfinished run of the same
        configuration found there (which this run then resumes). Without ``--out``, the
        newest ``runs/*-<digest>`` whose process is gone is resumed, else a new one made."""
        found, manifest = self._resumable_dir(config_digest)
        if self.cfg.out:
            out = Path(self.cfg.out)
            check_writable(out, "--out")
            return out, manifest
        if found is not None:
            check_writable(found, "the run directory")
            return found, manifest
        runs = Path("runs")
        stamp = time.strftime('%Y%m%d-%H%M%S', time.gmtime())
        out = runs / f"{stamp}-{config_digest[:6]}"
        n = 1
        while out.exists():  # the same configuration started twice within a second
            n += 1
            out = runs / f"{stamp}.{n}-{config_digest[:6]}"
        check_writable(out, "--out")
        return out, None

    def _plugins(self, specs, methods, metrics) -> dict[str, Any]:
        def info(reg, name):
            e = reg.entry(name)
            return {"origin": e.origin, "target": e.target if isinstance(e.target, str) else repr(e.target), "version": e.version}

        bases = {s.base for s in specs if s.base in registry.datasets}
        degs = {d.name for s in specs for d in s.chain}
        return {
            "methods": {m.name: m.provenance() if hasattr(m, "provenance") else info(registry.methods, getattr(m, "registry_name", m.name))
                        for m in methods},
            "metrics": {m.name: info(registry.metrics, m.name) for m in metrics},
            "datasets": {b: info(registry.datasets, b) for b in sorted(bases)},
            "degradations": {d: info(registry.degradations, d) for d in sorted(degs) if d in registry.degradations},
        }

    # ------------------------------------------------------------------ plan
    def plan(self, specs: list[DatasetSpec], metrics: list[Metric]) -> list[Unit]:
        """The run's work units in order (data set, item, method). A unit's key is its
        content address: the same data set and degradation, item bytes, method identity,
        metrics, crop border and seed give the same key in any run."""
        self.metrics = metrics
        units = []
        for spec in specs:
            for item in itertools.islice(self.select(spec), self.cfg.limit):
                try:
                    fingerprint = item.fingerprint()
                except Exception as exc:  # an unreadable file: identified by name, and it fails below with the reason
                    fingerprint = f"unreadable: {item.source or item.item_id}: {type(exc).__name__}"
                item = limit_pixels(item, self.max_pixels)
                self._items[(spec.name, item.item_id)] = item
                size = _header_size(item.source) if item.kind == "image" and item.source else None
                for method in self.methods_for[spec.name]:
                    key = digest("unit", spec.describe(), item.item_id, fingerprint, method.identity(), [m.identity() for m in metrics],
                                 self.cfg.crop_border, self.cfg.seed)
                    units.append(Unit(key, spec.name, item.item_id, method.name, fingerprint,
                                      frames=1 if item.kind == "image" else None, pixels=size[0] * size[1] if size else None))
        return units

    def _finished(self, log: RowLog, unit: Unit) -> bool:
        rec = log.finished(unit.key)
        if rec is not None and rec.get("corpus") and not self._corpus_cached(rec, self.metrics, self._items[(unit.dataset, unit.item_id)]):
            return False
        return rec is not None

    def worker_config(self) -> RunConfig:
        """The configuration a worker builds its Runner from: this run's, with the data
        root and cache folder made explicit (a worker has neither the driver's environment
        nor its throw-away cache)."""
        return replace(self.cfg, cache_dir=str(self.cache.root), no_cache=False, data_root=str(self.root) if self.root else self.cfg.data_root,
                       out=None, executor="serial", workers=None)

    def plugin_names(self) -> set[str]:
        """Names of the plug-ins this run uses (methods, metrics, data sets, degradations)."""
        names = {getattr(m, "registry_name", m.name) for ms in self.methods_for.values() for m in ms}
        names |= {m.name for m in self.metrics}
        for spec in self._specs.values():
            names.add(spec.base)
            names |= {d.name for d in spec.chain}
        return names

    def prepare_worker(self) -> None:
        """Resolve the run's data sets, methods and metrics in a worker process."""
        specs, _, self.metrics = self.resolve_all()
        self._specs = {s.name: s for s in specs}
        self.device = resolve_device(self.cfg.device)

    def _item_of(self, unit: Unit) -> Item:
        key = (unit.dataset, unit.item_id)
        if key not in self._items:  # a worker: list the data set once
            spec = self._specs[unit.dataset]
            for item in spec.dataset.items():
                self._items[(spec.name, item.item_id)] = limit_pixels(item, self.max_pixels)
            if key not in self._items:
                raise BenchError(f"{unit.dataset}: no item {unit.item_id!r} here (the worker sees other data than the driver: "
                                 "put the data sets on storage every node reads at the same path)")
        return self._items[key]

    def prefetch(self, unit: Unit) -> None:
        """Put ``unit``'s reference and degraded input into the cache (a background
        thread's work; errors are left for the unit itself to meet and report)."""
        try:
            spec = self._specs[unit.dataset]
            item = self._item_of(unit)
            ref_key, ref_frames = self.reference(spec, item, unit.fingerprint)
            self.degrade(spec, item, ref_key, ref_frames, lambda: None)
        except Exception:
            pass

    def execute(self, unit: Unit, run_id: str, bar=None) -> dict[str, Any]:
        """Compute one unit: {rows, failures, artifact, corpus, seconds}."""
        t0 = time.perf_counter()
        spec = self._specs[unit.dataset]
        item = self._item_of(unit)
        method = self._method_of(unit)
        if self._prepared[0] != (unit.dataset, unit.item_id):
            self._prepared = ((unit.dataset, unit.item_id), {})
        prepared = self._prepared[1]
        self._computed = False
        for attempt in (1, 2):
            try:
                rows, failures, art, corpus = self._unit(spec, item, method, self.metrics, run_id, prepared, unit.fingerprint, bar or _NO_BAR)
                break
            except CacheDamaged as exc:  # the entry is gone now: compute it again, once
                warn(f"{exc}; recomputing it")
                prepared.clear()
                if attempt == 2:
                    raise
        return {"rows": rows, "failures": failures, "artifact": art, "corpus": corpus, "seconds": time.perf_counter() - t0,
                "computed": self._computed}

    def unit_predictions(self, result: dict[str, Any]) -> dict[str, Any]:
        """The cached predictions a unit's corpus entries point to, by cache key (sent
        back to the driver, whose cache may be another node's)."""
        out = {}
        for name, c in (result.get("corpus") or {}).items():
            if "error" in c:
                continue
            met = next(m for m in self.metrics if m.name == name)
            for k in (c["output"], c["reference"]):
                pkey = prediction_key(met, k)
                cached = self.cache.get_json(pkey)
                if cached is not None:
                    out[pkey] = cached
        return out

    def _result_rows(self, unit: Unit, result: dict[str, Any] | str, metrics: list[Metric], run_id: str):
        """(rows, failures, artifact, corpus) of a finished unit, or error rows naming the
        unit when it could not be run (``result`` is then the reason)."""
        if isinstance(result, str):
            spec = self._specs[unit.dataset]
            item = self._items[(unit.dataset, unit.item_id)]
            rows, failures = self._error_rows(spec, item, self._method_of(unit), metrics, run_id, f"unit {unit.key[:12]}", result)
            return rows, failures, None, {}
        for pkey, value in (result.get("predictions") or {}).items():
            if self.cache.get_json(pkey) is None:
                self.cache.put_json(pkey, value)
        return result["rows"], result["failures"], result["artifact"], result["corpus"]

    def _crop_border(self, spec: DatasetSpec) -> int:
        return self.cfg.crop_border if self.cfg.crop_border is not None else (spec.scale if spec.scale > 1 else 0)

    def _error_rows(self, spec: DatasetSpec, item: Item, method: Method, metrics, run_id: str, stage: str, exc,
                    base: dict[str, Any] | None = None) -> tuple[list[dict], list[str]]:
        msg = f"{stage}: {type(exc).__name__}: {exc}" if isinstance(exc, Exception) else f"{stage}: {exc}"
        whole = {"frame": -1, "scope": "clip"} if item.kind == "video" else {"frame": 0, "scope": "image"}
        base_row = base or {"run_id": run_id, "dataset": spec.name, "base": spec.base, "degradation": spec.degradation,
                    "item_id": item.item_id, "crop_border": self._crop_border(spec), "bpp": float("nan"), "bitrate_kbps": float("nan"),
                    "elapsed_s": float("nan")}
        rows = [{**base_row, **whole, "method": method.name, "method_version": method.version, "metric": met.name, "metric_version": met.version,
                 "value": float("nan"), "higher_is_better": met.higher_is_better, "unit": met.unit, "status": "error", "error": msg}
                for met in metrics]
        return rows, [f"{spec.name} / {item.item_id} / {method.name}: {msg}"]

    def _prepare(self, spec: DatasetSpec, item: Item, fingerprint: str, bar) -> dict[str, Any]:
        """Reference and degraded input of an item (cached), or the exception that stopped them."""
        try:
            ref_key, ref_frames = self.reference(spec, item, fingerprint)
            tick = bar.stage(f"degrade {item.item_id}", None)
            deg_key, info = self.degrade(spec, item, ref_key, ref_frames, tick)
        except CacheDamaged:
            raise
        except Exception as exc:
            _debug(exc)
            return {"error": exc}
        art = {"dataset": spec.name, "item_id": item.item_id, "kind": item.kind, "reference": ref_key, "source": item.source, "degraded": deg_key,
               "scale": spec.scale}
        return {"ref_key": ref_key, "ref_frames": ref_frames, "deg_key": deg_key, "info": info, "art": art}

    def _unit(self, spec: DatasetSpec, item: Item, method: Method, metrics, run_id, prepared: dict[str, Any], fingerprint: str, bar):
        """Rows of one (item, method) unit; failures become error rows. Returns (rows,
        failures, artifact, corpus predictions)."""
        crop_border = self._crop_border(spec)
        base_row = {
            "run_id": run_id, "dataset": spec.name, "base": spec.base, "degradation": spec.degradation,
            "item_id": item.item_id, "crop_border": crop_border, "bpp": float("nan"), "bitrate_kbps": float("nan"),
            "elapsed_s": float("nan"),
        }
        video = item.kind == "video"
        whole = {"frame": -1, "scope": "clip"} if video else {"frame": 0, "scope": "image"}  # one value per item
        rows: list[dict[str, Any]] = []
        failures: list[str] = []

        def error_rows(stage, exc) -> None:
            r, f = self._error_rows(spec, item, method, metrics, run_id, stage, exc, base_row)
            rows.extend(r)
            failures.extend(f)

        if not prepared:
            prepared.update(self._prepare(spec, item, fingerprint, bar))
        if "error" in prepared:
            error_rows("reference/degradation", prepared["error"])
            return rows, failures, None, {}
        ref_key, ref_frames, deg_key, info = prepared["ref_key"], prepared["ref_frames"], prepared["deg_key"], prepared["info"]
        art = dict(prepared["art"])
        base_row["bpp"] = info.get("bpp", float("nan"))
        base_row["bitrate_kbps"] = info.get("bitrate_kbps", float("nan"))
        corpus: dict[str, dict[str, str]] = {}
        stage = "method"
        try:
            tick = bar.stage(f"{method.name} {item.item_id}", None)
            out_key, meta = self.restore(method, spec, item, deg_key, self.degraded_frames(deg_key, ref_key, ref_frames), tick)
            art["output"] = out_key
            stage = "scoring"
            tick = bar.stage(f"score {item.item_id}", meta["frames"])
            scores = self.score(metrics, out_key, ref_key, ref_frames, crop_border, tick)
        except CacheDamaged:
            raise
        except Exception as exc:
            _debug(exc)
            error_rows(stage, exc)
            return rows, failures, art, corpus
        n, seconds = meta["frames"], meta.get("seconds", float("nan"))
        common = {**base_row, "method": method.name, "method_version": method.version, "elapsed_s": seconds}
        for met in metrics:
            mrow = {**common, "metric": met.name, "metric_version": met.version, "higher_is_better": met.higher_is_better, "unit": met.unit}
            if met.kind == "speed":
                fps = n / seconds if seconds > 0 else float("inf")
                rows.append({**mrow, **whole, "value": fps, "status": "ok", "error": None})
                continue
            if isinstance(met, CorpusMetric):
                corpus[met.name] = self._predict_item(spec, item, method, met, out_key, ref_key, ref_frames, failures)
                continue
            values, err = scores[met.name]
            if err is not None:
                failures.append(f"{spec.name} / {item.item_id} / {method.name} / {met.name}: {err}")
                rows.append({**mrow, **whole, "value": float("nan"), "status": "error", "error": err})
                continue
            if video:
                rows += [{**mrow, "frame": i, "scope": "frame", "value": v, "status": "ok", "error": None}
                         for i, v in enumerate(values) if v is not None]
            present = [v for v in values if v is not None]
            if present:  # a temporal metric has no value on a still image
                rows.append({**mrow, **whole, "value": float(np.mean(present)), "status": "ok", "error": None})
        return rows, failures, art, corpus

    # ------------------------------------------------------------------ corpus metrics
    def predictions(self, met: CorpusMetric, frames_key: str, frames: Callable[[], Iterator[np.ndarray]]) -> list[Any]:
        """The metric's model run on every frame of ``frames_key`` (cached by content)."""
        key = prediction_key(met, frames_key)
        cached = self.cache.get_json(key)
        if cached is not None:
            return cached["predictions"]
        self._computed = True
        if f"metric:{met.name}" not in self._setup_done:
            met.setup(self.device)
            self._setup_done.add(f"metric:{met.name}")
        preds: list[Any] = []
        stream = frames()
        while batch := list(itertools.islice(stream, self.cfg.batch_size)):  # the clip's frames, batch_size at a time
            preds += met.predict_many(batch)
        self.cache.put_json(key, {"predictions": preds, "predictor": met.predictor_identity()})
        return preds

    def _predict_item(self, spec, item, method, met, out_key, ref_key, ref_frames, failures) -> dict[str, str]:
        """The metric's predictions on this unit's output (and reference), cached; returns
        where they are (or the error) for the data set's corpus unit."""
        try:
            self.predictions(met, out_key, lambda: self.cache.read_frames(out_key))
            if met.needs_reference(item.annotations):
                self.predictions(met, ref_key, ref_frames)
        except CacheDamaged:
            raise
        except Exception as exc:
            _debug(exc)
            msg = f"{item.item_id}: {type(exc).__name__}: {exc}"
            failures.append(f"{spec.name} / {method.name} / {met.name}: {msg}")
            return {"error": msg}
        return {"output": out_key, "reference": ref_key}

    def _cached_predictions(self, met: CorpusMetric, frames_key: str) -> list[Any]:
        cached = self.cache.get_json(prediction_key(met, frames_key))
        if cached is None:
            raise ValueError(f"the {met.name} predictions for {frames_key[:12]} are not in the cache {self.cache.root} (removed or damaged); rerun")
        return cached["predictions"]

    def _corpus_cached(self, rec: dict[str, Any], metrics: list[Metric], item: Item) -> bool:
        """Whether the predictions a finished unit's corpus rows need are still in the cache."""
        by_name = {m.name: m for m in metrics if isinstance(m, CorpusMetric)}
        for name, c in (rec.get("corpus") or {}).items():
            met = by_name.get(name)
            if met is None or "error" in c:
                continue
            keys = [c["output"]] + ([c["reference"]] if met.needs_reference(item.annotations) else [])
            if any(self.cache.get_json(prediction_key(met, k)) is None for k in keys):
                return False
        return True

    def _corpus_unit(self, spec: DatasetSpec, methods: list[Method], metrics: list[Metric], run_id: str, log: RowLog, item_units: list[Unit]) -> str:
        """The data set's corpus rows (mAP, CIDEr ...) as one unit after its items, from
        the items' predictions in plan order (whatever order the items finished in)."""
        key = digest("corpus", spec.describe(), [m.identity() for m in methods], [m.identity() for m in metrics], [u.key for u in item_units])
        for u in item_units:
            rec = log.done.get(u.key) or {}
            item = self._items[(u.dataset, u.item_id)]
            for met_name, c in (rec.get("corpus") or {}).items():
                slot = self._corpus.setdefault((spec.name, u.method, met_name), {"items": [], "errors": []})
                if "error" in c:
                    slot["errors"].append(c["error"])
                else:
                    slot["items"].append((item.item_id, item.annotations, c["output"], c["reference"]))
        if log.finished(key) is None:
            failures: list[str] = []
            rows = self._corpus_rows(spec, methods, metrics, run_id, failures)
            log.append(key, rows, failures, dataset=spec.name, item_id="*", method="*")
        for m in methods:
            for met in metrics:
                self._corpus.pop((spec.name, m.name, met.name), None)
        return key

    def _corpus_rows(self, spec: DatasetSpec, methods: list[Method], metrics: list[Metric], run_id: str, failures: list[str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for method in methods:
            for met in (m for m in metrics if isinstance(m, CorpusMetric)):
                slot = self._corpus.get((spec.name, method.name, met.name))
                if slot is None:  # every item failed before scoring (already reported)
                    continue
                row = {"run_id": run_id, "dataset": spec.name, "base": spec.base, "degradation": spec.degradation,
                       "item_id": "*", "frame": -1, "scope": "dataset", "method": method.name, "method_version": method.version,
                       "metric_version": met.version, "higher_is_better": met.higher_is_better, "unit": met.unit,
                       "crop_border": 0, "bpp": float("nan"), "bitrate_kbps": float("nan"), "elapsed_s": float("nan")}
                if slot["errors"]:
                    err = f"{len(slot['errors'])} item(s) failed; first: {slot['errors'][0]}"
                    rows.append({**row, "metric": met.name, "value": float("nan"), "status": "error", "error": err})
                    continue

                def records(slot=slot, met=met):
                    for item_id, ann, out_key, ref_key in slot["items"]:
                        preds = self._cached_predictions(met, out_key)
                        refs = self._cached_predictions(met, ref_key) if met.needs_reference(ann) else None
                        yield CorpusRecord(item_id, ann, preds, refs)

                ckey = digest("corpus-values", met.identity(), met.predictor_identity(),
                              [(i, digest(a), o, r if met.needs_reference(a) else None) for i, a, o, r in slot["items"]])
                cached = self.cache.get_json(ckey)
                try:
                    values = cached["values"] if cached is not None else met.compute(records())
                    if cached is None:
                        self.cache.put_json(ckey, {"values": {k: float(v) for k, v in values.items()}, "metric": met.identity()})
                except Exception as exc:
                    _debug(exc)
                    msg = f"compute: {type(exc).__name__}: {exc}"
                    failures.append(f"{spec.name} / {method.name} / {met.name}: {msg}")
                    rows.append({**row, "metric": met.name, "value": float("nan"), "status": "error", "error": msg})
                    continue
                for name, v in values.items():
                    rows.append({**row, "metric": name, "value": float(v), "status": "ok", "error": None})
        return rows + gain_rows(rows)

    def close(self) -> None:
        if self._tmp_cache is not None:
            self._tmp_cache.cleanup()


def degraded_key(spec: DatasetSpec, ref_key: str) -> str:
    """Cache key of an item's degraded input (its reference when the chain is empty)."""
    return digest("degraded", ref_key, [d.describe() for d in spec.chain]) if spec.chain else ref_key


def output_key(method: Method, spec: DatasetSpec, deg_key: str, seed: int) -> str:
    """Cache key of a method's output on a degraded input (the input's own for a pass-through)."""
    if passes_through(method, spec):
        return deg_key
    return digest("output", method.identity(), deg_key, spec.scale, spec.degradation, seed)


def score_key(metric: Metric, out_key: str, ref_key: str, crop_border: int) -> str:
    return digest("score", metric.identity(), out_key, ref_key, crop_border)


def prediction_key(metric: CorpusMetric, frames_key: str) -> str:
    return digest("prediction", metric.predictor_identity(), frames_key)


def passes_through(method: Method, spec: DatasetSpec) -> bool:
    """Whether ``method``'s output on ``spec`` is its degraded input itself (``identity`` at
    scale 1): the cached degraded frames are then scored as the output, not copied."""
    return bool(getattr(method, "passthrough", False)) and spec.scale == 1 and bool(spec.chain)


def cost_key(method: Method, metrics: list[Metric]) -> str:
    """What a unit's measured time is filed under: the method and the metrics computed."""
    return digest(method.identity(), sorted(f"{m.name}@{m.version}" for m in metrics))


def estimate_seconds(costs: dict[str, Any], unit: Unit, method: Method, metrics: list[Metric] | None = None) -> float | None:
    """A unit's expected time from earlier units: per pixel when both have a size, else
    per unit; None when nothing comparable was measured."""
    recs = [costs[k] for k in ([cost_key(method, metrics)] if metrics is not None else []) if k in costs]
    recs = recs or [r for r in costs.values() if isinstance(r, dict) and r.get("method") == unit.method]
    if not recs:
        return None
    px = sum(r.get("pixels", 0) for r in recs)
    if unit.pixels and px:
        return unit.pixels * sum(r["px_seconds"] for r in recs) / px
    return sum(r["seconds"] for r in recs) / max(1, sum(r["units"] for r in recs))


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
            params[k] = json.loads(v)
        except ValueError:
            params[k] = v
    return params


def make_method(spec: str, specs: Specs | None = None) -> Method:
    """``name`` or ``name:key=value:key=value`` (e.g. ``pix2pix:lam=100``, ``gan:qf=20``,
    ``srgan:weights=my.safetensors``). A method with settings is labelled by the whole spec
    in the results, so two settings of one method are two rows.

    A path to a weights file (``~/models/RealESRGAN_x4plus.pth``, settings as for a name:
    ``model.pth:tile=256:name=esrgan``) or the name of a zoo model (``bench models``) is a
    method too (:class:`benchmark.methods.published.PublishedModel`), labelled by the file's
    stem, the zoo name or ``name=``. So is a ``[methods.NAME]`` entry of a spec file (``specs``)."""
    name, *settings = spec.split(":")
    params = parse_settings(settings, f"method '{spec}': expected name:key=value")
    if specs is not None and name in specs.methods:
        entry = specs.methods[name]
        defaults = {k: v for k, v in entry.items() if k not in ("path", "origin")}
        return _published(entry["path"], {"name": name, **defaults, **params, "origin": entry["origin"]}, spec)
    if name not in registry.methods:
        from . import zoo
        from .methods.published import is_weights_ref

        if name in zoo.ZOO or is_weights_ref(name):
            return _published(name, params, spec)
    cls = registry.methods.get(name)
    try:
        m = cls(**params)
    except (TypeError, ValueError) as exc:
        raise BenchError(f"method '{spec}': {exc}") from None
    m.registry_name = name
    if settings:
        m.name = spec
    return m


def _published(name: str, params: dict[str, Any], spec: str) -> Method:
    from . import zoo
    from .methods.published import PublishedModel

    if name in zoo.ZOO:
        params = {"name": name, **params, "origin": f"zoo model {name} ({zoo.ZOO[name].url})"}
        path = zoo.resolve(name)
    else:
        path = Path(name).expanduser()
    try:
        return PublishedModel(path, **params)
    except (TypeError, ValueError) as exc:
        raise BenchError(f"method '{spec}': {exc} (a weights file takes name=, tile=, overlap=, precision=)") from None


GAIN_BASELINE = "identity"


def gain_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Corpus rows of each method minus the ``identity`` row of the same data set and
    metric: ``voc-ap50/dog`` becomes ``voc-ap50-gain/dog`` (the reference study's
    per-class AP gains). Empty when the run has no ``identity`` method."""
    base = {(r["dataset"], r["metric"]): r["value"] for r in rows if r["method"] == GAIN_BASELINE and r["status"] == "ok"}
    out = []
    for r in rows:
        b = base.get((r["dataset"], r["metric"]))
        if r["method"] == GAIN_BASELINE or r["status"] != "ok" or b is None:
            continue
        head, sep, tail = r["metric"].partition("/")
        out.append({**r, "metric": f"{head}-gain{sep}{tail}", "value": r["value"] - b, "higher_is_better": r["higher_is_better"]})
    return out


def _finite(v: Any) -> float:
    v = float(v)
    if math.isnan(v):
        raise ValueError("metric returned NaN")
    return v


def _guard(errors: dict[str, str], m: Metric, where: str, fn: Callable[[], Any]) -> None:
    """Run one metric step; a failure disables that metric for this item only."""
    try:
        fn()
    except Exception as exc:
        _debug(exc)
        errors[m.name] = f"{where}: {type(exc).__name__}: {exc}"


def _debug(exc: BaseException) -> None:
    import os

    if os.environ.get("BENCH_DEBUG"):
        traceback.print_exception(exc)


def run(cfg: RunConfig, progress: bool | None = None) -> RunResult:
    return Runner(cfg).run(progress=progress)
