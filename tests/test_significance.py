"""Is the lead real? Paired comparisons (reports/significance.py) against the reference
implementations, on synthetic cases whose answer is known, and where a reader sees them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from benchmark.reports import leaderboard
from benchmark.reports.significance import ALPHA, RESAMPLES, analyse, holm, items_needed, min_items


def rows(
    values: dict[str, np.ndarray],
    metric: str = "psnr",
    hib: bool = True,
    dataset: str = "d",
    scope: str = "image",
    **extra,
) -> pd.DataFrame:
    out = []
    for method, v in values.items():
        for i, x in enumerate(v):
            out.append(
                {
                    "dataset": dataset,
                    "method": method,
                    "metric": metric,
                    "item_id": f"i{i:03d}",
                    "frame": -1,
                    "scope": scope,
                    "value": float(x),
                    "status": "ok",
                    "higher_is_better": hib,
                    "unit": "dB",
                    "crop_border": 0,
                    "metric_version": "1",
                    **extra,
                }
            )
    return pd.DataFrame(out)


def pair(sig, a: str, b: str, metric: str = "psnr") -> pd.Series:
    p = sig.pairs
    hit = p[(p.metric == metric) & (((p.method_a == a) & (p.method_b == b)) | ((p.method_a == b) & (p.method_b == a)))]
    assert len(hit) == 1, p
    return hit.iloc[0]


# ----------------------------------------------------------------------------- the reference implementations
@pytest.mark.parametrize(
    "p",
    [
        [0.01, 0.04, 0.03, 0.005, 0.2],
        [0.5, 0.5, 0.01, 0.01, 0.9, 1.0],  # ties and ones
        [1e-8, 0.049, 0.051, 0.3],
        [0.04],
    ],
)
def test_holm_equals_statsmodels(p):
    from statsmodels.stats.multitest import multipletests

    ref = multipletests(p, alpha=ALPHA, method="holm")[1]
    assert np.max(np.abs(holm(np.array(p)) - ref)) < 1e-9


def test_holm_leaves_missing_p_values_out_of_the_family():
    from statsmodels.stats.multitest import multipletests

    got = holm(np.array([0.01, np.nan, 0.02]))
    assert np.isnan(got[1]) and np.allclose(got[[0, 2]], multipletests([0.01, 0.02], method="holm")[1], atol=1e-12)


def test_wilcoxon_and_interval_are_scipys():
    rng = np.random.default_rng(7)
    a = rng.normal(30, 1, 25)
    b = a - rng.normal(0.1, 0.3, 25)
    sig = analyse(rows({"identity": b, "m": a}))
    r = pair(sig, "m", "identity")
    assert abs(r.p_wilcoxon - stats.wilcoxon(a - b).pvalue) < 1e-9
    assert abs(r.mean_diff - np.mean(a - b)) < 1e-12 and r.n == 25
    # the paired percentile bootstrap: scipy's, with other resamples, agrees to a small share of the spread
    ref = stats.bootstrap(
        (a - b,), np.mean, n_resamples=RESAMPLES, method="percentile", rng=np.random.default_rng(1)
    ).confidence_interval
    width = ref.high - ref.low
    assert abs(r.ci_low - ref.low) < 0.1 * width and abs(r.ci_high - ref.high) < 0.1 * width
    assert r.ci_low < r.mean_diff < r.ci_high
    again = analyse(rows({"identity": b, "m": a}))  # seeded
    assert pair(again, "m", "identity").ci_low == r.ci_low


# ----------------------------------------------------------------------------- the synthetic cases
def test_equal_up_to_noise_is_a_tie_with_the_items_that_would_separate_it():
    rng = np.random.default_rng(0)
    base = rng.normal(30, 2, 30)
    sig = analyse(rows({"identity": base, "a": base + rng.normal(0, 0.1, 30), "b": base + rng.normal(0, 0.1, 30)}))
    r = pair(sig, "a", "b")
    assert r.verdict == "tie" and r.p_holm > ALPHA
    d = sig.pairs  # the tie's note: the normal-approximation estimate, labelled
    assert np.isfinite(r.n_needed) and r.n_needed > 30 and "normal approximation" in r.note
    assert set(d[d.against == "leader"].verdict) == {"tie"}


def test_better_by_0_3_db_on_30_items_is_better_and_starred():
    rng = np.random.default_rng(1)
    base = rng.normal(30, 2, 30)
    sig = analyse(rows({"identity": base, "ssim": base + 0.3 + rng.normal(0, 0.1, 30)}))
    r = pair(sig, "ssim", "identity")
    assert r.verdict == "better" and r.p_holm < 1e-4 and 0.25 < r.ci_low < r.ci_high < 0.35
    summary = leaderboard.summarize(rows({"identity": base, "ssim": base + 0.3 + rng.normal(0, 0.1, 30)}))
    marks = summary.set_index("method")["mark"].to_dict()
    assert marks == {"identity": "", "ssim": "*"}
    assert leaderboard.best_line(summary) == "best: ssim on psnr"
    cells = summary.set_index("method")
    assert cells.loc["ssim", "p_best"] == 1.0 and cells.loc["identity", "p_best"] == 0.0


def test_lower_is_better_metrics_are_oriented():
    rng = np.random.default_rng(2)
    base = rng.normal(5, 1, 20)
    sig = analyse(rows({"identity": base, "gan": base - 0.5 + rng.normal(0, 0.05, 20)}, metric="niqe", hib=False))
    assert pair(sig, "gan", "identity", "niqe").verdict == "better"
    assert sig.mark("d", "niqe", "gan") == "*"


def test_three_items_are_too_few_items_not_a_tie():
    sig = analyse(rows({"identity": np.array([30.0, 31, 32]), "m": np.array([31.0, 32.5, 33])}))
    r = pair(sig, "m", "identity")
    assert r.verdict == "too few items" and "2/2^3 = 0.25" in r.note and r.n_needed >= min_items(1)
    assert sig.mark("d", "psnr", "m") == "=" and sig.mark("d", "psnr", "identity") == "="


def test_five_items_never_reach_0_05_and_holm_raises_the_bar():
    assert min_items(1) == 6 and min_items(3) == 7  # 2/2^5 = 0.0625 > 0.05; 2/2^6 = 0.031 > 0.05/3
    five = np.arange(5.0)
    sig = analyse(rows({"identity": five, "a": five + 1, "b": five + 2}))  # every item better: still not testable
    assert set(sig.pairs.verdict) == {"too few items"}
    seven = np.arange(7.0)
    sig = analyse(rows({"identity": seven, "a": seven + 1 + 0.01 * seven, "b": seven + 2 + 0.02 * seven}))
    verdicts = {
        (r.method_a, r.method_b): r.verdict for r in sig.pairs.itertuples()
    }  # 2/2^7 = 0.0156 <= 0.05/3: Holm passes all three
    assert verdicts == {("a", "identity"): "better", ("b", "identity"): "better", ("a", "b"): "worse"}
    assert sig.mark("d", "psnr", "b") == "*"


def test_a_leader_not_separable_from_the_runner_up_gets_no_star():
    rng = np.random.default_rng(3)
    base = rng.normal(30, 2, 40)
    x = base + 1 + rng.normal(0, 0.2, 40)
    summary = leaderboard.summarize(rows({"identity": base, "a": x, "b": x + rng.normal(0, 0.2, 40)}))
    m = summary.set_index("method")["mark"]
    assert m["identity"] == "" and m["a"] == "=" and m["b"] == "="
    line = leaderboard.best_line(summary)
    assert line.startswith("best: tie on psnr: ") and "Holm p" in line


def test_clips_are_the_items_of_a_video_set_never_frames():
    clips = rows({"bicubic": np.array([30.0, 31, 32]), "sr": np.array([31.0, 32, 33.5])}, scope="clip", dataset="v")
    frames = rows({"bicubic": np.linspace(30, 32, 90), "sr": np.linspace(31, 33, 90)}, scope="frame", dataset="v")
    sig = analyse(pd.concat([clips, frames]))
    r = pair(sig, "sr", "bicubic")
    assert r.n == 3 and r.verdict == "too few items" and sig.baselines == {"v": "bicubic"}


def test_rows_of_another_crop_border_are_never_compared():
    a = rows({"identity": np.arange(10.0)})
    b = rows({"ssim": np.arange(10.0) + 1}).assign(crop_border=8)
    summary = leaderboard.summarize(pd.concat([a, b]))
    assert (summary["mark"] == "").all() and analyse(pd.concat([a, b])).pairs.empty
    assert "not tested on psnr (its methods were scored under different crop borders" in leaderboard.best_line(summary)


def test_corpus_metrics_are_not_tested():
    r = pd.DataFrame(
        [
            {
                "dataset": "c",
                "method": m,
                "metric": "map50",
                "item_id": "*",
                "frame": -1,
                "scope": "dataset",
                "value": v,
                "status": "ok",
                "higher_is_better": True,
                "unit": "",
            }
            for m, v in (("identity", 0.4), ("ssim", 0.5))
        ]
    )
    summary = leaderboard.summarize(r)
    assert not summary.best.any() and summary.set_index("method").loc["ssim", "leader"]
    assert "not tested on map50 (a corpus metric is one value per data set" in leaderboard.best_line(summary)


def test_baseline_option_and_power_formula():
    rng = np.random.default_rng(4)
    base = rng.normal(30, 1, 12)
    df = rows(
        {"identity": base, "bicubic": base + 0.2 + rng.normal(0, 0.05, 12), "m": base + 0.4 + rng.normal(0, 0.05, 12)}
    )
    sig = analyse(df, baseline="bicubic")
    assert sig.baselines == {"d": "bicubic"} and set(sig.pairs[sig.pairs.against == "baseline"].method_b) == {"bicubic"}
    d = np.array([0.1, -0.05, 0.2, 0.05, 0.0, 0.15, -0.1, 0.08])
    z = stats.norm.ppf(1 - ALPHA / 6) + stats.norm.ppf(0.8)
    assert items_needed(d, 3) == max(int(np.ceil((z * d.std(ddof=1) / d.mean()) ** 2)), min_items(3))


def test_report_writes_significance_csv_and_markdown(tmp_path):
    from benchmark.run.results import write_scores

    rng = np.random.default_rng(5)
    base = rng.normal(28, 1.5, 29)
    df = rows(
        {"identity": base, "ssim": base + 1.3 + rng.normal(0, 0.2, 29), "gan": base + 1.0 + rng.normal(0, 0.2, 29)},
        base="live1",
        degradation="qf10",
        run_id="r",
        method_version="1",
        bpp=np.nan,
        bitrate_kbps=np.nan,
        elapsed_s=np.nan,
        error=None,
    )
    run = tmp_path / "run"
    write_scores(run, df)
    from typer.testing import CliRunner

    from benchmark.cli import app

    r = CliRunner().invoke(app, ["report", str(run), "--ci"], env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.output
    assert (
        "best: ssim on psnr" in r.output
        and "paired comparisons (baseline identity)" in r.output
        and "P(best): psnr: ssim 1.00" in r.output
    )
    sig = pd.read_csv(run / "significance.csv")
    assert {(r.method_a, r.method_b): r.verdict for r in sig.itertuples()} == {
        ("ssim", "identity"): "better",
        ("gan", "identity"): "better",
        ("gan", "ssim"): "worse",
    }
    md = (run / "leaderboard.md").read_text()
    assert "## Is the lead real? Paired comparisons" in md and "\\*" in md and "Holm" in md
    ssim_line = next(line for line in md.splitlines() if line.startswith("| ssim |"))
    assert "[" in ssim_line and ssim_line.rstrip(" |").endswith("\\*")


def test_a_report_over_several_runs_never_writes_into_an_input_run(tmp_path):
    from typer.testing import CliRunner

    from benchmark.cli import app
    from benchmark.run.results import write_scores

    extra = dict(
        base="b",
        degradation="qf10",
        run_id="r",
        method_version="1",
        bpp=np.nan,
        bitrate_kbps=np.nan,
        elapsed_s=np.nan,
        error=None,
    )
    a, b = tmp_path / "runs" / "a", tmp_path / "runs" / "b"
    write_scores(a, rows({"identity": np.arange(8.0)}, **extra))
    write_scores(b, rows({"ssim": np.arange(8.0) + 1}, **extra))
    (a / "leaderboard.md").write_text("a's own")
    r = CliRunner().invoke(app, ["report", str(a), str(b)])
    assert r.exit_code == 0, r.output
    assert (a / "leaderboard.md").read_text() == "a's own" and not (b / "leaderboard.md").exists()
    made = [d for d in (tmp_path / "runs").iterdir() if d.name.startswith("report-")]
    assert len(made) == 1 and (made[0] / "leaderboard.md").exists() and (made[0] / "significance.csv").exists()
    assert "2 runs merged: the report goes to a new folder" in r.output


def test_names_from_a_run_cannot_drive_the_terminal_or_the_markdown(tmp_path):
    """A method named with an escape sequence (a shared run folder is someone else's input) is shown
    escaped in the terminal tables and leaderboard.md (issue 39)."""
    from rich.console import Console

    from benchmark.reports import significance_view

    evil = "\x1b[2J\x1b]0;pwned\x07gan\u202e"
    df = rows({"identity": np.arange(8.0), evil: np.arange(8.0) + 1})
    con = Console(width=300, record=True, file=open("/dev/null", "w"))
    summary = leaderboard.summarize(df)
    leaderboard.print_tables(summary, con, ci=True)
    significance_view.print_pairs(analyse(df), con)
    out = con.export_text()
    assert "\x1b" not in out and "\u202e" not in out and "\\x1b[2J" in out
    md = leaderboard.to_markdown(summary) + significance_view.markdown(analyse(df))
    assert "\x1b" not in md and "\u202e" not in md and "\\\\x1b" in md
