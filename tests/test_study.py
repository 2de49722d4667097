"""Subjective studies: creation from a run, raters through the API, statistics, result rows."""

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from benchmark.cli import app as cli
from benchmark.errors import BenchError
from benchmark.runner import RunConfig, run
from benchmark.serve import study
from benchmark.serve.app import ServeConfig, create_app


@pytest.fixture
def study_run(tmp_path, image_folder):
    r = run(RunConfig(methods=["identity", "bicubic"], datasets=[f"{image_folder}@x2"], metrics=["psnr"], out=str(tmp_path / "runs" / "r1")),
            progress=False)
    assert not r.failures
    return r


def test_mean_ci_is_the_student_t_interval():
    v = np.array([3.0, 4.0, 5.0, 4.0])
    m, lo, hi = study.mean_ci(v)
    assert m == 4.0 and hi - m == pytest.approx(3.182446 * v.std(ddof=1) / 2, rel=1e-5)  # t(0.975, 3)
    assert study.mean_ci(np.array([4.0])) == (4.0, None, None)  # no interval from one grade
    assert study.mean_ci(np.array([1.0, 5.0]), (1, 5)) == (3.0, 1.0, 5.0)  # t(0.975, 1) = 12.7: clipped to the scale


def test_bt500_screening_rejects_an_erratic_rater():
    rng = np.random.default_rng(0)
    truth = rng.uniform(1.5, 4.5, 40)
    scores = {}
    for r in range(12):
        for s, t in enumerate(truth):
            scores[(f"r{r}", s)] = float(t + rng.normal(0, 0.4))
    for s, t in enumerate(truth):  # 1.5 above or below at random: outside 2 sigma on both sides
        scores[("erratic", s)] = float(t + 1.5 * rng.choice([-1, 1]))
    dropped = study.bt500_screen(scores)
    assert list(dropped) == ["erratic"] and "BT.500" in dropped["erratic"]


def test_bradley_terry_orders_by_wins():
    wins = [("a", "b")] * 8 + [("b", "a")] * 2 + [("b", "c")] * 7 + [("c", "b")] * 3 + [("a", "c")] * 9 + [("c", "a")]
    s = study.bradley_terry(wins, ["a", "b", "c"])
    assert s[0] > s[1] > s[2] and abs(s.sum()) < 1e-9
    assert 1 / (1 + np.exp(-(s[0] - s[1]))) == pytest.approx(0.7, abs=0.12)


def _rate(c, name, rater_name, grade):
    """A simulated rater through the HTTP API: ``grade(trial)`` -> value."""
    rid = c.post(f"/api/study/{name}/raters", json={"name": rater_name}).json()["rater"]
    t = c.get(f"/api/study/{name}/next", params={"rater": rid}).json()
    n = 0
    while not t["done"]:
        t = c.post(f"/api/study/{name}/answer", json={"rater": rid, "trial": t["trial"], "value": grade(t)}).json()
        n += 1
    return rid, n


