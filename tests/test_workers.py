"""The local workers a run picks when the user does not say (benchmark/run/workers.py): from the cores
it may use, the units' kinds and the memory; ``--workers`` always wins."""

from __future__ import annotations

import pytest

from benchmark.run import workers
from benchmark.run.workers import UNITS_PER_WORKER, WORKER_BYTES, choose

GiB = 2**30


def units(score: int, net: int = 0, cached: int = 0):
    """Units as (runs a network, output cached) pairs."""
    return [(False, False)] * score + [(True, False)] * net + [(True, True)] * cached


def pick(us, cores=2, memory=64 * GiB, asked=None, device="cpu"):
    return choose(asked, us, lambda u: u[0], lambda u: u[1], device=device, cores=cores, memory=memory)


def test_metric_bound_units_get_every_core():
    c = pick(units(97), cores=2)
    assert (c.workers, c.executor) == (2, "processes")
    assert "2 processes" in c.line and "97 of 97 units only score" in c.line and "\n" not in c.line
    assert pick(units(200), cores=8).workers == 8


def test_one_core_one_process():
    c = pick(units(97), cores=1)
    assert (c.workers, c.executor) == (1, "serial") and "1 core" in c.line


def test_cores_kept_busy_by_other_processes_are_not_counted():
    def with_load(load, cores):
        return choose(None, units(200), lambda u: u[0], lambda u: u[1], cores=cores, memory=64 * GiB, load=load)

    assert with_load(0.9, 2).workers == 2  # less than a core busy: both
    c = with_load(1.2, 2)
    assert c.workers == 1 and "1 kept busy by other processes" in c.line
    assert with_load(5.0, 2).workers == 1 and with_load(3.5, 8).workers == 5


def test_network_units_keep_one_process():
    c = pick(units(8, net=13), cores=4)  # the default run: 8 scoring units, 13 network units
    assert c.workers == 1 and "13 of 21 units run a network" in c.line
    assert pick(units(20, net=20), cores=4).workers == 1  # as many: the networks' threads use the cores


def test_a_cached_output_makes_a_network_unit_metric_bound():
    assert pick(units(2, net=1, cached=40), cores=2).workers == 2


def test_too_few_units_do_not_pay_for_a_second_process():
    c = pick(units(2 * UNITS_PER_WORKER - 1), cores=2)
    assert c.workers == 1 and "too few" in c.line
    assert pick(units(2 * UNITS_PER_WORKER), cores=2).workers == 2
    assert pick(units(3 * UNITS_PER_WORKER), cores=8).workers == 3


def test_memory_caps_the_workers():
    c = pick(units(200), cores=8, memory=3.5 * WORKER_BYTES)
    assert c.workers == 3 and "memory for 3" in c.line
    assert pick(units(200), cores=8, memory=0.5 * WORKER_BYTES).workers == 1
    each = choose(None, units(200), lambda u: u[0], lambda u: u[1], cores=8, memory=8 * GiB, budget=WORKER_BYTES)
    assert each.workers == 4  # each worker with a network's budget of its own


def test_workers_as_asked_and_one_on_a_gpu():
    c = pick(units(97), cores=2, asked=1)
    assert (c.workers, c.forced, c.executor) == (1, True, "serial")
    assert pick(units(3), cores=1, asked=3).workers == 3
    assert pick(units(97), cores=8, device="cuda:0").workers == 1


def test_usable_cores_follow_the_affinity(monkeypatch):
    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert workers.usable_cores() == 1
    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert workers.usable_cores() == 3


@pytest.mark.parametrize("n", [0, 5])
def test_no_units(n):
    assert pick(units(0, net=n)).workers == 1


def test_busy_elsewhere_is_everyones_cpu_time_less_our_own(monkeypatch):
    """Other processes' share of our cores since a sample: all CPU seconds on them less this process's own."""
    clock = iter([10.0, 12.0])  # two wall seconds between the first sample and the choice
    seen = iter([(100.0, 7.0), (103.5, 8.5)])  # (everyone's CPU seconds on our cores, ours)

    def sample():
        allc, own = next(seen)
        return next(clock), allc, own

    monkeypatch.setattr(workers, "_sample", sample)
    start = workers._sample()
    assert workers.busy_elsewhere(start) == pytest.approx((3.5 - 1.5) / 2)  # one core kept busy by others


def test_busy_elsewhere_sees_a_process_spinning_beside_us_and_not_our_own_work():
    """Measured for real (loose bounds: others may share the machine): a child spinning on one of our
    cores is seen; this process's own spinning is not (it is not 'other processes')."""
    import subprocess
    import sys
    import time

    if workers._cpu_seconds(workers._our_cpus()) is None:
        pytest.skip("no /proc/stat")
    start = workers._sample()
    t_end = time.monotonic() + 0.6
    while time.monotonic() < t_end:  # our own work: not counted
        pass
    ours = workers.busy_elsewhere(start)
    child = subprocess.Popen(
        [sys.executable, "-c", "import time\nt = time.monotonic() + 3\nwhile time.monotonic() < t: pass"]
    )
    try:
        time.sleep(0.3)  # the child started
        start = workers._sample()
        time.sleep(1.0)
        theirs = workers.busy_elsewhere(start)
    finally:
        child.kill()
        child.wait()
    # whatever else runs adds to both; the child adds to theirs only (were our own spinning counted,
    # ours would be a whole core above)
    assert theirs - ours >= 0.25, (ours, theirs)
