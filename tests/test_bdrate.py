"""Bjøntegaard-delta rate in the reports (issue 27): agreement with the reference package, an
exact case, every refusal with its note, orientation, equal-quality levels and one tiny
``bench report`` on a synthesized run folder. Synthetic rows only: no run, no decoding."""

import json

import bjontegaard
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.reports import bdrate
from benchmark.run.results import COLUMNS

LEVELS = (10, 20, 30, 40, 50)


def rows(
    curves: dict,
    base: str = "live1",
    token: str = "qf{}",
    metric: str = "psnr",
    rates=None,
    hib: bool = True,
    unit: str = "dB",
    items=("a", "b"),
    video: bool = False,
) -> pd.DataFrame:
    """Tidy rows: ``curves`` {method: [quality per level]} on every item (item b 1 higher, so a
    mean is needed), the degraded input's rate ``rates`` per level (bpp, or kbit/s for video)."""
    rates = rates or [0.3 * (i + 1) for i in range(len(next(iter(curves.values()))))]
    out = []
    for method, qs in curves.items():
        for i, q in enumerate(qs):
            lvl = LEVELS[i] if "qf" in token else (20, 25, 30, 35, 40)[i]
            for k, item in enumerate(items):
                out.append(
                    {c: None for c in COLUMNS}
                    | {
                        "run_id": "r",
                        "dataset": f"{base}-{token.format(lvl)}",
                        "base": base,
                        "degradation": token.format(lvl),
                        "item_id": item,
                        "frame": -1 if video else 0,
                        "scope": "clip" if video else "image",
                        "method": method,
                        "method_version": "1",
                        "metric": metric,
                        "metric_version": "1",
                        "value": q + k * (1 if unit == "dB" else 0.001),
                        "higher_is_better": hib,
                        "unit": unit,
                        "crop_border": 0,
                        "bpp": np.nan if video else rates[i] * (1 + 0.1 * k),
                        "bitrate_kbps": rates[i] * 1000 * (1 + 0.1 * k) if video else np.nan,
                        "elapsed_s": 0.0,
                        "status": "ok",
                        "error": None,
                    }
                )
    return pd.DataFrame(out)


ANCHOR = [24.0, 26.5, 27.8, 28.7, 29.4]
BETTER = [25.2, 27.6, 28.8, 29.6, 30.2]


def test_agrees_with_the_reference_package_on_the_same_points():
    df = rows({"identity": ANCHOR, "ssim": BETTER})
    for interp in ("pchip", "cubic"):
        bd = bdrate.compute(df, interpolation=interp)
        assert len(bd) == 1 and list(bd.columns[:10]) == [
            "dataset_base",
            "codec",
            "method",
            "baseline",
            "metric",
            "bd_rate_pct",
            "bd_quality",
            "points",
            "overlap",
            "interpolation",
        ]
        r = bd.iloc[0]
        # the points by hand: mean over items a and b; rate = mean of the two items' bpp
        rate = np.array([0.3 * (i + 1) * 1.05 for i in range(5)])
        qa, qt = np.array(ANCHOR) + 0.5, np.array(BETTER) + 0.5
        ref = bjontegaard.bd_rate(rate, qa, rate, qt, method=interp, min_overlap=0)
        assert r.bd_rate_pct == pytest.approx(ref, abs=0.1) and r.bd_rate_pct < 0
        assert r.bd_quality == pytest.approx(bjontegaard.bd_psnr(rate, qa, rate, qt, method=interp), abs=1e-6)
        assert (r.method, r.baseline, r.points, r.interpolation, r.codec) == ("ssim", "identity", 5, interp, "qf")
        assert r.overlap.startswith("25.70 dB–29.90 dB")


def test_an_exact_case_shifted_in_rate():
    """Quality linear in log rate and a method that reaches at rate r what the codec reaches at
    1.25 r: the BD-rate is exactly 1/1.25 - 1 = -20%, the equal-quality level from the rates."""
    rate = np.array([0.25, 0.5, 1.0, 2.0, 4.0])
    anchor = list(30 + 4 * np.log10(rate))
    test = list(30 + 4 * np.log10(rate * 1.25))
    res = bdrate.analyse(rows({"identity": anchor, "m": test}, rates=list(rate), items=("a",)))
    assert res.table.iloc[0].bd_rate_pct == pytest.approx(-20.0, abs=0.1)
    assert res.table.iloc[0].bd_quality == pytest.approx(4 * np.log10(1.25), abs=1e-6)
    first = res.equal[(res.equal["metric"] == "psnr") & (res.equal["level"] == 10)].iloc[0]
    assert first.matched_level == pytest.approx(
        10 + 10 * np.log10(1.25) / np.log10(2), abs=0.01
    )  # 13.2: linear in log rate
    assert first.saved_pct == pytest.approx(20.0, abs=0.01)
    assert first.text == "m at QF 10: psnr 27.98 dB matches JPEG at QF 13 (0.312 bpp instead of 0.25: 20% fewer bits)"
    assert res.equal.iloc[-1].cell == "beyond QF 50"  # quality above the codec's best level: no extrapolation


