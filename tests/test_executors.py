"""Plan and executors (issue 16): the same rows from serial, --workers and Ray; a worker,
a node or the driver killed mid-run; --dry-run; the plan file."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from benchmark import registry
from benchmark.core.imaging import write_png
from benchmark.run.results import COLUMNS
from benchmark.run.runner import RunConfig, Runner, run
from benchmark.run.writer import PLAN_FILE, ROWS_FILE, read_records

import worker_plugins
from conftest import smooth_image

SAME = [c for c in COLUMNS if c not in ("run_id", "elapsed_s")]  # time is measured, not computed
TESTS = Path(__file__).parent


def comparable(df):
    df = df[SAME].copy()
    df.loc[df.metric == "fps", "value"] = 0.0
    return df.reset_index(drop=True)


@pytest.fixture
def eight(tmp_path):
    d = tmp_path / "eight"
    d.mkdir()
    for i in range(8):
        write_png(d / f"img{i}.png", smooth_image(64 + 8 * (i % 3), 72, seed=i))
    return d


@pytest.fixture
def mortal():
    registry.methods.register("mortal")(worker_plugins.Mortal)
    yield
    registry.methods.unregister("mortal")


def _cfg(eight, tmp_path, tag, **kw):
    base = dict(
        methods=["identity", "ssim"],
        datasets=[f"{eight}@qf20"],
        metrics=["psnr", "ssim", "psnr-b", "fps"],
        out=str(tmp_path / f"o-{tag}"),
        cache_dir=str(tmp_path / f"c-{tag}"),
    )
    return RunConfig(**{**base, **kw})


def test_serial_and_worker_processes_give_the_same_rows_and_write_the_plan_first(eight, tmp_path):
    serial = run(_cfg(eight, tmp_path, "serial"), progress=False)
    workers = run(_cfg(eight, tmp_path, "workers", executor="processes", workers=2), progress=False)
    assert len(serial.rows) == 8 * 2 * 4 and (serial.rows.status == "ok").all()
    pd.testing.assert_frame_equal(comparable(serial.rows), comparable(workers.rows))  # bit for bit, in plan order
    assert workers.manifest["executor"] == {
        "executor": "processes",
        "workers": 2,
        "threads_per_worker": max(1, (os.cpu_count() or 1) // 2),
        "retries": 2,
    }
    plan = [json.loads(line) for line in (tmp_path / "o-workers" / PLAN_FILE).read_text().splitlines()]
    records, _ = read_records(tmp_path / "o-workers" / ROWS_FILE)
    assert len(plan) == 16 and sorted(p["unit"] for p in plan) == sorted(r["unit"] for r in records)  # each unit once
    assert [(p["item_id"], p["method"]) for p in plan] == [
        (f"img{i}", m) for i in range(8) for m in ("identity", "ssim")
    ]


def test_a_dead_worker_is_replaced_its_unit_retried_and_a_unit_that_always_kills_becomes_error_rows(
    eight, tmp_path, mortal
):
    marks = tmp_path / "marks"
    marks.mkdir()
    (marks / "once-img2").touch()
    (marks / "always-img5").touch()
    res = run(
        _cfg(
            eight,
            tmp_path,
            "kill",
            methods=[f"mortal:marks={marks}"],
            metrics=["psnr"],
            executor="processes",
            workers=2,
            retries=2,
        ),
        progress=False,
    )
    ok = res.rows[res.rows.status == "ok"]
    assert sorted(ok.item_id) == [f"img{i}" for i in range(8) if i != 5]
    bad = res.rows[res.rows.status == "error"]
    assert list(bad.item_id) == ["img5"] and "died" in bad.error.iloc[0] and "3 times" in bad.error.iloc[0]
    assert len(res.failures) == 1 and "img5" in res.failures[0] and "unit" in res.failures[0]
    retried = {k.split(" / ")[1]: n for k, n in res.manifest["retried"].items()}
    assert retried == {"img2": 1, "img5": 3}  # said in the manifest (and by the CLI), not only in the error row
    calls = [line.split()[0] for line in (marks / "calls").read_text().splitlines()]
    assert sorted(calls) == sorted(f"img{i}" for i in range(8) if i != 5)  # img2 finished once, on its second attempt
    records, _ = read_records(tmp_path / "o-kill" / ROWS_FILE)
    assert len({r["unit"] for r in records}) == len(records) == 8  # no unit written twice
    # the next run retries the failed unit only
    (marks / "always-img5").unlink()
    again = run(
        _cfg(
            eight,
            tmp_path,
            "kill",
            methods=[f"mortal:marks={marks}"],
            metrics=["psnr"],
            executor="processes",
            workers=2,
        ),
        progress=False,
    )
    assert (again.rows.status == "ok").all() and len(again.rows) == 8 and again.manifest["units_resumed"] == 7


def test_a_plugin_defined_inside_a_function_is_refused_for_workers_with_the_reason(eight, tmp_path):
    from benchmark.api import Method
    from benchmark.errors import BenchError

    @registry.methods.register("local-only")
    class LocalOnly(Method):
        name = "local-only"

        def process(self, frames, ctx):
            return frames

    try:
        with pytest.raises(BenchError, match="local-only.*worker processes cannot import it"):
            run(_cfg(eight, tmp_path, "local", methods=["local-only"], executor="processes", workers=2), progress=False)
        assert (
            run(_cfg(eight, tmp_path, "local2", methods=["local-only"], metrics=["psnr"]), progress=False).rows.status
            == "ok"
        ).all()
    finally:
        registry.methods.unregister("local-only")


DRIVER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    import worker_plugins
    from benchmark import registry
    registry.methods.register("mortal")(worker_plugins.Mortal)
    from benchmark.cli import app
    if __name__ == "__main__":  # worker processes are spawned: they import this script (as every multiprocessing program must allow)
        app(sys.argv[1:])
    """
)


