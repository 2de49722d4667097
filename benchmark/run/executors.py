"""Executors: they take a plan's work units and return each unit's result; the driver's
single writer (:class:`benchmark.run.writer.RowLog`) appends them, so the rows do not depend
on the executor or on the order in which units finish.

- ``serial`` (default): in the driver's process, nothing to start.
- ``processes`` (``--workers N``): N local worker processes (spawned, each with
  ``cores // N`` torch/BLAS threads so that N workers do not oversubscribe the cores).
  A worker that dies (killed, out of memory, a crashing extension) is replaced and its
  unit retried up to ``retries`` times, then the unit becomes error rows naming it.
- ``ray`` (``--executor ray [--ray-address ADDR]``): Ray tasks on an existing cluster
  (``ray.init()`` on this machine when no address is given); Ray retries a task whose
  worker or node dies (``max_retries``), then the unit becomes error rows.

Workers read inputs by path and write the content-addressed cache (atomic writes, so
concurrent workers and runs can share one); what the driver needs from a unit (rows,
detector/captioner predictions) comes back in the result, so a cache that is local to
each node loses nothing.
"""

from __future__ import annotations

import os
import time
import traceback
from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Any, Iterator

from benchmark.core.plugins import portable_plugins
from benchmark.errors import BenchError, error_text
from benchmark.run.unit import Unit, UnitResult
from benchmark.run.work import THREAD_VARS, run_unit_remote

if TYPE_CHECKING:  # pragma: no cover
    from benchmark.run.config import RunConfig

EXECUTORS = ("serial", "processes", "ray")
DEFAULT_RETRIES = 2


def worker_threads(workers: int) -> int:
    """torch/BLAS threads per worker: the cores shared out, at least one."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def _process_main(conn, cfg, plugins, threads) -> None:
    """A worker process: receive (unit, run_id), send back ("done", key, result)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver decides when to stop
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        unit, run_id = msg
        try:
            result = run_unit_remote(cfg, plugins, threads, unit, run_id)
            conn.send(("done", unit.key, result))
        except BaseException as exc:  # noqa: BLE001 - reported to the driver as the unit's error
            conn.send(("error", unit.key, error_text(exc), traceback.format_exc()))


# ----------------------------------------------------------------------------- driver side
class Executor:
    name = "?"
    retried: dict[str, int]  # unit label -> how many times its worker died under it (and it was run again)

    def __init__(self):
        self.retried = {}

    def run(self, units: list[Unit], run_id: str) -> Iterator[tuple[Unit, UnitResult]]:
        """Yields (unit, result) as units finish; a unit that could not be run at all (its worker
        died ``retries + 1`` times ...) has a result with only the reason (``UnitResult.failed``)."""
        raise NotImplementedError  # pragma: no cover

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name}

    def close(self) -> None:
        pass


class SerialExecutor(Executor):
    """Units one after the other in the driver; the next item's reference and degraded
    input are prepared in a background thread meanwhile (decoding and encoding release the
    GIL), so I/O and codecs overlap with the method and the metrics."""

    name = "serial"

    def __init__(self, worker, bar=None, prefetch: bool = True):
        super().__init__()
        self.worker, self.bar, self.prefetch = (
            worker,
            bar,
            prefetch,
        )  # worker: execute(unit, run_id, bar), prefetch(unit)

    def run(self, units, run_id):
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(1, thread_name_prefix="bench-prefetch") if self.prefetch else None
        ahead: dict[tuple[str, str], Any] = {}
        try:
            for i, u in enumerate(units):
                if pool is not None:
                    nxt = next((v for v in units[i + 1 :] if (v.dataset, v.item_id) != (u.dataset, u.item_id)), None)
                    if nxt is not None and (nxt.dataset, nxt.item_id) not in ahead:
                        ahead[(nxt.dataset, nxt.item_id)] = pool.submit(self.worker.prefetch, nxt)
                    fut = ahead.pop((u.dataset, u.item_id), None)
                    if fut is not None:
                        fut.result()  # never raises: a failure shows when the unit runs
                yield u, self.worker.execute(u, run_id, bar=self.bar)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)


