"""benchmark.run.rundir: the run folder on its own: the configuration digest that names and finds
it, resuming the same configuration only, the lock, unwritable folders said in one line."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from benchmark.core.names import Specs
from benchmark.errors import BenchError
from benchmark.run.config import RunConfig
from benchmark.run.resolve import resolve_run
from benchmark.run.results import write_manifest
from benchmark.run.rundir import RunFolder, resumable, run_config, write_or_fail
from benchmark.run.writer import ROWS_FILE, OutputUnwritable


def _digest(cfg: RunConfig) -> str:
    return run_config(cfg, resolve_run(cfg, None, Specs.load([])))[1]


def test_the_digest_holds_what_changes_results_and_not_how_they_are_computed(image_folder):
    cfg = RunConfig(methods=["identity", "bicubic"], datasets=[f"{image_folder}@x2"], metrics=["psnr"])
    d = _digest(cfg)
    for incidental in (
        dict(batch_size=2),
        dict(device="cpu"),
        dict(workers=2),
        dict(executor="processes"),
        dict(retries=0),
        dict(cost=False),
    ):
        assert _digest(replace(cfg, **incidental)) == d, incidental
    changed = [
        replace(cfg, seed=1),
        replace(cfg, metrics=["psnr", "ssim"]),
        replace(cfg, methods=["identity"]),
        replace(cfg, limit=1),
        replace(cfg, crop_border=0),
        replace(cfg, max_frames=3),
    ]
    digests = [_digest(c) for c in changed]
    assert d not in digests and len(set(digests)) == len(digests)


def test_out_resumes_only_a_run_of_the_same_configuration(tmp_path):
    out = tmp_path / "run"
    cfg = RunConfig(out=str(out))
    assert resumable(cfg, "abc123") == (None, None)  # nothing there
    write_manifest(out, {"run_id": "r1", "config_digest": "abc123", "status": "interrupted"})
    found, manifest = resumable(cfg, "abc123")
    assert found == out and manifest["run_id"] == "r1"
    assert resumable(cfg, "other") == (None, None)  # another configuration starts afresh


def test_opening_takes_the_lock_and_a_second_opening_is_refused_until_it_is_released(tmp_path):
    cfg = RunConfig(out=str(tmp_path / "run"))
    first = RunFolder.open(cfg, "abc123")
    assert first.run_id.endswith("-abc123") and (first.out / ".bench.lock").read_text().startswith(f"pid {os.getpid()}")
    with pytest.raises(BenchError, match="in use by another bench run"):
        RunFolder.open(cfg, "abc123")
    first.unlock()
    RunFolder.open(cfg, "abc123").unlock()


def test_a_folder_that_refuses_writes_is_one_error_saying_where_the_rows_are(tmp_path):
    def fail():
        raise PermissionError(13, "Permission denied")

    with pytest.raises(OutputUnwritable) as exc:
        write_or_fail(tmp_path, fail, rows=12)
    msg = str(exc.value)
    assert "Permission denied" in msg and f"the 12 rows are kept in {tmp_path / ROWS_FILE}" in msg and "\n" not in msg
    assert exc.value.exit_code == 1
