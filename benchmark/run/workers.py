"""How many local worker processes a run uses, when the user did not say (``--workers``).

A second process pays for itself only where one process leaves cores idle:

* the cores this process may run on (its CPU affinity: ``taskset -c 0`` is one core, whatever the
  machine has), less the whole cores other processes keep busy (the 1-minute load average: a second
  process on a core already taken only adds its start-up; measured on the 2-core development machine
  at a load of 4-5, two workers took 1.38x the wall time of one): one free core, one process;
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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

UNITS_PER_WORKER = 8  # units that only score, per worker process, before a second one pays for itself
WORKER_BYTES = 1.0 * 2**30  # what one worker process may hold (torch, the metrics, a frame or two)
MAX_CACHE_CHECKS = 2000  # network units whose cached output is looked up (beyond: counted as network work)


@dataclass(frozen=True)
class WorkerChoice:
    """``workers`` processes (1: the driver's own, serial) and why, in one line."""

    workers: int
    line: str
    forced: bool = False

    @property
    def executor(self) -> str:
        return "processes" if self.workers > 1 else "serial"


def usable_cores() -> int:
    """The cores this process may run on (its affinity), at least one."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


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
    other processes keep busy (``load``, the 1-minute load average) are not counted."""
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


def _cores(n: int) -> str:
    return "1 core" if n == 1 else f"{n} cores"


def _busy(busy: int, cores: int) -> str:
    return f", {min(busy, cores)} kept busy by other processes (load average)" if busy else ""


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
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return choose(
        None, todo, network_of, cached, device, memory=available_memory(), budget=memory_budget(device), load=load
    )
