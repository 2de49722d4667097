"""What a method costs, where a reader sees it (issue 35): its own table in the terminal,
leaderboard.md and the site, never as quality columns; quality against cost with the Pareto front."""

from __future__ import annotations

import numpy as np
import pandas as pd
from rich.console import Console

from benchmark.reports import costs_view, leaderboard
from benchmark.reports.costs import COST_METRICS


def cost_rows() -> pd.DataFrame:
    base = {
        "dataset": "d",
        "base": "d",
        "degradation": "qf10",
        "frame": -1,
        "higher_is_better": True,
        "crop_border": 0,
        "metric_version": "1",
        "method_version": "1",
        "run_id": "r",
        "bpp": np.nan,
        "bitrate_kbps": np.nan,
        "elapsed_s": np.nan,
    }
    rows = []
    for method, shift in (("identity", 0.0), ("small", 0.5), ("big", 1.0)):
        for i in range(8):
            rows.append(
                {
                    **base,
                    "method": method,
                    "metric": "psnr",
                    "item_id": f"i{i}",
                    "scope": "image",
                    "value": 30 + i * 0.1 + shift,
                    "unit": "dB",
                    "status": "ok",
                    "error": None,
                }
            )
    figures = {"small": (1e5, 2e9, 8e9, 50.0, 20.0, 25.0), "big": (2e6, 4e10, 1.6e11, 400.0, 900.0, 1100.0)}
    for method in ("identity", "small", "big"):
        for metric, unit in zip(COST_METRICS, ("parameters", "MACs", "MACs/MP", "MiB@cpu", "ms@cpu", "ms@cpu")):
            if method == "identity":
                rows.append(
                    {
                        **base,
                        "method": method,
                        "metric": metric,
                        "item_id": "*",
                        "scope": "dataset",
                        "value": np.nan,
                        "unit": unit,
                        "higher_is_better": False,
                        "status": "not applicable",
                        "error": "no network: identity runs none",
                    }
                )
            else:
                rows.append(
                    {
                        **base,
                        "method": method,
                        "metric": metric,
                        "item_id": "*",
                        "scope": "dataset",
                        "unit": unit,
                        "value": figures[method][COST_METRICS.index(metric)],
                        "higher_is_better": False,
                        "status": "ok",
                        "error": None,
                    }
                )
    return pd.DataFrame(rows)


def test_costs_are_a_table_of_their_own_never_quality_columns_or_failures():
    df = cost_rows()
    summary = leaderboard.summarize(df)
    assert set(summary["metric"]) == {"psnr"} and (summary["failed"] == 0).all()
    md = costs_view.markdown(df)
    assert "## What each method costs" in md and "| big | 2 M | 40 | 160 | 400 | 900 | 1,100 | cpu |" in md
    assert (
        "| identity | — | — | — | — | — | — |  | params, GMACs/frame, GMACs/MP, peak MiB, p50 ms, p95 ms: no network"
        in md
    )
    con = Console(width=250, record=True, file=open("/dev/null", "w"))
    costs_view.print_costs(df, con)
    out = con.export_text()
    assert "d: what each method costs" in out and "FLOPs = 2 x MACs" in out and "identity: params" in out
    assert costs_view.markdown(df[~df["metric"].isin(COST_METRICS)]) == ""


def test_the_site_shows_costs_and_quality_against_cost(tmp_path):
    from benchmark.reports.costs import quality_vs_cost

    df = cost_rows()
    qc = quality_vs_cost(df, "psnr", "macs").set_index("method")
    assert qc.loc["small", "pareto"] and qc.loc["big", "pareto"] and np.isnan(qc.loc["identity", "cost"])
    figs = costs_view.plots(df, tmp_path, {"d": "compare/1.html"})
    assert [f["kind"] for f in figs] == ["cost"] and (tmp_path / figs[0]["src"]).exists()
    svg = (tmp_path / figs[0]["src"]).read_text()
    assert "compare/1.html" in svg  # each point links to the data set's comparison page


def test_report_and_site_carry_the_cost_section(tmp_path):
    import json

    from typer.testing import CliRunner

    from benchmark.cli import app
    from benchmark.run.results import write_scores

    run = tmp_path / "run"
    write_scores(run, cost_rows())
    (run / "manifest.json").write_text(json.dumps({"run_id": "r", "status": "complete", "started": "2026"}))
    r = CliRunner().invoke(app, ["report", str(run), "--html", str(tmp_path / "site")], env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.output
    assert (
        "d: what each method costs" in r.output and "## What each method costs" in (run / "leaderboard.md").read_text()
    )
    html = (tmp_path / "site" / "index.html").read_text()
    assert '<section id="costs">' in html and 'class="cost-plot"' in html and "params" in html