def test_refusals_each_with_its_reason():
    few = bdrate.compute(rows({"identity": ANCHOR[:3], "m": BETTER[:3]}))
    assert np.isnan(few.iloc[0].bd_rate_pct) and np.isnan(few.iloc[0].bd_quality)
    assert few.iloc[0].note == "3 rate point(s) (QF 10, QF 20, QF 30); a BD figure needs at least 4"

    bumpy = [24.0, 26.5, 26.1, 28.7, 29.4]
    base = bdrate.compute(rows({"identity": bumpy, "m": BETTER})).iloc[0]
    assert (
        np.isnan(base.bd_rate_pct)
        and "identity's psnr curve is not monotonic" in base.note
        and "QF 20" in base.note
        and "QF 30" in base.note
    )
    meth = bdrate.compute(rows({"identity": ANCHOR, "m": bumpy})).iloc[0]
    assert np.isnan(meth.bd_rate_pct) and meth.note.startswith(
        "m's psnr curve is not monotonic: it falls from 27.00 dB at QF 20"
    )

    apart = bdrate.compute(rows({"identity": ANCHOR, "m": [q + 10 for q in ANCHOR]})).iloc[0]
    assert np.isnan(apart.bd_rate_pct) and apart.overlap == "none"
    assert "do not overlap (identity 24.50 dB–29.90 dB, m 34.50 dB–39.90 dB)" in apart.note
    assert apart.bd_quality == pytest.approx(10.0)  # at equal rate the gain is defined

    same_rate = bdrate.compute(rows({"identity": ANCHOR, "m": BETTER}, rates=[0.3, 0.3, 0.6, 0.9, 1.2])).iloc[0]
    assert np.isnan(same_rate.bd_rate_pct) and "not distinct" in same_rate.note

    nobase = bdrate.compute(rows({"gan": ANCHOR, "m": BETTER}))
    assert nobase["note"].str.contains("baseline 'identity' was not run").all()
    assert (
        bdrate.compute(rows({"gan": ANCHOR, "m": BETTER}), baseline="gan").iloc[0].bd_rate_pct < 0
    )  # the baseline is settable


def test_low_overlap_is_said_and_lower_is_better_is_oriented():
    part = bdrate.compute(rows({"identity": ANCHOR, "m": [q + 2.5 for q in ANCHOR]})).iloc[0]
    assert part.bd_rate_pct < 0 and "the reference package warns below 75%" in part.note
    df = rows({"identity": ANCHOR, "m": BETTER})
    gap = bdrate.compute(df[~((df["method"] == "m") & (df["item_id"] == "b") & (df["degradation"] == "qf30"))]).iloc[0]
    assert gap.bd_rate_pct < 0 and gap.note.endswith("; items per level differ (2, 2, 1, 2, 2)")  # said, not hidden
    lp = bdrate.compute(
        rows(
            {"identity": [0.40, 0.31, 0.26, 0.22, 0.19], "m": [0.33, 0.26, 0.22, 0.19, 0.17]},
            metric="lpips",
            hib=False,
            unit="",
        )
    )
    r = lp.iloc[0]
    assert r.bd_rate_pct < 0 and r.bd_quality < 0  # fewer bits, lower LPIPS: both better
    wrong_way = bdrate.compute(
        rows(
            {"identity": [0.19, 0.22, 0.26, 0.31, 0.40], "m": [0.17, 0.19, 0.22, 0.26, 0.33]},
            metric="lpips",
            hib=False,
            unit="",
        )
    )
    assert "identity's lpips curve is not monotonic: it rises" in wrong_way.iloc[0].note


def test_crf_chains_video_rates_and_what_is_not_a_sweep():
    # CRF: a higher level is fewer bits; points are sorted by rate, so the curve is read the right way round
    kbps = [2.0, 1.2, 0.7, 0.4, 0.25]
    df = rows({"identity": ANCHOR[::-1], "m": BETTER[::-1]}, base="vid4", token="x2-crf{}", rates=kbps, video=True)
    res = bdrate.analyse(df)
    r = res.table.iloc[0]
    assert (r.codec, r.points) == ("x2-crf", 5) and r.bd_rate_pct < 0
    assert res.points["rate_unit"].iloc[0] == "kbit/s"
    assert "matches x2 + H.264 at CRF" in res.equal["text"].iloc[1]
    assert bdrate.sweep_of("qf20s444") == ("qfs444", 20.0) and bdrate.codec_label("hevccrf") == ("HEVC", "CRF")
    sr = rows({"identity": ANCHOR[:3], "m": BETTER[:3]}, token="x{}").assign(
        bpp=np.nan
    )  # a scale sweep records no bits
    assert bdrate.compute(sr).empty
    assert bdrate.compute(
        rows({"identity": ANCHOR, "m": BETTER}, metric="niqe", hib=False, unit="")
    ).empty  # no-reference: no BD
    with pytest.raises(Exception, match="choose one of pchip, cubic, akima"):
        bdrate.compute(df, interpolation="linear")


