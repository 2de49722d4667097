"""Subjective studies: creation from a run, raters through the API, statistics, result rows."""

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from benchmark.cli import app as cli
from benchmark.errors import BenchError
from benchmark.run.runner import RunConfig, run
from benchmark.serve import study
from benchmark.serve.app import ServeConfig, create_app


@pytest.fixture
def study_run(tmp_path, image_folder):
    r = run(
        RunConfig(
            methods=["identity", "bicubic"],
            datasets=[f"{image_folder}@x2"],
            metrics=["psnr"],
            out=str(tmp_path / "runs" / "r1"),
        ),
        progress=False,
    )
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
    """A simulated rater through the HTTP API, in a browser of their own (``c``'s cookies cleared first):
    ``grade(trial)`` -> value. The start's answer (pseudonym, resume link) and the number of answers."""
    c.cookies.clear()
    start = c.post(f"/api/study/{name}/raters", json={"name": rater_name}).json()
    t = c.get(f"/api/study/{name}/next").json()
    n = 0
    while not t["done"]:
        t = c.post(f"/api/study/{name}/answer", json={"trial": t["trial"], "value": grade(t)}).json()
        n += 1
    return start, n


def test_dsis_study_end_to_end(study_run, tmp_path):
    runs = tmp_path / "runs"
    info = study.create(study_run.out_dir, protocol="dsis", name="d1", repeats=2)
    assert (
        info["stimuli"] == 3 * 3 and info["trials_per_rater"] == 11
    )  # 3 items x (2 methods + hidden reference) + 2 repeats
    with pytest.raises(BenchError, match="exists already"):
        study.create(study_run.out_dir, name="d1")
    c = TestClient(create_app(ServeConfig(runs_dir=runs)))
    con = study.connect(runs)
    method_of = {
        r["a"]: (r["method"], r["ref"] == r["a"]) for r in con.execute("SELECT * FROM stimuli WHERE study='d1'")
    }

    def honest(bias):
        def grade(t):
            method, hidden = method_of[t["impaired"].rsplit("/", 1)[1]]
            return 5 if hidden else {"bicubic": 4, "identity": 2}[method] - bias

        return grade

    alice, n = _rate(c, "d1", "alice", honest(0))
    assert n == 11 and alice["rater"] == "rater-1"
    _rate(c, "d1", "bob", honest(1))
    _rate(c, "d1", "", lambda t: 1)  # grades even the hidden reference "very annoying"
    # stop and resume: with her own secret (the resume link), alice gets her list back, and no new trials
    c.cookies.clear()
    assert (
        c.post("/api/study/d1/resume", json={"key": alice["resume"].split("#resume=")[1]}).json()["rater"] == "rater-1"
    )
    assert c.get("/api/study/d1/next").json()["done"] is True
    assert c.post("/api/study/d1/answer", json={"trial": 0, "value": 7}).status_code == 400
    r = c.post("/api/study/d1/answer", json={"trial": 0, "value": 3})
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

    # `bench report RUN study-NAME`: each metric of the run against the people (issue 34), in the terminal, the
    # Markdown, agreement.csv and the site
    from typer.testing import CliRunner

    from benchmark.cli import app

    r = CliRunner().invoke(
        app,
        ["report", str(study_run.out_dir), str(out), "-o", str(tmp_path / "rep"), "--html", str(tmp_path / "site")],
        env={"COLUMNS": "220"},
    )
    assert r.exit_code == 0, r.output
    agr = pd.read_csv(tmp_path / "rep" / "agreement.csv")
    assert set(agr.metric) >= {"psnr"} and "mos" not in set(agr.metric) and (agr.n_items == 3).all()
    assert (
        "## Agreement with people" in (tmp_path / "rep" / "leaderboard.md").read_text() and "agreement.csv" in r.output
    )
    html = (tmp_path / "site" / "index.html").read_text()
    assert '<section id="agreement">' in html and list((tmp_path / "site" / "plots").glob("agreement-*.svg"))


