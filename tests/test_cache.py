"""benchmark.run.cache: the content-addressed store on its own (frames and JSON values, atomic
writes, checksums, verification)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmark.run.cache import Cache, CacheDamaged, frames_dir


def test_frames_round_trip_exactly_uint8_and_float(tmp_path):
    cache = Cache(tmp_path)
    u8 = [np.arange(48, dtype=np.uint8).reshape(4, 4, 3), np.full((4, 4, 3), 7, np.uint8)]
    with cache.writer("k8") as w:
        for f in u8:
            w.add(f)
        w.meta["info"] = {"bpp": 1.5}
    fl = [np.linspace(-3.25, 260.5, 48, dtype=np.float32).reshape(4, 4, 3)]
    with cache.writer("kf") as w:
        w.add(fl[0])
    assert (
        cache.has_frames("k8")
        and cache.frames_meta("k8")["frames"] == 2
        and cache.frames_meta("k8")["info"] == {"bpp": 1.5}
    )
    assert all(np.array_equal(a, b) and b.dtype == np.uint8 for a, b in zip(u8, cache.read_frames("k8")))
    (back,) = list(cache.read_frames("kf"))
    assert back.dtype == np.float32 and np.array_equal(back, fl[0])  # unrounded, unclipped
    assert frames_dir(tmp_path, "k8") == cache.frames_path("k8")


def test_a_failed_write_leaves_no_entry(tmp_path):
    cache = Cache(tmp_path)
    with pytest.raises(RuntimeError):
        with cache.writer("k") as w:
            w.add(np.zeros((2, 2, 3), np.uint8))
            raise RuntimeError("the stage failed half-way")
    assert not cache.has_frames("k") and not cache.frames_path("k").exists()


def test_a_damaged_frame_is_found_discarded_and_said(tmp_path):
    cache = Cache(tmp_path)
    with cache.writer("k") as w:
        w.add(np.zeros((4, 4, 3), np.uint8))
    victim = next(p for p in cache.frames_path("k").iterdir() if p.name != "meta.json")
    victim.write_bytes(victim.read_bytes() + b"junk")
    assert cache.check_frames("k") is None  # the meta is intact: only hashing the files sees it
    assert "does not match its checksum" in cache.check_frames("k", files=True)
    with pytest.raises(CacheDamaged, match="damaged"):
        list(cache.read_frames("k"))
    assert not cache.has_frames("k")  # discarded: the next run computes it again


def test_json_values_are_sealed_with_their_key(tmp_path):
    cache = Cache(tmp_path)
    assert cache.get_json("s") is None
    cache.put_json("s", {"values": [31.5, None]})
    assert cache.get_json("s") == {"values": [31.5, None]}
    entry = json.loads(cache.json_path("s").read_text())
    cache.json_path("t").parent.mkdir(parents=True, exist_ok=True)
    cache.json_path("t").write_text(json.dumps(entry))  # another key's sealed entry copied under this key
    problem, _ = cache.check_json("t")
    assert problem is not None and cache.get_json("t") is None and not cache.json_path("t").exists()


def test_verify_counts_and_fix_removes_the_damaged(tmp_path):
    cache = Cache(tmp_path)
    for k in ("a", "b"):
        with cache.writer(k) as w:
            w.add(np.zeros((2, 2, 3), np.uint8))
    cache.put_json("j", 1)
    (cache.frames_path("b") / "meta.json").write_text("{not json")
    report = cache.verify()
    assert report["ok"] == 2 and [(d["kind"], d["key"]) for d in report["damaged"]] == [("frames", "b")]
    assert cache.frames_path("b").exists()  # verify alone removes nothing
    assert cache.verify(fix=True)["fixed"]
    assert cache.has_frames("a") and not cache.frames_path("b").exists() and cache.get_json("j") == 1
