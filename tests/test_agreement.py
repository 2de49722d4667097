"""Agreement with people (issue 34, section 3): SRCC/KRCC/PLCC against scipy, the VQEG logistic
fit, the vectorized bootstrap against scipy on repeated points, simulated raters, the flag on a
metric that ranks the methods against the people, orientation (NIQE), too few items, seeding,
and the outputs (CSV, Markdown, terminal, scatter plots). Synthetic rows only: no run."""

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from scipy import stats

from benchmark.reports import agreement as ag
from benchmark.reports.agreement_plots import scatter_plots
from benchmark.reports.leaderboard import load_runs
from benchmark.run.results import COLUMNS, to_frame, write_scores

METHODS = ("identity", "bicubic", "ssim", "gan")


def tidy(
    values: dict, metric: str, hib: bool = True, dataset: str = "live1-qf10", scope: str = "image", unit: str = ""
) -> list[dict]:
    """Tidy rows of one metric: ``values`` {(method, item_id): value}."""
    return [
        {c: None for c in COLUMNS}
        | {
            "run_id": "study-s" if metric in ag.SUBJECTIVE else "r",
            "dataset": dataset,
            "base": dataset.split("-")[0],
            "degradation": "qf10",
            "item_id": item,
            "frame": -1 if scope == "clip" else 0,
            "scope": scope,
            "method": method,
            "method_version": "1",
            "metric": metric,
            "metric_version": "1",
            "value": float(v),
            "higher_is_better": hib,
            "unit": unit,
            "crop_border": 0,
            "bpp": np.nan,
            "bitrate_kbps": np.nan,
            "elapsed_s": 0.0,
            "status": "ok",
            "error": None,
        }
        for (method, item), v in values.items()
    ]