class ProcessExecutor(Executor):
    """Local worker processes fed one unit at a time through pipes; the driver knows which
    unit each worker holds, so a worker's death is charged to its unit alone."""

    name = "processes"

    def __init__(
        self,
        cfg: "RunConfig",
        workers: int,
        retries: int = DEFAULT_RETRIES,
        threads: int | None = None,
        used: set[str] | None = None,
    ):
        super().__init__()
        if workers < 1:
            raise BenchError(f"--workers {workers}: use 1 or more")
        self.cfg, self.n, self.retries = cfg, workers, retries
        self.threads = threads or worker_threads(workers)
        self.plugins = portable_plugins(used)
        self.procs: list[dict[str, Any]] = []
        self.startup_failures = 0
        self.served_any = False

    def describe(self):
        return {"executor": self.name, "workers": self.n, "threads_per_worker": self.threads, "retries": self.retries}

    def _start(self):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        saved = {v: os.environ.get(v) for v in THREAD_VARS}
        os.environ.update({v: str(self.threads) for v in THREAD_VARS})  # before the child imports numpy/torch
        try:
            p = ctx.Process(target=_process_main, args=(child, self.cfg, self.plugins, self.threads), daemon=True)
            p.start()
        finally:
            for v, old in saved.items():
                if old is None:
                    os.environ.pop(v, None)
                else:
                    os.environ[v] = old
        child.close()
        w = {"proc": p, "conn": parent, "unit": None, "last_item": None, "served": 0}
        self.procs.append(w)
        return w

    @staticmethod
    def _pick(pending: "OrderedDict[tuple[str, str], deque]", w, busy_items: set) -> Unit:
        """Prefer the worker's last item (its input is prepared), then the first item nobody
        holds (at most one item per busy worker is skipped: constant time per pick)."""
        key = (
            w["last_item"]
            if w["last_item"] in pending
            else next((k for k in pending if k not in busy_items), next(iter(pending)))
        )
        q = pending[key]
        u = q.popleft()
        if not q:
            del pending[key]
        return u

    def run(self, units, run_id):
        from multiprocessing.connection import wait

        pending: OrderedDict[tuple[str, str], deque] = OrderedDict()  # item -> its units, in plan order
        for u in units:
            pending.setdefault((u.dataset, u.item_id), deque()).append(u)
        left = len(units)
        attempts: dict[str, int] = {}
        try:
            while left or any(w["unit"] for w in self.procs):
                while len(self.procs) < min(self.n, left + sum(1 for w in self.procs if w["unit"])):
                    self._start()
                busy_items = {(w["unit"].dataset, w["unit"].item_id) for w in self.procs if w["unit"]}
                for w in self.procs:
                    if w["unit"] is None and left:
                        u = self._pick(pending, w, busy_items)
                        left -= 1
                        busy_items.add((u.dataset, u.item_id))
                        w["unit"], w["last_item"] = u, (u.dataset, u.item_id)
                        w["conn"].send((u, run_id))
                waiting = {w["conn"]: w for w in self.procs if w["unit"]}
                waiting.update({w["proc"].sentinel: w for w in self.procs if w["unit"]})
                for ready in wait(list(waiting)):
                    w = waiting[ready]
                    if w["unit"] is None or w not in self.procs:  # already handled through its other handle
                        continue
                    u = w["unit"]
                    msg = None
                    if ready is w["conn"] or w["conn"].poll():
                        try:
                            msg = w["conn"].recv()
                        except (EOFError, OSError):
                            msg = None
                    if msg is not None:
                        w["unit"] = None
                        w["served"] += 1
                        self.served_any = True
                        if msg[0] == "done":
                            yield u, msg[2]
                        else:
                            yield u, UnitResult.failed(f"worker error: {msg[2]}")
                        continue
                    # the worker died holding u
                    w["proc"].join(5)
                    code = w["proc"].exitcode
                    self.procs.remove(w)
                    w["conn"].close()
                    w["unit"] = None
                    attempts[u.key] = attempts.get(u.key, 0) + 1
                    if not w["served"] and code and code > 0:
                        self.startup_failures += 1
                    self.retried[u.label()] = attempts[u.key]
                    if attempts[u.key] <= self.retries:  # first in line again
                        pending.setdefault((u.dataset, u.item_id), deque()).appendleft(u)
                        pending.move_to_end((u.dataset, u.item_id), last=False)
                        left += 1
                    else:
                        hint = (
                            '; no worker got going: a script that starts a run must guard it with `if __name__ == "__main__":` '
                            "(worker processes are spawned and import it), see the workers' traceback above"
                            if self.startup_failures and not self.served_any
                            else ""
                        )
                        yield (
                            u,
                            UnitResult.failed(
                                f"the worker process died (exit code {code}) running this unit {attempts[u.key]} times "
                                f"(retries: {self.retries}); see the method's memory use or run it alone with the "
                                f"serial executor{hint}"
                            ),
                        )
        finally:
            self.close()

    def close(self):
        for w in self.procs:
            try:
                w["conn"].send(None)
            except (OSError, BrokenPipeError):
                pass
        deadline = time.monotonic() + 5
        for w in self.procs:
            w["proc"].join(max(0.0, deadline - time.monotonic()))
            if w["proc"].is_alive():
                w["proc"].kill()
                w["proc"].join(2)
            w["conn"].close()
        self.procs.clear()


