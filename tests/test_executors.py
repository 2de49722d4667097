"""Plan and executors (issue 16): the same rows from serial, --workers and Ray; a worker,
a node or the driver killed mid-run; --dry-run; the plan file."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

import worker_plugins
from benchmark import registry
from benchmark.imaging import write_png
from benchmark.results import COLUMNS
from benchmark.runner import RunConfig, Runner, run
from benchmark.writer import PLAN_FILE, ROWS_FILE, read_records
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
    base = dict(methods=["identity", "ssim"], datasets=[f"{eight}@qf20"], metrics=["psnr", "ssim", "psnr-b", "fps"],
                out=str(tmp_path / f"o-{tag}"), cache_dir=str(tmp_path / f"c-{tag}"))
    return RunConfig(**{**base, **kw})


def test_serial_and_worker_processes_give_the_same_rows_and_write_the_plan_first(eight, tmp_path):
    serial = run(_cfg(eight, tmp_path, "serial"), progress=False)
    workers = run(_cfg(eight, tmp_path, "workers", executor="processes", workers=2), progress=False)
    assert len(serial.rows) == 8 * 2 * 4 and (serial.rows.status == "ok").all()
    pd.testing.assert_frame_equal(comparable(serial.rows), comparable(workers.rows))  # bit for bit, in plan order
    assert workers.manifest["executor"] == {"executor": "processes", "workers": 2, "threads_per_worker": max(1, (os.cpu_count() or 1) // 2),
                                            "retries": 2}
    plan = [json.loads(line) for line in (tmp_path / "o-workers" / PLAN_FILE).read_text().splitlines()]
    records, _ = read_records(tmp_path / "o-workers" / ROWS_FILE)
    assert len(plan) == 16 and sorted(p["unit"] for p in plan) == sorted(r["unit"] for r in records)  # each unit once
    assert [(p["item_id"], p["method"]) for p in plan] == [(f"img{i}", m) for i in range(8) for m in ("identity", "ssim")]


def test_a_dead_worker_is_replaced_its_unit_retried_and_a_unit_that_always_kills_becomes_error_rows(eight, tmp_path, mortal):
    marks = tmp_path / "marks"
    marks.mkdir()
    (marks / "once-img2").touch()
    (marks / "always-img5").touch()
    res = run(_cfg(eight, tmp_path, "kill", methods=[f"mortal:marks={marks}"], metrics=["psnr"], executor="processes", workers=2, retries=2),
              progress=False)
    ok = res.rows[res.rows.status == "ok"]
    assert sorted(ok.item_id) == [f"img{i}" for i in range(8) if i != 5]
    bad = res.rows[res.rows.status == "error"]
    assert list(bad.item_id) == ["img5"] and "died" in bad.error.iloc[0] and "3 times" in bad.error.iloc[0]
    assert len(res.failures) == 1 and "img5" in res.failures[0] and "unit" in res.failures[0]
    calls = [line.split()[0] for line in (marks / "calls").read_text().splitlines()]
    assert sorted(calls) == sorted(f"img{i}" for i in range(8) if i != 5)  # img2 finished once, on its second attempt
    records, _ = read_records(tmp_path / "o-kill" / ROWS_FILE)
    assert len({r["unit"] for r in records}) == len(records) == 8  # no unit written twice
    # the next run retries the failed unit only
    (marks / "always-img5").unlink()
    again = run(_cfg(eight, tmp_path, "kill", methods=[f"mortal:marks={marks}"], metrics=["psnr"], executor="processes", workers=2), progress=False)
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
        assert (run(_cfg(eight, tmp_path, "local2", methods=["local-only"], metrics=["psnr"]), progress=False).rows.status == "ok").all()
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
    args = [sys.executable, str(script), "run", "-q", "-m", f"identity,mortal:marks={marks}:slow=0.4", "-d", f"{eight}@qf20",
            "--metrics", "psnr,ssim", "-o", str(out), "--cache-dir", str(cache), "--workers", "2"]
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
    fresh = subprocess.run([*args[:-2], "-o", str(tmp_path / "fresh"), "--cache-dir", str(tmp_path / "c2")], capture_output=True, text=True, timeout=300)
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
    assert plan["counts"] == {"done": 0, "cached": 5, "todo": 3}  # another configuration: its units are cached, not done
    assert plan["estimated_s"] is not None and plan["estimated_s"] > 0 and plan["estimated_units"] == 3
    same = Runner(RunConfig(**cfg, limit=5, out=str(tmp_path / "o5"))).dry_run()
    assert same["counts"]["todo"] == 0
    from typer.testing import CliRunner

    from benchmark.cli import app

    r = CliRunner().invoke(app, ["run", "-m", "identity", "-d", f"{eight}@qf20", "--metrics", "psnr", "--cache-dir", str(tmp_path / "c"), "--dry-run"],
                           env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "3 to do, 5 cached" in r.output and "estimated" in r.output


# ----------------------------------------------------------------------------- Ray
ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")


def test_ray_on_this_machine_gives_the_same_rows(eight, tmp_path, mortal):
    serial = run(_cfg(eight, tmp_path, "serial"), progress=False)
    res = run(_cfg(eight, tmp_path, "ray", executor="ray"), progress=False)
    assert res.manifest["executor"]["executor"] == "ray" and not ray.is_initialized()
    pd.testing.assert_frame_equal(comparable(serial.rows), comparable(res.rows))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def two_nodes(tmp_path):
    """A head and a second node, both on 127.0.0.1, one CPU each."""
    ray_bin = shutil.which("ray", path=os.path.dirname(sys.executable)) or shutil.which("ray")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]), "RAY_AUTH_MODE": "disabled"}
    common = ["--num-cpus", "1", "--disable-usage-stats", "--include-dashboard", "false"]
    subprocess.run([ray_bin, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), *common], env=env, check=True,
                   capture_output=True, timeout=180)
    nm_port = _free_port()
    subprocess.run([ray_bin, "start", "--address", f"127.0.0.1:{port}", "--node-ip-address", "127.0.0.1", "--node-manager-port", str(nm_port),
                    *[c for c in common if c not in ("--include-dashboard", "false")]], env=env, check=True, capture_output=True, timeout=180)
    try:
        yield f"127.0.0.1:{port}", env
    finally:
        subprocess.run([ray_bin, "stop", "--force"], env=env, capture_output=True, timeout=120)


def test_two_node_ray_cluster_on_loopback_survives_a_killed_worker(eight, tmp_path, mortal, two_nodes):
    address, env = two_nodes
    monkey = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE",)}
    os.environ["RAY_AUTH_MODE"] = "disabled"
    marks = tmp_path / "marks"
    marks.mkdir()
    try:
        import threading

        killed = []

        def kill_one():  # kill the worker process that runs the first unit to start, mid-unit
            deadline = time.time() + 240
            while time.time() < deadline and not killed:
                for f in marks.glob("running-*"):
                    pid = int(f.read_text() or 0)
                    if pid:
                        os.kill(pid, signal.SIGKILL)
                        killed.append((f.name, pid))
                        return
                time.sleep(0.02)

        t = threading.Thread(target=kill_one, daemon=True)
        t.start()
        res = run(_cfg(eight, tmp_path, "ray2", methods=[f"mortal:marks={marks}:slow=0.5"], metrics=["psnr"], executor="ray", ray_address=address),
                  progress=False)
        t.join(5)
    finally:
        for k, v in monkey.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    assert killed, "no unit was seen running"
    assert res.manifest["executor"]["nodes"] == 2
    assert (res.rows.status == "ok").all() and sorted(res.rows.item_id) == [f"img{i}" for i in range(8)]  # the full rows
    pids = {line.split()[1] for line in (marks / "calls").read_text().splitlines()}
    assert str(killed[0][1]) not in pids and len(pids) >= 2  # the killed worker finished nothing; units ran in more than one worker
