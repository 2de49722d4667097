"""How many local worker processes a run uses, when the user did not say (``--workers``).

A second process pays for itself only where one process leaves cores idle:

* the cores this process may run on (its CPU affinity: ``taskset -c 0`` is one core, whatever the
  machine has), less the whole cores other processes keep busy (a second process on a core already
  taken only adds its start-up; measured on the 2-core development machine at a load of 4-5, two
  workers took 1.38x the wall time of one): one free core, one process. What others keep busy is
  measured, not guessed from the load average: the CPU time spent on this process's cores since the
  run started (the import of this module: the seconds of imports and planning before the
  choice), less this process's own, per second (:func:`busy_elsewhere`). The 1-minute load
  average lags by a minute: right after another job ended (a benchmark's previous process, a build)
  it still counted that job's core as taken, and the run went serial on an idle machine;
* the units' kind: a unit whose method runs a network (its output not already cached) keeps every
  core busy through its engine's threads (torch's, OpenVINO's), so a second process would only
  halve each one's threads; a unit that only scores (``identity``, ``bicubic``, a cached output)
  runs its metrics on one core at a time, and a second process doubles them. So: as many
  processes as cores when the units that only score are the majority, else one;
* enough units to pay for starting a process (a worker imports NumPy and torch and readies the
  metrics: about two seconds of CPU): :data:`UNITS_PER_WORKER` units that only score per worker;
* memory: every worker holds its own copy of the metrics and methods (about :data:`WORKER_BYTES`)
  and may take the memory budget of a network's activations (:func:`benchmark.core.memory.memory_budget`):
  the machine's available memory is shared out, as many workers as it holds with a budget each (a
  smaller budget per worker would tile frames a single process does not, and the rows would differ).

The choice is said in one line (:attr:`WorkerChoice.line`) and written to the manifest; the rows do
not depend on it (one writer, in plan order). ``--workers 1`` forces one process, ``--workers N``
N processes; on a GPU the choice is one process (the device is one)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

UNITS_PER_WORKER = 8  # units that only score, per worker process, before a second one pays for itself
WORKER_BYTES = 1.0 * 2**30  # what one worker process may hold (torch, the metrics, a frame or two)
MAX_CACHE_CHECKS = 2000  # network units whose cached output is looked up (beyond: counted as network work)
#: the shortest window other processes' CPU use is measured over (slept out if the start was quicker)
MIN_WINDOW_S = 0.25


@dataclass(frozen=True)
class WorkerChoice:
    """``workers`` processes (1: the driver's own, serial) and why, in one line."""

    workers: int
    line: str
    forced: bool = False

    @property
    def executor(self) -> str:
        return "processes" if self.workers > 1 else "serial"


def _our_cpus() -> set[int]:
    """The CPUs this process may run on (its affinity; every CPU where there is none)."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return set(range(os.cpu_count() or 1))


def usable_cores() -> int:
    """The cores this process may run on (its affinity), at least one."""
    return max(1, len(_our_cpus()))


def kinds(units: Iterable[Any], network_of, cached) -> tuple[int, int]:
    """(units that run a network, units that only score) among ``units``: ``network_of(unit)`` says
    whether its method runs one, ``cached(unit)`` whether its output is in the cache already."""
    net = score = checks = 0
    for u in units:
        if network_of(u):
            if checks < MAX_CACHE_CHECKS:
                checks += 1
                if cached(u):
                    score += 1
                    continue
            net += 1
        else:
            score += 1
    return net, score


def choose(
    asked: int | None,
    units: list[Any],
    network_of,
    cached,
    device: str = "cpu",
    cores: int | None = None,
    memory: float | None = None,
    budget: float = 0.0,
    load: float = 0.0,
) -> WorkerChoice:
    """The worker processes for ``units`` (see the module docstring): ``asked`` (``--workers``) when
    given, else chosen from the ``cores``, the units' kinds and the available ``memory`` (bytes), each
    worker holding :data:`WORKER_BYTES` and the networks' activation ``budget`` of its own; cores that
    other processes keep busy (``load``: :func:`busy_elsewhere`) are not counted."""
    if asked is not None:
        n = max(1, int(asked))
        return WorkerChoice(n, f"workers: {n} (--workers {asked})", forced=True)
    cores = usable_cores() if cores is None else cores
    if str(device).startswith("cuda"):
        return WorkerChoice(1, "workers: 1 (one GPU: its units share it in one process)")
    busy = int(max(0.0, load))  # whole cores other processes keep busy
    free = max(1, cores - busy)
    if cores < 2 or free < 2:
        return WorkerChoice(1, f"workers: 1 ({_cores(cores)}{_busy(busy, cores)})")
    cores = free
    net, score = kinds(units, network_of, cached)
    if not score or net >= score:
        return WorkerChoice(
            1,
            f"workers: 1 ({_cores(cores)}; {net} of {net + score} units run a network, which uses every core "
            "through its engine's threads)",
        )
    if memory is None:
        from benchmark.core.memory import available_memory

        memory = available_memory()
    fit = max(1, int(memory // (WORKER_BYTES + budget)))
    n = max(1, min(cores, score // UNITS_PER_WORKER, fit))
    if n == 1:
        why = (
            f"{score} units that only score: too few to pay for starting a second process"
            if score < 2 * UNITS_PER_WORKER
            else f"memory for one process of {WORKER_BYTES / 2**30:.1f} GiB"
        )
        return WorkerChoice(1, f"workers: 1 ({_cores(cores)}; {why}; --workers N to choose)")
    held = "" if n == cores else (f", memory for {fit}" if fit < cores else "")
    return WorkerChoice(
        n,
        f"workers: {n} processes ({_cores(cores)}{held}; {score} of {net + score} units only score metrics, "
        f"one core each; --workers 1 for one process)",
    )


def _cpu_seconds(cpus: set[int]) -> float | None:
    """Seconds of CPU time spent on ``cpus`` since boot, all processes (Linux's /proc/stat; None elsewhere)."""
    try:
        with open("/proc/stat") as f:
            lines = [x.split() for x in f if x.startswith("cpu") and not x.startswith("cpu ")]
    except OSError:
        return None
    busy = 0
    for fields in lines:
        if int(fields[0][3:]) in cpus:  # user nice system idle iowait irq softirq steal ...
            busy += sum(int(v) for i, v in enumerate(fields[1:9]) if i not in (3, 4))
    return busy / os.sysconf("SC_CLK_TCK") if lines else None


def _sample() -> tuple[float, float | None, float]:
    """(wall clock, CPU seconds on our cores by everyone, CPU seconds of this process)."""
    return time.monotonic(), _cpu_seconds(_our_cpus()), time.process_time()


_MARK = _sample()  # the start of the window busy_elsewhere() measures over: this module's import


def busy_elsewhere(since: tuple[float, float | None, float] | None = None) -> float:
    """Cores of ours that other processes kept busy since this module was imported (or ``since``): everyone's CPU
    seconds on them less this process's own, over the wall seconds (at least :data:`MIN_WINDOW_S`).
    Where /proc/stat is missing: the 1-minute load average."""
    t0, all0, own0 = since or _MARK
    if all0 is None:
        return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    wait = MIN_WINDOW_S - (time.monotonic() - t0)
    if wait > 0:
        time.sleep(wait)
    t1, all1, own1 = _sample()
    if all1 is None:
        return 0.0
    return max(0.0, ((all1 - all0) - (own1 - own0)) / max(t1 - t0, 1e-9))


def _cores(n: int) -> str:
    return "1 core" if n == 1 else f"{n} cores"


def _busy(busy: int, cores: int) -> str:
    return f", {min(busy, cores)} kept busy by other processes" if busy else ""


def for_run(cfg: Any, todo: list[Any], resolved: Any, cache: Any, device: str) -> WorkerChoice:
    """The choice for a run's units to do: ``cfg.workers`` when given; a unit runs a network when its
    method has one (:func:`benchmark.core.engine.has_network`) and its output is not in ``cache``."""
    from benchmark.core.engine import has_network
    from benchmark.core.memory import available_memory, memory_budget
    from benchmark.run.keys import keys

    def network_of(u) -> bool:
        return has_network(resolved.method(u.dataset, u.method))

    def cached(u) -> bool:
        out = keys(resolved.spec(u.dataset), u.fingerprint, resolved.method(u.dataset, u.method), cfg.seed, u.item_id)[
            2
        ]
        return cache.has_frames(out)

    if cfg.workers is not None:
        return choose(cfg.workers, todo, network_of, cached, device)
    load = busy_elsewhere()
    return choose(
        None, todo, network_of, cached, device, memory=available_memory(), budget=memory_budget(device), load=load
    )