def test_results_api_from_the_first_answer_on(study_run, tmp_path):
    """One grade, then two raters far apart: the results are JSON (null where no interval can be estimated),
    every interval inside the 1-5 scale."""
    runs = tmp_path / "runs"
    study.create(study_run.out_dir, protocol="dsis", name="f1", repeats=1)
    c = TestClient(create_app(ServeConfig(runs_dir=runs)), raise_server_exceptions=False)
    listed = c.get("/api/studies").json()["studies"][0]
    assert listed["dataset"] == "imgs@x2" and study_run.rows["dataset"].iloc[0].endswith(
        "/imgs@x2"
    )  # the name, not the server's path
    assert "imgs@x2" in c.get("/study").text and str(tmp_path) not in c.get("/study").text + c.get("/api/studies").text
    c.post("/api/study/f1/raters", json={"name": "first"})
    t = c.get("/api/study/f1/next").json()
    c.post("/api/study/f1/answer", json={"trial": t["trial"], "value": 4})
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
        _rate(
            c,
            "p1",
            name,
            lambda t: (
                0 if rank[method_of[t["left"].rsplit("/", 1)[1]]] > rank[method_of[t["right"].rsplit("/", 1)[1]]] else 1
            ),
        )
    res = study.results(con, "p1", boot=200)
    by = {m["method"]: m for m in res.methods}
    assert by["bicubic"]["bt"] > 0 > by["identity"]["bt"] and by["bicubic"]["wins"] == 6 and by["identity"]["wins"] == 0
    assert by["bicubic"]["bt_lo"] <= by["bicubic"]["bt"] <= by["bicubic"]["bt_hi"]
    assert all(d["hidden"] == 1.0 and d["repeat"] == 1.0 for d in res.raters.values())
    con.close()


def test_cli_study_create_and_results(study_run, tmp_path):
    runs = tmp_path / "runs"
    r = CliRunner().invoke(
        cli,
        ["study", "create", str(study_run.out_dir), "--name", "c1", "--items", "2", "--scale", "100", "--hold", "4.5"],
    )
    assert r.exit_code == 0, r.output
    assert "2 items" in r.output and "/study/c1" in r.output
    r = CliRunner().invoke(cli, ["study", "results", "c1", "--runs", str(runs)])
    assert r.exit_code == 2 and "no answers yet" in r.output
    c = TestClient(create_app(ServeConfig(runs_dir=runs)))
    r = c.post("/api/study/c1/answer", json={"trial": 0, "value": 50})  # no rater's cookie
    assert r.status_code == 403 and "press Start on /study/c1" in r.json()["error"]
    for name, v in (("a", 80), ("b", 70)):
        _rate(c, "c1", name, lambda t, v=v: 100 if t["impaired"].endswith(t["reference"].rsplit("/", 1)[1]) else v)
    r = CliRunner().invoke(cli, ["study", "results", "c1", "--runs", str(runs)])
    assert r.exit_code == 0, r.output
    assert "MOS" in r.output and "75.00" in r.output and "dropped: nobody" in r.output and "study-c1" in r.output
    r = CliRunner().invoke(cli, ["study", "create", str(study_run.out_dir), "--methods", "nope"])
    assert r.exit_code == 2 and "nope" in r.output and "identity" in r.output
    r = CliRunner().invoke(cli, ["study", "create", str(study_run.out_dir), "--name", "../x"])
    assert r.exit_code == 2 and "study name" in r.output
    page = c.get("/study/c1")
    assert page.status_code == 200 and "c1" in c.get("/study").text
    assert 'Each picture is shown for <b id="hold">4.5</b> s' in page.text  # the study's setting, on the rater's page
    assert c.get("/study/nope").status_code == 404


