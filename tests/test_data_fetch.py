"""`bench data fetch` / `bench data list` against a local HTTP server (``server`` in conftest.py):
extraction into the layout `bench run` reads, resume, checksums (declared and trust on first
use), offline failure, and one download for sets that share an archive."""

import hashlib
import io
import json
import tarfile
import time
import zipfile

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.core.imaging import read_image, write_png
from benchmark.files import data

from conftest import smooth_image

runner = CliRunner()


def png_bytes(tmp_path, seed: int) -> bytes:
    p = tmp_path / f"_src{seed}.png"
    write_png(p, smooth_image(24, 32, seed=seed))
    return p.read_bytes()


@pytest.fixture
def bundle(tmp_path, server, monkeypatch):
    """An EDSR-like tar (two sets in one archive) and a CBSD68-like zip, served locally, as the catalogue."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for set_name, n in (("Set5", 5), ("Set14", 3)):
            for i in range(n):
                blob = png_bytes(tmp_path, 10 * len(set_name) + i)
                info = tarfile.TarInfo(f"benchmark/{set_name}/HR/img{i:03d}.png")
                info.size = len(blob)
                t.addfile(info, io.BytesIO(blob))
            lr = tarfile.TarInfo(f"benchmark/{set_name}/LR_bicubic/X2/img000x2.png")  # not part of the HR set
            lr.size = 3
            t.addfile(lr, io.BytesIO(b"abc"))
        evil = tarfile.TarInfo("benchmark/Set5/HR/../../../escape.png")
        evil.size = 3
        t.addfile(evil, io.BytesIO(b"bad"))
    tar = buf.getvalue()
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        for i in (101085, 102061, 103070):  # BSDS names: numbered, not consecutively
            z.writestr(f"CBSD68-dataset-master/CBSD68/original_png/{i}.png", png_bytes(tmp_path, i % 97))
        z.writestr("CBSD68-dataset-master/README.md", "readme")
    zipped = zbuf.getvalue()
    server.files["/edsr/benchmark.tar"] = tar
    server.files["/cbsd/master.zip"] = zipped
    sets = [
        data.StandardSet(
            "set5",
            "Set5",
            "images/Set5",
            (data.Part(server.url("/edsr/benchmark.tar"), {"benchmark/Set5/HR/": "images/Set5"}),),
            count=5,
        ),
        data.StandardSet(
            "set14",
            "Set14",
            "images/Set14",
            (data.Part(server.url("/edsr/benchmark.tar"), {"benchmark/Set14/HR/": "images/Set14"}),),
            count=3,
        ),
        data.StandardSet(
            "cbsd68",
            "CBSD68",
            "images/CBSD68",
            (
                data.Part(
                    server.url("/cbsd/master.zip"),
                    {"CBSD68-dataset-master/CBSD68/original_png/": "images/CBSD68"},
                    sha256=hashlib.sha256(zipped).hexdigest(),
                    size=len(zipped),
                ),
            ),
            count=3,
        ),
        data.StandardSet("vid4", "Vid4", "video/Vid4/GT", manual="get it from somewhere"),
    ]
    monkeypatch.setattr(data, "SETS", sets)
    return {"tar": tar, "zip": zipped, "root": tmp_path / "root"}


def test_fetch_extracts_the_layout_bench_run_reads(bundle, server, tmp_path):
    root = bundle["root"]
    r = runner.invoke(
        app, ["data", "fetch", "set5", "set14", "cbsd68", "--data-root", str(root), "-q"], env={"COLUMNS": "300"}
    )
    assert r.exit_code == 0, r.output
    assert server.paths.count("/edsr/benchmark.tar") == 1  # one download for the two sets that share it
    assert sorted(p.name for p in (root / "images/Set5").iterdir()) == [f"img{i:03d}.png" for i in range(5)]
    assert len(list((root / "images/Set14").iterdir())) == 3
    assert sorted(p.name for p in (root / "images/CBSD68").iterdir()) == ["101085.png", "102061.png", "103070.png"]
    assert not (tmp_path / "escape.png").exists() and not (root / "escape.png").exists()  # no path escapes the root
    assert not (root / ".downloads" / "benchmark.tar").exists()  # archives removed unless --keep-archive
    assert read_image(root / "images/Set5/img002.png").shape == (24, 32, 3)
    assert "matches the declared sha256" in r.output and "recorded now (trust on first use)" in r.output
    rec = json.loads((root / ".downloads" / "checksums.json").read_text())
    assert rec[server.url("/edsr/benchmark.tar")]["sha256"] == hashlib.sha256(bundle["tar"]).hexdigest()
    # the layout is the one `bench run` reads: a registered name, and the BSDS-numbered folder stays photos
    out = tmp_path / "run"
    r = runner.invoke(
        app,
        [
            "run",
            "-q",
            "-m",
            "bicubic",
            "-d",
            "set5-x2",
            "-d",
            f"{root / 'images/CBSD68'}@qf30",
            "--metrics",
            "psnr",
            "--data-root",
            str(root),
            "-o",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    df = pd.read_parquet(out / "scores.parquet")
    assert df[df.dataset == "set5-x2"].item_id.nunique() == 5
    assert set(df[df.dataset.str.endswith("@qf30")].scope) == {"image"}
    # a second fetch does nothing
    server.paths.clear()
    r = runner.invoke(app, ["data", "fetch", "set5", "--data-root", str(root), "-q"])
    assert r.exit_code == 0 and "already present" in r.output and server.paths == []


def test_data_list_shows_what_is_present(bundle):
    root = bundle["root"]
    r = runner.invoke(app, ["data", "list", "--data-root", str(root)], env={"COLUMNS": "300"})
    assert r.exit_code == 0, r.output
    lines = {l.split()[0]: l for l in r.output.splitlines() if l and not l.startswith(" ") and len(l.split()) > 1}
    assert "missing" in lines["set5"] and "missing" in lines["cbsd68"]
    assert "unknown: recorded on first download" in r.output and "declared" in r.output and "manual" in r.output
    runner.invoke(app, ["data", "fetch", "cbsd68", "--data-root", str(root), "-q"])
    (root / "images/Set5").mkdir(parents=True)
    write_png(root / "images/Set5/a.png", smooth_image(8, 8))
    r = runner.invoke(app, ["data", "--data-root", str(root)], env={"COLUMNS": "300"})
    lines = {l.split()[0]: l for l in r.output.splitlines() if l and not l.startswith(" ") and len(l.split()) > 1}
    assert "present" in lines["cbsd68"] and "incomplete (1 of 5)" in lines["set5"] and "missing" in lines["set14"]


def test_fetch_resumes_a_partial_download(bundle, server):
    root = bundle["root"]
    (root / ".downloads").mkdir(parents=True)
    half = len(bundle["zip"]) // 2
    (root / ".downloads" / "master.zip.part").write_bytes(bundle["zip"][:half])
    r = runner.invoke(app, ["data", "fetch", "cbsd68", "--data-root", str(root), "-q"], env={"COLUMNS": "300"})
    assert r.exit_code == 0, r.output
    assert server.ranges == [f"bytes={half}-"] and f"resumed from {half:,}" in r.output
    assert len(list((root / "images/CBSD68").iterdir())) == 3


def test_checksum_mismatch_declared_and_recorded(bundle, server, monkeypatch):
    root = bundle["root"]
    bad = [
        data.StandardSet(**{**s.__dict__, "parts": (data.Part(**{**s.parts[0].__dict__, "sha256": "0" * 64}),)})
        if s.name == "cbsd68"
        else s
        for s in data.SETS
    ]
    monkeypatch.setattr(data, "SETS", bad)
    r = runner.invoke(app, ["data", "fetch", "cbsd68", "--data-root", str(root), "-q"], env={"COLUMNS": "300"})
    assert r.exit_code == 2 and "expected " + "0" * 64 in r.output and "Traceback" not in r.output
    assert not (root / "images/CBSD68").exists() and not list((root / ".downloads").glob("master.zip*"))
    # trust on first use: a later download of the same URL that differs is refused
    assert runner.invoke(app, ["data", "fetch", "set5", "--data-root", str(root), "-q"]).exit_code == 0
    recorded = hashlib.sha256(bundle["tar"]).hexdigest()
    changed = bundle["tar"][:-1] + b"X"  # the server now sends other bytes of the same size
    server.files["/edsr/benchmark.tar"] = changed
    r = runner.invoke(app, ["data", "fetch", "set14", "--data-root", str(root), "-q"], env={"COLUMNS": "300"})
    out = " ".join(r.output.split())
    assert r.exit_code == 2 and f"expected {recorded}" in out and hashlib.sha256(changed).hexdigest() in out
    assert not (root / "images/Set14").exists()
    server.files["/edsr/benchmark.tar"] = bundle["tar"] + b"\0" * 1024  # and now a longer file
    r = runner.invoke(app, ["data", "fetch", "set14", "--data-root", str(root), "-q"], env={"COLUMNS": "300"})
    assert r.exit_code == 2 and f"expected {len(bundle['tar']):,}" in r.output and not (root / "images/Set14").exists()


def test_offline_fails_at_once_naming_url_and_folder(bundle, monkeypatch):
    root = bundle["root"]
    closed = [
        data.StandardSet(
            "set5",
            "Set5",
            "images/Set5",
            (data.Part("http://127.0.0.1:9/edsr/benchmark.tar", {"benchmark/Set5/HR/": "images/Set5"}),),
        )
    ]
    monkeypatch.setattr(data, "SETS", closed + [s for s in data.SETS if s.name == "vid4"])
    t0 = time.monotonic()
    r = runner.invoke(
        app, ["data", "fetch", "set5", "--data-root", str(root), "--timeout", "5"], env={"COLUMNS": "400"}
    )
    assert time.monotonic() - t0 < 5
    out = " ".join(r.output.split())
    assert (
        r.exit_code == 2
        and "cannot reach http://127.0.0.1:9/edsr/benchmark.tar" in out
        and str(root / "images/Set5") in out
    )
    r = runner.invoke(app, ["data", "fetch", "vid4", "--data-root", str(root)], env={"COLUMNS": "400"})
    assert (
        r.exit_code == 2
        and "get it from somewhere" in r.output
        and str(root / "video/Vid4/GT") in " ".join(r.output.split())
    )
    r = runner.invoke(app, ["data", "fetch", "set55", "--data-root", str(root)])
    assert r.exit_code == 2 and "'set5'" in r.output
    r = runner.invoke(app, ["data", "fetch", "set5"], env={"BENCH_DATA_ROOT": ""})
    assert r.exit_code == 2 and "--data-root" in r.output


def test_catalogue_layouts_are_the_ones_bench_run_reads():
    """Every real entry extracts into the folder its data-set class reads (or under it)."""
    from benchmark import registry

    for s in data.SETS:
        cls = registry.datasets.get(s.name)
        assert s.layout.startswith(cls.layout), (s.name, s.layout, cls.layout)
        for p in s.parts:
            assert p.url.startswith(("http://", "https://")) and (p.members or p.target)
            for folder in (p.members or {None: p.target}).values():
                assert folder.startswith(cls.layout.split("/")[0])
        assert s.parts or s.manual
    assert {
        "live1",
        "classic5",
        "set5",
        "set14",
        "bsd100",
        "urban100",
        "cbsd68",
        "kodak",
        "div2k",
        "vid4",
        "coco",
        "voc",
    } <= {s.name for s in data.SETS}
    assert np.all([p.sha256 is None or len(p.sha256) == 64 for s in data.SETS for p in s.parts])