def frame(*parts: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([r for p in parts for r in p])


def grid(n_items: int, methods=METHODS, seed: int = 0) -> dict:
    """PSNR per (method, item): a per-item offset and a per-method gain, so both vary."""
    rng = np.random.default_rng(seed)
    item_off = rng.normal(0, 1.5, n_items)
    return {
        (m, f"im{i:02d}"): 26 + item_off[i] + 0.8 * k + rng.normal(0, 0.3)
        for k, m in enumerate(methods)
        for i in range(n_items)
    }


def row(res: ag.AgreementResult, metric: str) -> pd.Series:
    return res.table.set_index("metric").loc[metric]


X = np.array([1.0, 2.5, 2.5, 4.0, 3.0, 7.5, 6.0, 8.0, 5.5, 9.0, 0.5, 4.0])
Y = np.array([2.0, 2.0, 3.1, 3.5, 2.8, 4.4, 4.9, 4.1, 3.0, 4.8, 1.2, 3.9])


def test_correlations_agree_with_scipy_on_fixed_arrays():
    plain = ag.correlations(X, Y, fit="none")
    assert plain["srcc"] == pytest.approx(stats.spearmanr(X, Y).statistic, abs=1e-9)
    assert plain["krcc"] == pytest.approx(stats.kendalltau(X, Y).statistic, abs=1e-9)
    assert plain["plcc"] == pytest.approx(stats.pearsonr(X, Y).statistic, abs=1e-9)
    assert ag.correlations(X, Y, fit="linear")["plcc"] == pytest.approx(abs(stats.pearsonr(X, Y).statistic), abs=1e-9)
    assert ag.correlations(X, -Y, fit="none")["srcc"] == pytest.approx(
        -stats.spearmanr(X, Y).statistic, abs=1e-9
    )  # signs as computed
    # through the tidy rows: the table pairs each value with the MOS of the same method and item
    values = {(m, f"i{i}"): X[2 * i + k] for i in range(6) for k, m in enumerate(("a", "b"))}
    mos = {(m, f"i{i}"): Y[2 * i + k] for i in range(6) for k, m in enumerate(("a", "b"))}
    r = row(ag.agreement(frame(tidy(values, "psnr"), tidy(mos, "mos"))), "psnr")
    assert (r.n_items, r.n_points) == (6, 12)
    assert r.srcc == pytest.approx(stats.spearmanr(X, Y).statistic, abs=1e-9)
    assert r.krcc == pytest.approx(stats.kendalltau(X, Y).statistic, abs=1e-9)


def test_logistic_path_gives_plcc_one_on_exactly_logistic_data():
    true = (4.6, 1.2, 28.0, 1.5)
    values = grid(20)
    mos = {k: ag.logistic(v, *true) for k, v in values.items()}
    r = row(ag.agreement(frame(tidy(values, "psnr"), tidy(mos, "mos"))), "psnr")
    assert r.plcc == pytest.approx(1.0, abs=1e-9)
    assert r.srcc == pytest.approx(1.0, abs=1e-12) and r.note == ""


@pytest.mark.parametrize(
    "true", [(4.6, 1.2, 28.0, 1.5), (1.0, 5.0, 0.3, 0.05)]
)  # rising, and falling (b1 < b2: a lower-is-better metric)
def test_logistic_fit_recovers_known_parameters(true):
    x = np.linspace(true[2] - 8 * true[3], true[2] + 8 * true[3], 120)
    kind, p = ag.fit_logistic(x, ag.logistic(x, *true))
    assert kind == "logistic"
    assert [p[0], p[1], p[2], abs(p[3])] == pytest.approx(list(true), rel=1e-6, abs=1e-6)
    y = ag.logistic(x, *true) + np.random.default_rng(3).normal(0, 0.02, x.size)
    kind, p = ag.fit_logistic(x, y)
    assert kind == "logistic"
    span = abs(true[0] - true[1])
    assert abs(p[0] - true[0]) < 0.02 * span and abs(p[1] - true[1]) < 0.02 * span
    assert abs(p[2] - true[2]) < 0.05 * true[3] and abs(abs(p[3]) - true[3]) < 0.05 * true[3]


def test_a_failed_fit_falls_back_to_a_stated_linear_fit(monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("Optimal parameters not found")

    monkeypatch.setattr(ag, "curve_fit", boom)
    values = grid(8)
    mos = {k: 0.3 * v + np.sin(v) for k, v in values.items()}
    res = ag.agreement(frame(tidy(values, "psnr"), tidy(mos, "mos")))
    r = row(res, "psnr")
    assert "linear fit" in r.note and res.fits[("live1-qf10", "psnr")][0] == "linear"
    x = np.array(list(values.values()))
    assert r.plcc == pytest.approx(abs(stats.pearsonr(x, [mos[k] for k in values]).statistic), abs=1e-9)


def test_vectorized_bootstrap_equals_scipy_on_the_repeated_points():
    rng = np.random.default_rng(7)
    pred = ag.logistic(X, 5, 1, 4, 2)
    w = rng.integers(0, 4, size=(25, X.size))
    w[0] = 1  # the sample itself
    got = ag.weighted_stats(X, Y, pred, w)
    for b in range(len(w)):
        xe, ye, pe = np.repeat(X, w[b]), np.repeat(Y, w[b]), np.repeat(pred, w[b])
        if np.ptp(xe) == 0 or np.ptp(ye) == 0:
            assert np.isnan(got[b]).all()
            continue
        ref = [stats.spearmanr(xe, ye).statistic, stats.kendalltau(xe, ye).statistic, stats.pearsonr(pe, ye).statistic]
        assert got[b] == pytest.approx(ref, abs=1e-9)


def raters_study(n_items: int = 15, seed: int = 1) -> tuple[dict, dict]:
    """PSNR per (method, item) and the MOS of five simulated raters, each grading by their own
    monotone, nonlinear function of PSNR (a logistic with a rater's own midpoint and slope)."""
    psnr = grid(n_items, seed=seed)
    raters = [(26 + d, 1.0 + s) for d, s in ((-1, 0.0), (0, 0.5), (1, 0.2), (0.5, 1.0), (-0.5, 0.3))]
    mos = {k: np.mean([1 + 4 * ag.logistic(v, 1, 0, mid, slope) for mid, slope in raters]) for k, v in psnr.items()}
    return psnr, mos


def test_simulated_raters_give_srcc_one_and_an_anti_correlated_metric_is_flagged():
    psnr, mos = raters_study()
    rng = np.random.default_rng(5)
    anti = {k: 60 - v + rng.normal(0, 0.05) for k, v in psnr.items()}  # higher is better, yet ranks opposite
    niqe = {k: 12 - 1.5 * m + rng.normal(0, 0.05) for k, m in mos.items()}  # lower is better, and agrees
    fps = {k: 5.0 + rng.normal() for k in psnr}  # a speed metric: left out
    res = ag.agreement(
        frame(
            tidy(psnr, "psnr", unit="dB"),
            tidy(anti, "anti"),
            tidy(niqe, "niqe", hib=False),
            tidy(fps, "fps"),
            tidy(mos, "mos"),
            tidy({(m, "*"): 5.0 for m in METHODS}, "mos-raters"),
        )
    )
    assert set(res.table["metric"]) == {"psnr", "anti", "niqe"}
    p, a, n = row(res, "psnr"), row(res, "anti"), row(res, "niqe")
    assert p.srcc == pytest.approx(1.0, abs=1e-12) and p.krcc == pytest.approx(1.0, abs=1e-12) and p.plcc > 0.99
    assert p.rank_tau == pytest.approx(1.0) and not p.flagged
    assert a.flagged and a.rank_tau == pytest.approx(-1.0) and a.srcc < -0.9
    assert len(res.flags) == 1 and res.flags[0].startswith("anti ranks the methods against the people on live1-qf10")
    assert "gan, ssim, bicubic, identity" in res.flags[0]  # the MOS order, best first
    assert (
        not n.flagged and n.rank_tau == pytest.approx(1.0) and n.srcc < -0.9 and n.plcc > 0.9
    )  # agreement shows as a negative SRCC
    assert not n.higher_is_better


def test_too_few_items_or_constant_values_give_nan_and_a_note():
    values = {(m, f"i{i}"): 20 + i + k for k, m in enumerate(METHODS) for i in range(2)}
    mos = {k: v / 10 for k, v in values.items()}
    flat = {k: 3.0 for k in grid(5)}
    res = ag.agreement(
        frame(
            tidy(values, "psnr"),
            tidy(mos, "mos"),
            tidy(flat, "ssim", dataset="set5-x4"),
            tidy({k: v / 10 for k, v in grid(5).items()}, "mos", dataset="set5-x4"),
        )
    )
    r = row(res, "psnr")
    assert r.n_items == 2 and r.note.startswith("too few points: 2 item(s), 8 point(s)")
    assert all(np.isnan(r[c]) for c in ag.COLUMNS[5:15]) and not r.flagged
    s = row(res, "ssim")
    assert s.note.startswith("constant values") and np.isnan(s.srcc)
    none = ag.agreement(frame(tidy(values, "psnr")))  # no study at all
    assert none.table.empty and "no per-item MOS" in none.notes[0]


def test_intervals_are_seeded_and_contain_the_estimate():
    values = grid(25)
    rng = np.random.default_rng(2)
    mos = {k: 0.4 * v + rng.normal(0, 0.4) for k, v in values.items()}
    df = frame(tidy(values, "psnr"), tidy(mos, "mos"))
    a, b, c = ag.agreement(df, seed=4), ag.agreement(df, seed=4), ag.agreement(df, seed=5, resamples=500)
    pd.testing.assert_frame_equal(a.table, b.table)
    r, rc = row(a, "psnr"), row(c, "psnr")
    for k in ("srcc", "krcc", "plcc"):
        assert r[f"{k}_low"] < r[k] < r[f"{k}_high"]
        assert r[f"{k}_low"] != rc[f"{k}_low"]
    assert "2000 resamples, seed 4" in a.markdown() and "500 resamples, seed 5" in c.markdown()


def test_clips_use_the_clip_row_never_frames():
    clip = {(m, f"clip{i}"): 30 + i + 0.5 * k for k, m in enumerate(METHODS[:3]) for i in range(4)}
    frames = [
        r | {"frame": f, "scope": "frame", "value": r["value"] + 10 * f}
        for r in tidy(clip, "psnr", dataset="vid4-crf30", scope="clip")
        for f in range(3)
    ]
    mos = {k: v / 10 for k, v in clip.items()}
    res = ag.agreement(
        pd.DataFrame(
            tidy(clip, "psnr", dataset="vid4-crf30", scope="clip") + frames + tidy(mos, "mos", dataset="vid4-crf30")
        )
    )
    assert len(res.points) == 12 and row(res, "psnr").n_points == 12
    assert sorted(res.points["value"]) == sorted(clip.values())


def test_outputs_csv_markdown_terminal_and_plots(tmp_path):
    psnr, mos = raters_study(n_items=6)
    odd = {k: 60 - v for k, v in psnr.items()}
    res = ag.agreement(frame(tidy(psnr, "psnr"), tidy(odd, "[bold]x|y"), tidy(mos, "mos")))
    res.write_csv(tmp_path / "agreement.csv")
    back = pd.read_csv(tmp_path / "agreement.csv")
    assert list(back.columns) == ag.COLUMNS and len(back) == 2
    assert (
        list(res.points.columns) == ["dataset", "metric", "method", "item_id", "value", "mos"] and len(res.points) == 48
    )
    md = res.markdown()
    assert md.startswith("## Agreement with people") and "### live1-qf10" in md and "four-parameter logistic" in md
    assert (
        "percentile bootstrap" in md and "Kendall tau" in md and "**Flagged**: \\[bold\\]x\\|y ranks the methods" in md
    )
    console = Console(record=True, width=250)
    res.print(console)
    text = console.export_text()
    assert "[bold]x|y" in text and "flagged" in text
    figs = scatter_plots(res, tmp_path)
    assert [f["src"] for f in figs] == [
        "plots/agreement-live1-qf10-psnr.svg",
        "plots/agreement-live1-qf10-_bold_x_y.svg",
    ]
    assert (
        all((tmp_path / f["src"]).read_text().lstrip().startswith("<?xml") for f in figs)
        and "flagged" in figs[1]["title"]
    )


def test_run_folders_merged_by_load_runs(tmp_path):
    """A run and a study folder as written (typed tidy tables), merged by ``load_runs``."""
    psnr, mos = raters_study(n_items=5)
    write_scores(tmp_path / "run", to_frame(tidy(psnr, "psnr", unit="dB")))
    write_scores(tmp_path / "study-s", to_frame(tidy(mos, "mos") + tidy({(m, "*"): 1.0 for m in METHODS}, "bt-score")))
    res = ag.agreement(load_runs([tmp_path / "run", tmp_path / "study-s"]))
    r = row(res, "psnr")
    assert (r.n_items, r.n_points, r.srcc, bool(r.flagged)) == (5, 20, pytest.approx(1.0), False)