class RayExecutor(Executor):
    """Units as Ray tasks: ``max_retries`` covers a task whose worker process or node died."""

    name = "ray"

    def __init__(
        self,
        cfg: "RunConfig",
        address: str | None = None,
        retries: int = DEFAULT_RETRIES,
        cpus_per_unit: float = 1.0,
        used: set[str] | None = None,
    ):
        try:
            import ray
        except ImportError:
            raise BenchError(
                "--executor ray needs Ray: pip install 'bench-enhance[ray]' (or pip install ray)"
            ) from None
        super().__init__()  # Ray retries a task itself: its retries are not seen (nor counted) here
        self.ray, self.cfg, self.address, self.retries, self.cpus = ray, cfg, address, retries, cpus_per_unit
        self.plugins = portable_plugins(used)
        self._started = False
        if not ray.is_initialized():
            try:
                if address:
                    ray.init(address=address, log_to_driver=False, include_dashboard=False)
                else:
                    import sys

                    paths = [p for p in sys.path if p and os.path.isdir(p)]
                    ray.init(
                        log_to_driver=False,
                        include_dashboard=False,
                        runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}},
                    )
            except Exception as exc:
                raise BenchError(
                    f"cannot connect to the Ray cluster{' at ' + address if address else ''}: {type(exc).__name__}: {exc}"
                ) from None
            self._started = True
        self._remote = ray.remote(num_cpus=cpus_per_unit, max_retries=retries, retry_exceptions=False)(run_unit_remote)

    def describe(self):
        nodes = [n for n in self.ray.nodes() if n.get("Alive")]
        return {
            "executor": self.name,
            "address": self.address or "local",
            "nodes": len(nodes),
            "retries": self.retries,
            "cpus": sum(n.get("Resources", {}).get("CPU", 0) for n in nodes),
        }

    def run(self, units, run_id):
        ray = self.ray
        threads = max(1, int(self.cpus))
        cwd = os.getcwd()
        window = max(8, 4 * int(sum(n.get("Resources", {}).get("CPU", 0) for n in ray.nodes() if n.get("Alive")) or 2))
        todo = iter(units)
        refs: dict[Any, Unit] = {}

        def submit() -> None:  # at most `window` tasks in flight: a 300k-unit plan is not 300k pending tasks
            for u in todo:
                refs[self._remote.remote(self.cfg, self.plugins, threads, u, run_id, cwd)] = (
                    u  # small arguments, inline
                )
                if len(refs) >= window:
                    return

        submit()
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            for ref in done:
                u = refs.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # RayTaskError, WorkerCrashedError, NodeDiedError ... after the retries
                    result = UnitResult.failed(
                        f"{type(exc).__name__} after {self.retries} retries: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}"
                    )
                submit()
                yield u, result

    def close(self):
        if self._started:
            self.ray.shutdown()


def make_executor(
    name: str,
    worker,
    worker_cfg: "RunConfig",
    used: set[str],
    workers: int | None,
    ray_address: str | None,
    retries: int,
    bar=None,
) -> Executor:
    """The executor ``name``: serial runs ``worker`` in this process; processes and Ray build
    their own workers from ``worker_cfg`` (and the plug-ins ``used`` that were registered by code)."""
    if name not in EXECUTORS:
        raise BenchError(f"--executor {name!r}: use one of {', '.join(EXECUTORS)}")
    if name == "ray":
        return RayExecutor(worker_cfg, ray_address, retries, used=used)
    if name == "processes" or (workers and workers > 1):
        return ProcessExecutor(worker_cfg, workers or 2, retries, used=used)
    return SerialExecutor(worker, bar)