def test_dsis_study_end_to_end(study_run, tmp_path):
    runs = tmp_path / "runs"
    info = study.create(study_run.out_dir, protocol="dsis", name="d1", repeats=2)
    assert info["stimuli"] == 3 * 3 and info["trials_per_rater"] == 11  # 3 items x (2 methods + hidden reference) + 2 repeats
    with pytest.raises(BenchError, match="exists already"):
        study.create(study_run.out_dir, name="d1")
    c = TestClient(create_app(ServeConfig(runs_dir=runs)))
    con = study.connect(runs)
    method_of = {r["a"]: (r["method"], r["ref"] == r["a"]) for r in con.execute("SELECT * FROM stimuli WHERE study='d1'")}

    def honest(bias):
        def grade(t):
            method, hidden = method_of[t["impaired"].rsplit("/", 1)[1]]
            return 5 if hidden else {"bicubic": 4, "identity": 2}[method] - bias
        return grade

    _, n = _rate(c, "d1", "alice", honest(0))
    assert n == 11
    _rate(c, "d1", "bob", honest(1))
    _rate(c, "d1", "", lambda t: 1)  # grades even the hidden reference "very annoying"
    # stop and resume: a named rater who comes back gets the same id and no new trials
    rid = c.post("/api/study/d1/raters", json={"name": "alice"}).json()["rater"]
    assert c.get("/api/study/d1/next", params={"rater": rid}).json()["done"] is True
    assert c.post("/api/study/d1/answer", json={"rater": rid, "trial": 0, "value": 7}).status_code == 400
    r = c.post("/api/study/d1/answer", json={"rater": rid, "trial": 0, "value": 3})
    assert r.status_code == 400 and "answered already" in r.json()["error"]

    res = study.results(con, "d1")
    kept = {d["name"] for d in res.raters.values() if d["kept"]}
    dropped = {d["name"]: d["reason"] for d in res.raters.values() if not d["kept"]}
    assert kept == {"alice", "bob"} and "hidden reference" in dropped["anonymous"]
    by = {m["method"]: m for m in res.methods}
    assert by["bicubic"]["mos"] == pytest.approx(3.5) and by["identity"]["mos"] == pytest.approx(1.5)
    assert by["bicubic"]["mos_lo"] < 3.5 < by["bicubic"]["mos_hi"] and by["bicubic"]["raters"] == 2
    assert by["identity"]["dmos"] == pytest.approx(3.5)  # hidden reference 5 minus the grade
    out = study.write_rows(res, runs)
    rows = pd.read_parquet(out / "scores.parquet")
    mos = rows[rows["metric"] == "mos"]
    assert len(mos) == 6 and mos["higher_is_better"].all() and set(mos["dataset"]) == set(study_run.rows["dataset"])
    assert rows[(rows["metric"] == "mos-raters")]["value"].tolist() == [2.0, 2.0]
    assert not rows[rows["metric"] == "dmos"]["higher_is_better"].any()

    # the MOS column joins the run's leaderboard
    from benchmark.reports import leaderboard, site

    summary = leaderboard.summarize(leaderboard.load_runs([study_run.out_dir, out]))
    assert {"psnr", "mos", "dmos", "mos-raters"} <= set(summary["metric"])
    board = site.leaderboards(pd.concat([study_run.rows, rows]))[0]
    assert [m["name"] for m in board["metrics"]][:2] == ["psnr", "mos"] and board["rows"][0]["method"] == "bicubic"
    con.close()


def test_results_api_from_the_first_answer_on(study_run, tmp_path):
    """One grade, then two raters far apart: the results are JSON (null where no interval can be estimated),
    every interval inside the 1-5 scale."""
    runs = tmp_path / "runs"
    study.create(study_run.out_dir, protocol="dsis", name="f1", repeats=1)
    c = TestClient(create_app(ServeConfig(runs_dir=runs)), raise_server_exceptions=False)
    listed = c.get("/api/studies").json()["studies"][0]
    assert listed["dataset"] == "imgs@x2" and study_run.rows["dataset"].iloc[0].endswith("/imgs@x2")  # the name, not the server's path
    assert "imgs@x2" in c.get("/study").text and str(tmp_path) not in c.get("/study").text + c.get("/api/studies").text
    rid = c.post("/api/study/f1/raters", json={"name": "first"}).json()["rater"]
    t = c.get("/api/study/f1/next", params={"rater": rid}).json()
    c.post("/api/study/f1/answer", json={"rater": rid, "trial": t["trial"], "value": 4})
    r = c.get("/api/study/f1/results")
    assert r.status_code == 200, r.text
    m = r.json()["methods"][0]
    assert m["mos"] == 4.0 and m["mos_lo"] is None and m["mos_hi"] is None and m["n"] == 1
    _rate(c, "f1", "low", lambda t: 1)
    _rate(c, "f1", "high", lambda t: 5)
    r = c.get("/api/study/f1/results", params={"screen": "false"})
    assert r.status_code == 200 and "NaN" not in r.text, r.text
    rows = r.json()["methods"] + r.json()["items"]
    spread = [x for x in rows if x["mos_lo"] is not None and x["mos_hi"] - x["mos_lo"] > 0]
    assert spread and all(1 <= x["mos_lo"] <= x["mos"] <= x["mos_hi"] <= 5 for x in rows if x["mos_lo"] is not None)
    assert all(-4 <= x["dmos_lo"] <= x["dmos_hi"] <= 4 for x in rows if x["dmos_lo"] is not None)
    r = CliRunner().invoke(cli, ["study", "results", "f1", "--runs", str(runs), "--no-write"])
    assert r.exit_code == 0, r.output