def test_bench_report_prints_writes_and_refuses(tmp_path):
    df = pd.concat(
        [
            rows({"identity": ANCHOR, "ssim": BETTER, "flat": [24.0, 26.5, 26.1, 28.7, 29.4]}),
            rows({"identity": ANCHOR[:3], "ssim": BETTER[:3]}, base="classic5"),
        ],
        ignore_index=True,
    )
    run = tmp_path / "run"
    run.mkdir()
    df.astype({"frame": "int64", "crop_border": "int64"}).to_csv(run / "scores.csv", index=False)
    (run / "manifest.json").write_text(json.dumps({"run_id": "r", "status": "complete", "started": "2026"}))
    r = CliRunner().invoke(app, ["report", str(run), "--bd-interpolation", "cubic"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "BD-rate against identity: live1, JPEG QF 10–50" in r.output and "cubic interpolation" in r.output
    assert "matches JPEG at QF" in r.output and "flat's psnr curve is not monotonic" in r.output
    bd = pd.read_csv(run / "bdrate.csv")
    assert list(bd.columns) == bdrate.COLUMNS and set(bd["interpolation"]) == {"cubic"}
    assert bd.set_index(["dataset_base", "method"]).loc[("live1", "ssim"), "bd_rate_pct"] < 0
    assert bd.set_index(["dataset_base", "method"])["note"].loc[("classic5", "ssim")].startswith("3 rate point(s)")
    md = (run / "leaderboard.md").read_text()
    assert "## Bits saved at equal quality: BD-rate against identity" in md and "| QF 10 | QF 20 |" in md
    # a sweep with too few levels for any figure: one line, not a table of refusals (issue 39)
    line = "classic5, JPEG QF 10–30: no BD figure for its 1 method/metric pair(s): 3 rate point(s) (QF 10, QF 20, QF 30); a BD figure needs at least 4"
    assert line in " ".join(r.output.split()) and "| ssim | psnr | — |" not in md.split("### classic5")[1]
    bad = CliRunner().invoke(app, ["report", str(run), "--bd-interpolation", "linear"])
    assert bad.exit_code != 0 and "choose one of" in bad.output and "Traceback" not in bad.output


def test_rate_savings_summary_states_the_savings(tmp_path):
    """The recipe's summary (benchmark.tools.ratesavings) from synthetic rows: a sentence per sweep,
    the BD and equal-quality tables, bdrate.csv; the runs themselves are in docs/results.md."""
    from types import SimpleNamespace

    from benchmark.tools.pipelines import PIPELINES
    from benchmark.tools.ratesavings import RATE_SETS, rate_summary

    assert "rate-savings" in PIPELINES and [s.key for s in RATE_SETS] == ["live1", "vid4", "coco"]
    r = SimpleNamespace(out=tmp_path, notes=[], files=[], sections=[])
    rate_summary(r, rows({"identity": ANCHOR, "ssim": BETTER}))
    assert (
        r.notes[1].startswith("live1, JPEG: ssim -")
        and "% on psnr" in r.notes[1]
        and r.notes[2] == "Run on live1: 2 items."
    )
    assert "### live1, JPEG QF 10–50" in r.sections[0] and "matches JPEG at QF" in r.sections[0]
    assert list(pd.read_csv(tmp_path / "bdrate.csv").columns) == bdrate.COLUMNS


def test_a_sweep_without_the_baseline_still_gets_its_plain_rate_curve(tmp_path):
    from benchmark.reports.plots import _plt, rate_quality

    with_base = rows({"identity": ANCHOR, "ssim": BETTER})
    without = rows({"ssim": BETTER, "gan": ANCHOR}, base="kodak")  # identity was not run on kodak
    figs = rate_quality(_plt(), pd.concat([with_base, without], ignore_index=True), tmp_path)
    titles = [f["title"] for f in figs]
    assert any("live1" in t and "BD-rate against identity" in t for t in titles)
    plain = [f for f in figs if "kodak" in f["title"]]
    assert len(plain) == 1 and "BD" not in plain[0]["title"] and (tmp_path / plain[0]["src"]).is_file()
    assert len({f["src"] for f in figs}) == len(figs)  # no plot drawn over another


def test_the_baseline_curve_keeps_the_levels_the_first_method_lacks():
    """The rate-quality plot drew the baseline from the first method's levels only (issue 39)."""
    from benchmark.reports.plots import baseline_curve

    df = pd.concat(
        [rows({"identity": ANCHOR[:4], "a": BETTER[:4]}), rows({"identity": ANCHOR, "b": BETTER})], ignore_index=True
    )
    res = bdrate.analyse(df.drop_duplicates(["method", "item_id", "degradation", "metric"]))
    g = res.points[res.points["metric"] == "psnr"]
    assert g["method"].iloc[0] == "a" and g[g["method"] == "a"]["level"].nunique() == 4
    curve = baseline_curve(g)
    assert sorted(curve["level"]) == [10, 20, 30, 40, 50] and curve["rate"].is_monotonic_increasing