def test_going_on_as_a_rater_needs_their_secret(study_run, tmp_path):
    """A typed name is no way in: going on as a rater needs their own secret, the HttpOnly cookie set when
    they started or their private resume link; a missing or forged one is refused."""
    from benchmark.serve.raters import cookie_name

    runs = tmp_path / "runs"
    study.create(study_run.out_dir, protocol="dsis", name="s1", repeats=1)
    app = create_app(ServeConfig(runs_dir=runs))
    alice, mallory = TestClient(app), TestClient(app)
    r = alice.post("/api/study/s1/raters", json={"name": "Alice Example"})
    assert r.status_code == 200 and r.json()["rater"] == "rater-1" and r.json()["resumed"] is False
    cookie = r.headers["set-cookie"].lower()
    assert cookie.startswith(cookie_name("s1").lower() + "=") and "httponly" in cookie and "samesite=strict" in cookie
    key = r.json()["resume"].split("#resume=")[1]  # /study/s1#resume=ID.SECRET: a fragment, never sent to a server log
    first = alice.get("/api/study/s1/next").json()
    assert alice.post("/api/study/s1/answer", json={"trial": first["trial"], "value": 4}).status_code == 200
    r = mallory.post("/api/study/s1/raters", json={"name": "Alice Example"})  # her name, from another browser
    assert r.status_code == 409 and "resume link" in r.json()["error"] and "choose another name" in r.json()["error"]
    assert mallory.get("/api/study/s1/next").status_code == 403
    forged = key.split(".")[0] + "." + "x" * 32  # her public-looking id with a guessed secret
    mallory.cookies.set(cookie_name("s1"), forged)
    assert mallory.get("/api/study/s1/next").status_code == 403
    assert mallory.post("/api/study/s1/answer", json={"trial": 1, "value": 1}).status_code == 403
    assert mallory.post("/api/study/s1/resume", json={"key": forged}).status_code == 403
    # her own browser, no name typed: she goes on; her link in a new browser: the same list
    r = alice.post("/api/study/s1/raters", json={"name": ""})
    assert r.json() == {"rater": "rater-1", "resumed": True} and "set-cookie" not in r.headers
    later = TestClient(app)
    assert later.post("/api/study/s1/resume", json={"key": key}).json()["rater"] == "rater-1"
    assert later.get("/api/study/s1/next").json()["answered"] == 1
    assert "(as rater-1)" in later.get("/study/s1").text and "(as rater-" not in mallory.get("/study/s1").text
    con = study.connect(runs)
    assert key.split(".")[1] not in str(
        con.execute("SELECT * FROM raters").fetchall()[0][:]
    )  # only its SHA-256 is stored
    con.close()


def test_public_results_name_raters_by_pseudonym(study_run, tmp_path):
    """The results API and the exported rows and manifest (what the leaderboards copy) say rater-N, never a typed
    name, a rater id or a secret."""
    runs = tmp_path / "runs"
    study.create(study_run.out_dir, protocol="dsis", name="n1", repeats=1)
    c = TestClient(create_app(ServeConfig(runs_dir=runs)))
    keys = [
        _rate(c, "n1", who, lambda t: 4)[0]["resume"].split("#resume=")[1]
        for who in ("Zelda Typedname", "Yorick Typedname")
    ]
    api = c.get("/api/study/n1/results")
    assert set(api.json()["raters"]) == {"rater-1", "rater-2"}
    con = study.connect(runs)
    out = study.write_rows(study.results(con, "n1"), runs)
    con.close()
    public = (
        api.text + c.get("/api/studies").text + (out / "manifest.json").read_text() + (out / "scores.csv").read_text()
    )
    assert "Typedname" not in public and not any(part in public for k in keys for part in k.split("."))


def test_rater_cap_holds_under_parallel_starts_and_only_raters_who_answered_count(study_run, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    runs = tmp_path / "runs"
    study.create(study_run.out_dir, protocol="dsis", name="cap", repeats=1)
    app = create_app(ServeConfig(runs_dir=runs, max_raters=4))
    browsers = [TestClient(app) for _ in range(12)]
    with ThreadPoolExecutor(12) as ex:
        got = list(ex.map(lambda b: b.post("/api/study/cap/raters", json={"name": ""}), browsers))
    assert sorted(r.status_code for r in got) == [200] * 4 + [429] * 8
    refused = next(r for r in got if r.status_code == 429).json()["error"]
    assert "its 4 raters" in refused and "--max-raters" in refused
    con = study.connect(runs)
    assert con.execute("SELECT COUNT(*) FROM raters").fetchone()[0] == 4

    def listed():
        return TestClient(app).get("/api/studies").json()["studies"][0]["raters"]

    assert listed() == 0  # started, never answered: not a rater yet
    one = browsers[[r.status_code for r in got].index(200)]
    t = one.get("/api/study/cap/next").json()
    one.post("/api/study/cap/answer", json={"trial": t["trial"], "value": 5})
    assert listed() == 1 and len(one.get("/api/study/cap/results").json()["raters"]) == 1
    # starts that never rated keep no one out for long: idle ones are dropped when the cap is reached
    con.execute("UPDATE raters SET created='2000-01-01T00:00:00Z'")
    r = TestClient(app).post("/api/study/cap/raters", json={"name": "late"})
    assert r.status_code == 200 and r.json()["rater"] == "rater-5", r.text
    assert (
        con.execute("SELECT COUNT(*) FROM raters").fetchone()[0] == 2
        and one.get("/api/study/cap/next").status_code == 200
    )
    con.close()