def test_pairwise_study_bradley_terry(study_run, tmp_path):
    runs = tmp_path / "runs"
    study.create(study_run.out_dir, protocol="pairwise", name="p1")
    c = TestClient(create_app(ServeConfig(runs_dir=runs)))
    con = study.connect(runs)
    method_of = {}
    for r in con.execute("SELECT * FROM stimuli WHERE study='p1'"):
        method_of[r["a"]] = "reference" if r["a"] == r["ref"] else r["method"]
        method_of[r["b"]] = r["method_b"]
    rank = {"reference": 3, "bicubic": 2, "identity": 1}
    for name in ("a", "b"):
        _rate(c, "p1", name, lambda t: 0 if rank[method_of[t["left"].rsplit("/", 1)[1]]] > rank[method_of[t["right"].rsplit("/", 1)[1]]] else 1)
    res = study.results(con, "p1", boot=200)
    by = {m["method"]: m for m in res.methods}
    assert by["bicubic"]["bt"] > 0 > by["identity"]["bt"] and by["bicubic"]["wins"] == 6 and by["identity"]["wins"] == 0
    assert by["bicubic"]["bt_lo"] <= by["bicubic"]["bt"] <= by["bicubic"]["bt_hi"]
    assert all(d["hidden"] == 1.0 and d["repeat"] == 1.0 for d in res.raters.values())
    con.close()


def test_cli_study_create_and_results(study_run, tmp_path):
    runs = tmp_path / "runs"
    r = CliRunner().invoke(cli, ["study", "create", str(study_run.out_dir), "--name", "c1", "--items", "2", "--scale", "100"])
    assert r.exit_code == 0, r.output
    assert "2 items" in r.output and "/study/c1" in r.output
    r = CliRunner().invoke(cli, ["study", "results", "c1", "--runs", str(runs)])
    assert r.exit_code == 2 and "no answers yet" in r.output
    c = TestClient(create_app(ServeConfig(runs_dir=runs)))
    assert c.post("/api/study/c1/answer", json={"rater": "x", "trial": 0, "value": 50}).status_code == 400
    for name, v in (("a", 80), ("b", 70)):
        _rate(c, "c1", name, lambda t, v=v: 100 if t["impaired"].endswith(t["reference"].rsplit("/", 1)[1]) else v)
    r = CliRunner().invoke(cli, ["study", "results", "c1", "--runs", str(runs)])
    assert r.exit_code == 0, r.output
    assert "MOS" in r.output and "75.00" in r.output and "dropped: nobody" in r.output and "study-c1" in r.output
    r = CliRunner().invoke(cli, ["study", "create", str(study_run.out_dir), "--methods", "nope"])
    assert r.exit_code == 2 and "nope" in r.output and "identity" in r.output
    r = CliRunner().invoke(cli, ["study", "create", str(study_run.out_dir), "--name", "../x"])
    assert r.exit_code == 2 and "study name" in r.output
    assert c.get("/study/c1").status_code == 200 and "c1" in c.get("/study").text
    assert c.get("/study/nope").status_code == 404
