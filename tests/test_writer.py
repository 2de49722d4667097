"""benchmark.run.writer: the run's one writer (rows.jsonl) on its own: append, resume, a torn last
line, junk lines, the record a unit keeps, the plan file."""

from __future__ import annotations

import json

from benchmark.run.unit import Unit
from benchmark.run.writer import PLAN_FILE, ROWS_FILE, RowLog, damaged_lines, read_records, rows_of, write_plan


def _rows(n: int, value: float = 1.0) -> list[dict]:
    return [{"item_id": str(i), "value": value} for i in range(n)]


def test_appended_units_are_on_disk_at_once_and_a_resume_skips_only_the_clean_ones(tmp_path):
    log = RowLog(tmp_path, resume=False)
    log.append("u1", _rows(2), [], dataset="d")
    log.append("u2", _rows(1), ["d / a / m: boom"])
    records, _ = read_records(tmp_path / ROWS_FILE)  # before close: flushed per unit
    assert [r["unit"] for r in records] == ["u1", "u2"] and records[0]["dataset"] == "d"
    log.close()
    again = RowLog(tmp_path, resume=True)
    assert again.finished("u1")["rows"] == _rows(2) and again.finished("u2") is None  # a failed unit runs again
    again.append("u2", _rows(1, 2.0), [])
    again.close()
    assert rows_of(tmp_path / ROWS_FILE) == _rows(2) + _rows(1, 2.0)  # the last record of a unit replaces the earlier
    fresh = RowLog(tmp_path, resume=False)  # not resuming: the old log is gone
    fresh.close()
    assert read_records(tmp_path / ROWS_FILE)[0] == []


def test_a_torn_last_line_is_cut_and_junk_is_skipped_without_losing_what_follows(tmp_path):
    log = RowLog(tmp_path, resume=False)
    log.append("u1", _rows(1), [])
    log.close()
    path = tmp_path / ROWS_FILE
    good = json.dumps({"format": 1, "unit": "u2", "failures": [], "rows": _rows(1)})
    path.write_bytes(path.read_bytes() + b"not a record\n" + good.encode() + b"\n" + b'{"format": 1, "unit": "u3", "ro')
    assert damaged_lines(path) == 2
    resumed = RowLog(tmp_path, resume=True)
    assert set(resumed.done) == {"u1", "u2"}
    resumed.append("u3", _rows(1), [])
    resumed.close()
    assert [r["unit"] for r in read_records(path)[0]] == ["u1", "u2", "u3"] and damaged_lines(
        path
    ) == 1  # the torn tail cut off


def test_records_come_back_in_plan_order_whatever_the_finishing_order(tmp_path):
    log = RowLog(tmp_path, resume=False)
    for u in ("c", "a", "b"):
        log.append(u, _rows(1), [])
    assert [r["unit"] for r in log.records(["a", "b", "c", "missing"])] == ["a", "b", "c"]
    log.close()


def test_the_plan_is_written_before_anything_runs(tmp_path):
    units = [Unit(f"k{i}", "d", f"i{i}", "m", "fp", frames=1, pixels=64) for i in range(3)]
    path = write_plan(tmp_path, units, {"k1"})
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert path.name == PLAN_FILE and [x["unit"] for x in lines] == ["k0", "k1", "k2"]
    assert [x["todo"] for x in lines] == [False, True, False] and lines[0]["pixels"] == 64
