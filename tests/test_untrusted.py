"""Run folders, studies and requests as untrusted input (issue 39, section 1): nothing a file
says writes outside the target folder, reads outside the cache or the run, or reaches a
terminal or a client as a path or an escape sequence."""

import json
import os
import re
import shutil
import sqlite3
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from benchmark.cli import app as cli
from benchmark.core.imaging import write_png
from benchmark.errors import BenchError, BenchWarning, printable
from benchmark.reports import site as site_mod
from benchmark.run.cache import frames_dir
from benchmark.run.runfiles import public_name, redact, safe_run_name
from benchmark.run.runner import RunConfig, run
from benchmark.run.writer import ROWS_FILE, damaged_lines, scan
from benchmark.serve import study
from benchmark.serve.app import ServeConfig, create_app
from benchmark.serve.raters import clean_name

SECRET = b"TOP-SECRET-BYTES-0123456789"


def tree(root: Path, skip: Path | None = None) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` (but ``skip``) with its size and mtime: what a build may not touch."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if skip is not None and Path(dirpath).resolve().is_relative_to(skip.resolve()):
            continue
        for f in filenames:
            p = Path(dirpath) / f
            st = p.lstat()
            out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


def site_bytes(site: Path) -> bytes:
    return b"".join(p.read_bytes() for p in site.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.fixture
def one_run(tmp_path, image_folder):
    r = run(
        RunConfig(
            methods=["identity", "bicubic"],
            datasets=[f"{image_folder}@x2", str(image_folder)],
            metrics=["psnr"],
            out=str(tmp_path / "runs" / "r1"),
        ),
        progress=False,
    )
    assert not r.failures
    return r


def _art(run_dir: Path) -> dict:
    return json.loads((run_dir / "artifacts.json").read_text())


def _put_art(run_dir: Path, art: dict) -> None:
    (run_dir / "artifacts.json").write_text(json.dumps(art))


def _build(site: Path, dirs, **kw) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        site_mod.build(site, dirs, **kw)
    return [str(w.message) for w in caught if issubclass(w.category, BenchWarning)]


# ----------------------------------------------------------------------------- crafted artifacts and cache
def test_crafted_artifacts_and_cache_write_and_read_nothing_outside(one_run, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    secret_png = outside / "secret.png"
    write_png(secret_png, np.full((8, 8, 3), 7, np.uint8))
    d = one_run.out_dir
    art = _art(d)
    cache = Path(art["cache_dir"])
    it0, it1 = art["items"][0], art["items"][1]
    # keys that are paths, an absolute and a '..' source
    it0["outputs"]["evil"] = "../../../../outside/secret"
    it0["outputs"]["abs"] = str(outside / "secret.txt")
    it0["degraded"] = "../" * 8 + "etc/passwd"
    it0["source"] = "/etc/passwd"
    it1["source"] = "../../outside/secret.png"
    # a symlink in the cache: a frame file pointing at a secret, a frame set that is a link to a folder outside
    bicubic = frames_dir(cache, it1["outputs"]["bicubic"])
    (bicubic / "000000.png").unlink()
    (bicubic / "000000.png").symlink_to(secret_png)
    ident = frames_dir(cache, it1["outputs"]["identity"])
    moved = outside / "moved-frames"
    shutil.move(str(ident), moved)
    ident.symlink_to(moved, target_is_directory=True)
    _put_art(d, art)
    site = tmp_path / "site"
    before = tree(tmp_path, skip=site)
    said = _build(site, [d])
    assert (site / "index.html").exists()
    assert tree(tmp_path, skip=site) == before  # nothing written (or touched) outside the site
    assert any("artifacts.json" in s and "entries ignored" in s and "not a content key" in s for s in said), said
    names = [p.name for p in (site / "img").iterdir()]
    assert names and all(re.fullmatch(r"[0-9a-f]{20}-\d+\.png|src-[0-9a-f]{16}-\d+\.png", n) for n in names), names
    blob = site_bytes(site)
    assert SECRET not in blob and b"root:" not in blob and secret_png.read_bytes() not in blob
    assert not any(p.is_symlink() for p in site.rglob("*"))
    kept = _art(site / "data" / "runs" / one_run.run_id)
    assert kept["cache_dir"] == "<cache>" and all(
        i["source"] is None or i["source"].startswith("<data>/") for i in kept["items"]
    )
    assert all(re.fullmatch(r"[0-9a-f]{64}", k) for i in kept["items"] for k in i["outputs"].values())


def test_a_planted_link_in_the_site_is_replaced_not_written_through(one_run, tmp_path):
    site, outside = tmp_path / "site", tmp_path / "elsewhere"
    outside.mkdir()
    (site / "data" / "runs").mkdir(parents=True)
    (site / "data" / "runs" / one_run.run_id).symlink_to(outside, target_is_directory=True)
    (site / "img").mkdir()
    _build(site, [one_run.out_dir], fresh=False)
    assert list(outside.iterdir()) == []
    assert (site / "data" / "runs" / one_run.run_id).is_dir() and not (
        site / "data" / "runs" / one_run.run_id
    ).is_symlink()


# ----------------------------------------------------------------------------- run ids
@pytest.mark.parametrize("run_id", [".", "..", "", "../../evil", "a/b", "\x1b[2J", None, 5])
def test_a_run_id_that_is_no_folder_name_is_kept_under_the_folders_name(one_run, tmp_path, run_id):
    d = tmp_path / "runs" / "my run!"
    shutil.copytree(one_run.out_dir, d)
    m = json.loads((d / "manifest.json").read_text())
    m["run_id"] = run_id
    (d / "manifest.json").write_text(json.dumps(m))
    site = tmp_path / "site"
    said = _build(site, [d])
    assert sorted(p.name for p in (site / "data" / "runs").iterdir()) == ["my_run_"]
    if run_id not in (None, ""):  # none at all: the folder's name is the id, quietly
        assert any("is not a safe folder name" in s and "'my_run_'" in s for s in said), said
    assert not (site / "data" / "manifest.json").exists() and not (tmp_path / "evil").exists()
    html = (site / "index.html").read_text()
    assert "imgs@x2" in html and html.count('<table class="board"') == 2  # both data sets shown


def test_two_run_folders_with_one_run_id_are_both_kept(one_run, tmp_path):
    other = tmp_path / "elsewhere" / one_run.out_dir.name
    shutil.copytree(one_run.out_dir, other)
    said = _build(tmp_path / "site", [one_run.out_dir, other])
    assert sorted(p.name for p in (tmp_path / "site" / "data" / "runs").iterdir()) == [
        one_run.run_id,
        one_run.run_id + "-2",
    ]
    assert any("another run folder" in s for s in said)


def test_safe_run_name():
    assert safe_run_name("20240101-120000-abcdef", Path("x")) == ("20240101-120000-abcdef", None)
    for bad in (".", "..", "", "a/b", "..hidden", "x" * 200, "a\x00b"):
        name, why = safe_run_name(bad, Path("/tmp/some run"))
        assert name == "some_run" and why


# ----------------------------------------------------------------------------- rows.jsonl
def _unfinished(one_run, tmp_path, junk: bytes | None = None, whole: bytes | None = None) -> Path:
    d = tmp_path / "unfinished"
    shutil.copytree(one_run.out_dir, d)
    (d / "scores.parquet").unlink()
    (d / "scores.csv").unlink()
    if whole is not None:
        (d / ROWS_FILE).write_bytes(whole)
    else:
        lines = (d / ROWS_FILE).read_bytes().splitlines(keepends=True)
        (d / ROWS_FILE).write_bytes(lines[0] + junk + b"".join(lines[1:2]) + b'{"format": 1}\n' + b"".join(lines[2:]))
    return d


def test_junk_lines_between_good_ones_are_counted_and_the_good_ones_kept(one_run, tmp_path):
    good = len(scan(one_run.out_dir / ROWS_FILE).records)
    d = _unfinished(one_run, tmp_path, junk=b"\x00\xff garbage\n{not json\n")
    log = scan(d / ROWS_FILE)
    assert len(log.records) == good and log.damaged == 3 and damaged_lines(d / ROWS_FILE) == 3
    r = CliRunner().invoke(cli, ["report", str(d), "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    said = [line for line in r.output.splitlines() if line.startswith("warning:") and "damaged line" in line]
    assert len(said) == 1 and ROWS_FILE in said[0] and "3 damaged lines" in said[0], r.output
    assert "Traceback" not in r.output
    md = (tmp_path / "rep" / "leaderboard.md").read_text()
    assert "> **Incomplete**" in md and "3 damaged lines" in md  # the table says so too


def test_rows_of_random_bytes_are_refused_in_one_line(one_run, tmp_path):
    d = _unfinished(one_run, tmp_path, whole=np.random.default_rng(0).bytes(5000))
    assert scan(d / ROWS_FILE).records == [] and damaged_lines(d / ROWS_FILE) > 0
    r = CliRunner().invoke(cli, ["report", str(d), "--out", str(tmp_path / "rep")])
    assert r.exit_code == 2 and "holds no record of bench run" in r.output and "damaged line" in r.output, r.output
    assert "Traceback" not in r.output and not (tmp_path / "rep").exists()
    # beside a good run: that one is shown, this one skipped with a line naming it
    r = CliRunner().invoke(cli, ["report", str(one_run.out_dir), str(d), "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0 and f"skipped {d}" in r.output.replace("\n", "") and "psnr" in r.output, r.output


def test_a_resumed_log_keeps_the_records_after_a_damaged_line(one_run, tmp_path):
    from benchmark.run.writer import RowLog

    d = _unfinished(one_run, tmp_path, junk=b"junk\n")
    n = len(scan(d / ROWS_FILE).records)
    with pytest.warns(BenchWarning, match="2 damaged lines"):
        log = RowLog(d, resume=True)
    log.close()
    assert len(log.done) == n and len(scan(d / ROWS_FILE).records) == n  # nothing cut off after the junk


# ----------------------------------------------------------------------------- rater names
@pytest.fixture
def a_study(one_run, tmp_path):
    study.create(one_run.out_dir, protocol="dsis", name="s1", repeats=0, dataset=f"{one_run.rows['dataset'].iloc[0]}")
    return tmp_path / "runs"


def test_rater_names_are_cleaned_and_capped_at_the_api(a_study):
    c = TestClient(create_app(ServeConfig(runs_dir=a_study)))
    r = c.post("/api/study/s1/raters", json={"name": "\x1b[31mEve\x1b[0m \u202eevil\x07"})
    assert r.status_code == 200, r.text
    for body, want in (
        ({"name": "x" * 500_000}, "at most 64"),
        ({"name": "x" * 65}, "at most 64"),
        ({"name": "\x1b[2J\x07\u202e"}, "control characters"),
        ({"name": ["a"]}, "must be a string"),
    ):
        c.cookies.clear()
        r = c.post("/api/study/s1/raters", json=body)
        assert r.status_code == 422 and want in r.json()["error"], r.text
    con = study.connect(a_study)
    names = [x[0] for x in con.execute("SELECT name FROM raters")]
    con.close()
    assert names == ["Eve evil"]


def test_stored_names_reach_the_terminal_escaped(a_study):
    c = TestClient(create_app(ServeConfig(runs_dir=a_study)))
    c.post("/api/study/s1/raters", json={"name": "old"})
    t = c.get("/api/study/s1/next").json()
    while not t["done"]:
        t = c.post("/api/study/s1/answer", json={"trial": t["trial"], "value": 4}).json()
    con = sqlite3.connect(a_study / study.DB_NAME)  # a database written before names were cleaned
    with con:
        con.execute("UPDATE raters SET name=?", ("\x1b]0;pwned\x07\x1b[2J\u202eevil\x9b31m",))
    con.close()
    r = CliRunner().invoke(cli, ["study", "results", "s1", "--runs", str(a_study), "--no-write"])
    assert r.exit_code == 0, r.output
    assert not any(ch in r.output for ch in ("\x1b", "\x07", "\u202e", "\x9b")) and "\\x1b" in r.output


def test_clean_name_and_printable():
    assert clean_name(None) is None and clean_name("  ") is None
    assert clean_name(" Ana \x00 María\x7f\x85 ") == "Ana María"
    assert clean_name("\x1bP1;2|secret\x1b\\Bob") == "Bob"
    assert printable("a\x1b[2Jb\u2066") == "a\\x1b[2Jb\\u2066"


# ----------------------------------------------------------------------------- absolute paths
def test_no_absolute_path_in_the_built_or_served_site(one_run, tmp_path):
    runs = tmp_path / "runs"
    paths = {str(tmp_path), os.path.realpath(tmp_path), str(Path.home()), os.environ["BENCH_CACHE_DIR"]}
    site = tmp_path / "site"
    _build(site, [one_run.out_dir])
    for p in site.rglob("*"):
        if p.is_file():
            text = p.read_bytes().decode("utf-8", "replace") if p.suffix != ".parquet" else pd.read_parquet(p).to_csv()
            assert not any(x in text for x in paths), (p, [x for x in paths if x in text])
    m = json.loads((site / "data" / "runs" / one_run.run_id / "manifest.json").read_text())
    assert m["cache_dir"] == "<cache>" and m["options"]["out"] == "<run>"
    assert (site / "img").is_dir() and len(list((site / "img").iterdir())) >= 6  # the frames are still found
    c = TestClient(create_app(ServeConfig(runs_dir=runs)))
    assert c.get("/leaderboards/").status_code == 200
    served = c.get(f"/leaderboards/data/runs/{one_run.run_id}/manifest.json")
    assert served.status_code == 200 and "<cache>" in served.text and not any(x in served.text for x in paths)
    art = c.get(f"/leaderboards/data/runs/{one_run.run_id}/artifacts.json").text
    assert not any(x in art for x in paths)


def test_redaction_keeps_relative_facts():
    roots = [("/home/u/.cache/bench", "<cache>"), ("/data", "<data>"), ("/home/u", "~")]
    got = redact(
        {
            "cache_dir": "/home/u/.cache/bench",
            "command": ["/usr/bin/bench", "run", "-d", "/data/images/Set5@x2", "--out=/srv/r/1"],
            "url": "https://example.org/a/b",
            "unit": "frames/s",
            "spec": "/home/u/specs/a.toml",
            "n": 3,
        },
        roots,
    )
    assert got == {
        "cache_dir": "<cache>",
        "command": ["bench", "run", "-d", "<data>/images/Set5@x2", "--out=1"],
        "url": "https://example.org/a/b",
        "unit": "frames/s",
        "spec": "~/specs/a.toml",
        "n": 3,
    }
    assert public_name("/tmp/x/imgs@x2") == "imgs@x2" and public_name("ap/person") == "ap/person"


def test_site_of_a_kept_run_finds_its_frames_in_this_machines_cache(one_run, tmp_path):
    """bench publish: a run kept in the site (its copy says <cache>) is shown from this machine's cache."""
    site = tmp_path / "site"
    _build(site, [one_run.out_dir])
    n = len(list((site / "img").iterdir()))
    other = tmp_path / "runs" / "r2"
    shutil.copytree(one_run.out_dir, other)
    m = json.loads((other / "manifest.json").read_text())
    m["run_id"], m["started"] = "r2", "2000-01-01T00:00:00Z"
    (other / "manifest.json").write_text(json.dumps(m))
    _build(site, [other], fresh=False)
    assert len(list((site / "img").iterdir())) == n


def test_a_run_named_twice_or_damaged_among_good_ones_is_one_line(one_run, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(one_run.out_dir, bad)
    m = json.loads((bad / "manifest.json").read_text())
    m["started"] = 5
    (bad / "manifest.json").write_text(json.dumps(m))
    said = _build(tmp_path / "site", [one_run.out_dir, bad])
    assert any(str(bad) in s and "'started'" in s for s in said), said
    with pytest.raises(BenchError, match="started"):
        site_mod.build(tmp_path / "site2", [bad])


# ----------------------------------------------------------------------------- property: any run folder
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

GOOD_KEY, LINK_KEY = "ab" * 32, "cd" * 32
TEXT = st.text(max_size=24)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | TEXT,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(TEXT, c, max_size=3),
    max_leaves=8,
)
KEYS = st.one_of(
    st.just(GOOD_KEY),
    st.just(GOOD_KEY),
    st.sampled_from([LINK_KEY, "../../outside/x", "/etc/passwd", "", "AB" * 32, "a" * 63, "..", None]),
    TEXT,
)
SOURCES = (
    st.sampled_from([None, "/etc/passwd", "../../outside/secret.txt", "<data>/../x", "rel.png", "/dev/zero", "OUTSIDE"])
    | TEXT
)


def _row(method: str, item: str, value) -> dict:
    return {
        "run_id": "r",
        "dataset": "/abs/set@x2",
        "base": "/abs/set",
        "degradation": "x2",
        "item_id": item,
        "frame": 0,
        "scope": "image",
        "method": method,
        "method_version": "1",
        "metric": "psnr",
        "metric_version": "1",
        "value": value,
        "higher_is_better": True,
        "unit": "dB",
        "crop_border": 2,
        "bpp": None,
        "bitrate_kbps": None,
        "elapsed_s": 0.1,
        "status": "ok",
        "error": None,
    }


GOOD_ROWS = [
    _row(m, i, 30.0 + k)
    for k, (m, i) in enumerate([("identity", "a"), ("identity", "b"), ("bicubic", "a"), ("bicubic", "b")])
]


#: what a damaged file holds instead: JSON of any shape, random bytes, or no file at all (None)
DAMAGED = st.one_of(JSON.map(lambda v: json.dumps(v).encode()), st.binary(max_size=300), st.none())


def _mostly(good, other: st.SearchStrategy) -> st.SearchStrategy:
    """``good`` nine times in ten, else ``other``."""
    return st.sampled_from([True] * 9 + [False]).flatmap(lambda ok: st.just(good) if ok else other)


manifests = st.fixed_dictionaries(
    {
        "run_id": _mostly("r1", JSON),
        "started": _mostly("2024-01-01T00:00:00Z", JSON),
        "status": _mostly("complete", JSON),
        "cache_dir": _mostly("CACHE", JSON),
        "command": _mostly(["bench", "run", "-d", "/abs/set@x2"], JSON),
    }
).map(lambda m: json.dumps(m).encode())
items = st.fixed_dictionaries(
    {
        "dataset": _mostly("/abs/set@x2", JSON),
        "item_id": st.sampled_from(["a", "b"]) | JSON,
        "kind": _mostly("image", st.just("video") | JSON),
        "reference": KEYS,
        "degraded": KEYS,
        "outputs": st.dictionaries(st.sampled_from(["identity", "bicubic"]) | TEXT, KEYS, max_size=3) | JSON,
        "source": SOURCES,
    }
)
artifacts = st.fixed_dictionaries(
    {
        "cache_dir": _mostly("CACHE", st.sampled_from(["/", "relative", "OUTSIDE"]) | JSON),
        "items": st.lists(items, min_size=1, max_size=3) | JSON,
    }
).map(lambda a: json.dumps(a).encode())
record = st.just(json.dumps({"format": 1, "unit": "u1", "failures": [], "rows": GOOD_ROWS}).encode())
rows_log = st.lists(
    st.one_of(
        record, st.binary(max_size=40).filter(lambda b: b"\n" not in b), JSON.map(lambda v: json.dumps(v).encode())
    ),
    max_size=5,
).map(lambda lines: b"".join(x + b"\n" for x in lines))


@st.composite
def scores_csv(draw):
    df = pd.DataFrame(GOOD_ROWS).astype(object)
    damage = st.sampled_from([False] * 7 + [True])
    if draw(damage):
        df = df.drop(columns=draw(st.sampled_from(list(df.columns))))
    if draw(damage):
        df.loc[draw(st.integers(0, len(df) - 1)), draw(st.sampled_from(list(df.columns)))] = draw(TEXT)
    return df.to_csv(index=False).encode()


def _fill(d: Path, root: Path, files: dict[str, bytes | None]) -> None:
    d.mkdir()
    for name, data in files.items():
        if data is not None:
            data = data.replace(b"CACHE", str(root / "cache").encode()).replace(
                b"OUTSIDE", str(root / "outside").encode()
            )
            (d / name).write_bytes(data)


def _cache_and_outside(root: Path) -> None:
    """A cache with one good frame set and one that is a link to a folder outside; a secret outside."""
    from benchmark.run.cache import Cache

    outside = root / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    with Cache(root / "cache").writer(GOOD_KEY) as w:
        w.add(np.full((8, 8, 3), 99, np.uint8))
    shutil.copytree(frames_dir(root / "cache", GOOD_KEY), outside / "frames")
    frames_dir(root / "cache", LINK_KEY).parent.mkdir(parents=True, exist_ok=True)
    frames_dir(root / "cache", LINK_KEY).symlink_to(outside / "frames", target_is_directory=True)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    files=st.fixed_dictionaries(
        {"manifest.json": manifests, "artifacts.json": artifacts, "rows.jsonl": rows_log, "scores.csv": scores_csv()}
    ),
    damaged=st.dictionaries(
        st.sampled_from(["manifest.json", "artifacts.json", "rows.jsonl", "scores.csv"]), DAMAGED, max_size=2
    ),
    html=st.booleans(),
)
def test_any_run_folder_gives_a_result_or_one_line_and_writes_only_its_targets(files, damaged, html, tmp_path_factory):
    """Each file of a run folder with fields of any type and value, up to two of them replaced by
    junk (or missing): ``bench report`` (with or without ``--html``) gives a result or one line."""
    files = {**files, **damaged}
    root = tmp_path_factory.mktemp("fuzz")
    _cache_and_outside(root)
    d, out, site = root / "run", root / "out", root / "site"
    _fill(d, root, files)
    before = tree(root)
    args = ["report", str(d), "--out", str(out)] + (["--html", str(site)] if html else [])
    r = CliRunner().invoke(cli, args)
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert r.exit_code in (0, 2) and "Traceback" not in r.output, r.output
    assert sum(line.startswith("error:") for line in r.output.splitlines()) <= 1
    after = {
        p: v for p, v in tree(root).items() if not Path(p).is_relative_to(out) and not Path(p).is_relative_to(site)
    }
    assert after == before  # nothing written outside --out and the site
    if site.exists():
        assert SECRET not in site_bytes(site) and not any(p.is_symlink() for p in site.rglob("*"))


# ----------------------------------------------------------------------------- one bad part (section 3)
def test_a_damaged_run_among_good_ones_is_skipped_by_report_publish_and_serve(one_run, tmp_path):
    runs = tmp_path / "runs"
    bad_manifest, bad_scores = runs / "bad-manifest", runs / "bad-scores"
    for d in (bad_manifest, bad_scores):
        shutil.copytree(one_run.out_dir, d)
    m = json.loads((bad_manifest / "manifest.json").read_text())
    m["started"] = 5
    (bad_manifest / "manifest.json").write_text(json.dumps(m))
    (bad_scores / "scores.parquet").unlink()
    pd.read_csv(bad_scores / "scores.csv").drop(columns="metric").to_csv(bad_scores / "scores.csv", index=False)
    dirs = [str(one_run.out_dir), str(bad_manifest), str(bad_scores)]
    r = CliRunner().invoke(cli, ["report", *dirs, "--out", str(tmp_path / "rep"), "--html", str(tmp_path / "site")])
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output
    out = " ".join(r.output.split())
    assert (
        f"skipped {bad_manifest}: its manifest's 'started' is '5'" in out
        and f"skipped {bad_scores}: its scores.csv has no 'metric' column" in out
    )
    assert (tmp_path / "site" / "index.html").exists() and "psnr" in r.output
    r = CliRunner().invoke(cli, ["publish", str(tmp_path / "site"), str(bad_scores), str(one_run.out_dir)])
    assert r.exit_code == 0 and "has no 'metric' column" in r.output, r.output
    c = TestClient(create_app(ServeConfig(runs_dir=runs)))
    page = c.get("/leaderboards/")
    assert page.status_code == 200 and "imgs@x2" in page.text
    for d in (one_run.out_dir,):
        shutil.rmtree(d)
    page = TestClient(create_app(ServeConfig(runs_dir=runs))).get("/leaderboards/")
    assert (
        page.status_code == 200
        and "cannot be shown" in page.text
        and "&#39;started&#39;" in page.text
        and str(tmp_path) not in page.text
    )


def test_a_float_input_run_builds_its_site(tmp_path, image_folder):
    """A noisy input is kept unrounded (float32 ``.npy`` frames in the cache): the site shows it rounded."""
    r = run(
        RunConfig(
            methods=["identity", "bicubic"],
            datasets=[f"{image_folder}@noise25"],
            metrics=["psnr"],
            out=str(tmp_path / "run"),
        ),
        progress=False,
    )
    assert not r.failures
    deg = _art(r.out_dir)["items"][0]["degraded"]
    assert (frames_dir(os.environ["BENCH_CACHE_DIR"], deg) / "000000.npy").exists()  # a float frame set
    rr = CliRunner().invoke(
        cli, ["report", str(r.out_dir), "--out", str(tmp_path / "rep"), "--html", str(tmp_path / "site")]
    )
    assert rr.exit_code == 0, rr.output
    pages = "".join(p.read_text() for p in (tmp_path / "site" / "compare").glob("*.html"))
    assert f"{deg[:20]}-0.png" in pages and (tmp_path / "site" / "img" / f"{deg[:20]}-0.png").stat().st_size > 100