def test_a_killed_driver_with_workers_resumes_to_the_same_rows(eight, tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER.format(tests=str(TESTS)))
    marks = tmp_path / "marks"
    marks.mkdir()
    out, cache = tmp_path / "o", tmp_path / "cache"
    args = [
        sys.executable,
        str(script),
        "run",
        "-q",
        "-m",
        f"identity,mortal:marks={marks}:slow=0.25",
        "-d",
        f"{eight}@qf20",
        "--metrics",
        "psnr,ssim",
        "-o",
        str(out),
        "--cache-dir",
        str(cache),
        "--workers",
        "2",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not ((out / ROWS_FILE).exists() and len(read_records(out / ROWS_FILE)[0]) >= 4):
        time.sleep(0.05)
    proc.kill()  # SIGKILL: nothing runs in the driver
    proc.communicate(timeout=60)
    kept = len(read_records(out / ROWS_FILE)[0])
    assert 4 <= kept < 16
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["units_resumed"] >= kept
    records, _ = read_records(out / ROWS_FILE)
    assert len({r["unit"] for r in records}) == len(records) == 16  # none lost, none twice
    fresh = subprocess.run(
        [*args[:-2], "-o", str(tmp_path / "fresh"), "--cache-dir", str(tmp_path / "c2")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert fresh.returncode == 0, fresh.stderr
    a, b = pd.read_parquet(out / "scores.parquet"), pd.read_parquet(tmp_path / "fresh" / "scores.parquet")
    pd.testing.assert_frame_equal(comparable(a), comparable(b))


def test_dry_run_says_done_cached_and_todo_with_estimates_and_writes_nothing(eight, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = dict(methods=["identity"], datasets=[f"{eight}@qf20"], metrics=["psnr"], cache_dir=str(tmp_path / "c"))
    first = Runner(RunConfig(**cfg)).dry_run()
    assert first["counts"] == {"done": 0, "cached": 0, "todo": 8} and first["estimated_s"] is None
    assert not Path("runs").exists() and not (tmp_path / "c" / "costs.json").exists()
    run(RunConfig(**cfg, limit=5), progress=False)
    plan = Runner(RunConfig(**cfg)).dry_run()
    assert plan["counts"] == {
        "done": 0,
        "cached": 5,
        "todo": 3,
    }  # another configuration: its units are cached, not done
    assert plan["estimated_s"] is not None and plan["estimated_s"] > 0 and plan["estimated_units"] == 3
    same = Runner(RunConfig(**cfg, limit=5, out=str(tmp_path / "o5"))).dry_run()
    assert same["counts"]["todo"] == 0
    from typer.testing import CliRunner

    from benchmark.cli import app

    r = CliRunner().invoke(
        app,
        [
            "run",
            "-m",
            "identity",
            "-d",
            f"{eight}@qf20",
            "--metrics",
            "psnr",
            "--cache-dir",
            str(tmp_path / "c"),
            "--dry-run",
        ],
        env={"COLUMNS": "200"},
    )
    assert r.exit_code == 0, r.output
    assert "3 to do, 5 cached" in r.output and "estimated" in r.output


# ----------------------------------------------------------------------------- Ray
# Every Ray the tests start lives in a temporary folder of its own (RAY_TMPDIR: its sockets,
# logs and "current cluster" file), and the tests stop exactly what they started: never
# `ray stop`, which ends every Ray of the user on the machine.
ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")


def _ray_dir(tag: str) -> str:
    return tempfile.mkdtemp(prefix=f"bench-{tag}-", dir="/tmp")  # short: Ray's socket paths must stay under 107 bytes


@pytest.fixture(scope="module")
def private_ray():
    """Ray confined to this module's own temporary folder; workers import worker_plugins."""
    folder = _ray_dir("ray")
    mp = pytest.MonkeyPatch()
    mp.setenv("RAY_TMPDIR", folder)
    mp.delenv("RAY_ADDRESS", raising=False)
    mp.setenv("RAY_AUTH_MODE", "disabled")
    mp.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    yield folder
    mp.undo()
    shutil.rmtree(folder, ignore_errors=True)


def _processes_under(folder: str) -> list[int]:
    """PIDs of the processes whose command line or RAY_TMPDIR names ``folder`` (a Ray started there;
    `ray start`'s client server has it only in its environment)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (
                    folder.encode() in (d / "cmdline").read_bytes()
                    or f"RAY_TMPDIR={folder}\0".encode() in (d / "environ").read_bytes() + b"\0"
                ):
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


def _with_descendants(pids: list[int]) -> list[int]:
    """``pids`` and every process below them."""
    parent = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    found, todo = set(pids), list(pids)
    while todo:
        p = todo.pop()
        for child, ppid in parent.items():
            if ppid == p and child not in found:
                found.add(child)
                todo.append(child)
    return sorted(found)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="module")
def unrelated_ray(private_ray):
    """Somebody else's Ray on this machine (started with `ray start` in a folder of its own,
    as a user's would be): the Ray tests run while it is up and must leave it alone."""
    folder = _ray_dir("other")
    ray_bin = shutil.which("ray", path=os.path.dirname(sys.executable)) or shutil.which("ray")
    env = {**os.environ, "RAY_TMPDIR": folder}
    subprocess.run(
        [
            ray_bin,
            "start",
            "--head",
            "--port",
            str(_free_port()),
            "--temp-dir",
            folder,
            "--num-cpus",
            "1",
            "--include-dashboard",
            "false",
            "--disable-usage-stats",
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=180,
    )
    pids = _processes_under(folder)
    assert pids, "the unrelated Ray did not start"
    yield pids
    family = _with_descendants(_processes_under(folder))  # its agents renamed themselves: found by parent
    for sig in (signal.SIGTERM, signal.SIGKILL):  # exactly its processes
        for pid in family:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + 1.0
        while time.time() < deadline and any(_alive(p) for p in family):
            time.sleep(0.05)
    shutil.rmtree(folder, ignore_errors=True)


def test_ray_on_this_machine_gives_the_same_rows(eight, tmp_path, mortal, private_ray, unrelated_ray):
    serial = run(_cfg(eight, tmp_path, "serial"), progress=False)
    res = run(_cfg(eight, tmp_path, "ray", executor="ray"), progress=False)
    assert res.manifest["executor"]["executor"] == "ray" and not ray.is_initialized()
    assert res.manifest["executor"]["nodes"] == 1  # its own instance, not the unrelated one
    pd.testing.assert_frame_equal(comparable(serial.rows), comparable(res.rows))
    assert not _processes_under(private_ray)  # the instance it started is gone


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(private_ray, unrelated_ray):
    """Ray's own test cluster (ray.cluster_utils) on this machine: a head that runs no units and two nodes of one CPU."""
    from ray.cluster_utils import Cluster

    fast_death = {
        "health_check_initial_delay_ms": 0,
        "health_check_period_ms": 200,
        "health_check_timeout_ms": 200,
        "health_check_failure_threshold": 3,
    }  # a lost node is known in ~1 s, not Ray's default ~15 s
    c = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False, "_system_config": fast_death}
    )
    for _ in range(2):
        c.add_node(num_cpus=1)
    c.wait_for_nodes()
    yield c
    c.shutdown()


def _watch(marks: Path, act, seconds: float = 240):
    """Call ``act(pid)`` once with the pid of the first worker seen running a unit (in a thread)."""
    import threading

    done = []

    def loop():
        deadline = time.time() + seconds
        while time.time() < deadline and not done:
            for f in marks.glob("running-*"):
                pid = int(f.read_text() or 0)
                if pid:
                    act(pid)
                    done.append(pid)
                    return
            time.sleep(0.02)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return t, done


def test_a_two_node_ray_cluster_survives_a_killed_worker(eight, tmp_path, mortal, cluster):
    marks = tmp_path / "marks"
    marks.mkdir()
    t, killed = _watch(
        marks, lambda pid: os.kill(pid, signal.SIGKILL)
    )  # the worker of the first unit to start, mid-unit
    res = run(
        _cfg(
            eight,
            tmp_path,
            "ray2",
            methods=[f"mortal:marks={marks}:slow=0.3"],
            metrics=["psnr"],
            executor="ray",
            ray_address=cluster.address,
        ),
        progress=False,
    )
    t.join(5)
    assert killed, "no unit was seen running"
    assert res.manifest["executor"]["nodes"] == 3  # the head and the two nodes
    assert (res.rows.status == "ok").all() and sorted(res.rows.item_id) == [
        f"img{i}" for i in range(8)
    ]  # the full rows
    pids = {line.split()[1] for line in (marks / "calls").read_text().splitlines()}
    assert (
        str(killed[0]) not in pids and len(pids) >= 2
    )  # the killed worker finished nothing; units ran in more than one worker


def _node_of(cluster, pid: int):
    """The cluster node whose raylet started worker ``pid``."""
    ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    for node in cluster.worker_nodes:
        if any(p.process.pid == ppid for p in node.all_processes.get("raylet", [])):
            return node
    raise AssertionError(f"worker {pid} (parent {ppid}) is on no worker node")


def test_a_whole_ray_node_lost_mid_run_still_gives_every_row_once(eight, tmp_path, mortal, cluster):
    marks = tmp_path / "marks"
    marks.mkdir()
    lost = []
    t, _ = _watch(
        marks, lambda pid: (lost.append(_node_of(cluster, pid)), cluster.remove_node(lost[-1], allow_graceful=False))
    )
    res = run(
        _cfg(
            eight,
            tmp_path,
            "node",
            methods=[f"mortal:marks={marks}:slow=0.3"],
            metrics=["psnr"],
            executor="ray",
            ray_address=cluster.address,
        ),
        progress=False,
    )
    t.join(5)
    assert lost and lost[0] not in cluster.worker_nodes  # a node with a unit on it went away mid-run
    assert (res.rows.status == "ok").all() and sorted(res.rows.item_id) == [f"img{i}" for i in range(8)]
    records, _ = read_records(tmp_path / "o-node" / ROWS_FILE)
    assert len({r["unit"] for r in records}) == len(records) == 8  # each unit once


def test_the_ray_tests_left_the_unrelated_ray_alone(unrelated_ray):
    assert all(_alive(pid) for pid in unrelated_ray), "a test stopped a Ray it did not start"


# ----------------------------------------------------------------------------- the executors on their own
class _FakeWorker:
    """execute/prefetch as a UnitWorker offers them, recording the order of the calls."""

    def __init__(self):
        self.calls: list[tuple[str, str]] = []

    def prefetch(self, unit):
        self.calls.append(("prefetch", unit.item_id))

    def execute(self, unit, run_id, bar=None):
        from benchmark.run.unit import UnitResult

        self.calls.append(("execute", unit.item_id))
        return UnitResult(rows=[{"item_id": unit.item_id, "run_id": run_id}], seconds=0.0, computed=True)


def test_the_serial_executor_yields_each_units_result_in_order_and_prefetches_the_next_item():
    from benchmark.run.executors import SerialExecutor
    from benchmark.run.unit import Unit, UnitResult

    units = [Unit(f"k{i}{m}", "d", f"i{i}", m, "fp") for i in range(3) for m in ("a", "b")]
    worker = _FakeWorker()
    out = list(SerialExecutor(worker).run(units, "rid"))
    assert [u.key for u, _ in out] == [u.key for u in units]
    assert all(isinstance(r, UnitResult) and r.error is None and r.rows[0]["item_id"] == u.item_id for u, r in out)
    assert worker.calls.index(("prefetch", "i1")) < worker.calls.index(
        ("execute", "i0")
    )  # the next item while this one runs
    assert ("prefetch", "i0") not in worker.calls and worker.calls.count(("prefetch", "i1")) == 1
    no_prefetch = _FakeWorker()
    list(SerialExecutor(no_prefetch, prefetch=False).run(units, "rid"))
    assert all(c[0] == "execute" for c in no_prefetch.calls)


def test_the_process_executor_retries_a_dead_workers_unit_and_then_gives_the_reason(eight, tmp_path, mortal):
    from benchmark.core.names import Specs
    from benchmark.run.executors import ProcessExecutor
    from benchmark.run.plan import make_plan
    from benchmark.run.resolve import resolve_run
    from benchmark.run.unit import UnitResult
    from benchmark.run.work import worker_config

    marks = tmp_path / "marks"
    marks.mkdir()
    (marks / "once-img1").touch()
    (marks / "always-img2").touch()
    cfg = _cfg(eight, tmp_path, "direct", methods=[f"mortal:marks={marks}"], metrics=["psnr"], limit=3)
    plan = make_plan(resolve_run(cfg, None, Specs.load([])), cfg, 0)
    ex = ProcessExecutor(
        worker_config(cfg, tmp_path / "c-direct", None), workers=1, retries=1, threads=1, used={"mortal"}
    )
    results = {u.item_id: r for u, r in ex.run(plan.units, "rid")}
    assert all(isinstance(r, UnitResult) for r in results.values())
    assert (
        results["img0"].error is None and results["img0"].pid and [r["status"] for r in results["img0"].rows] == ["ok"]
    )
    assert results["img1"].error is None  # died once, ran again on a new worker
    assert (
        results["img2"].rows == []
        and "died" in results["img2"].error
        and "2 times (retries: 1)" in results["img2"].error
    )
    assert {k.split(" / ")[1]: n for k, n in ex.retried.items()} == {"img1": 1, "img2": 2}
