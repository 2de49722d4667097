"""Warnings that other parts compute, where a reader sees them: VMAF raised by enhancement alone
(reports/vmafneg.py, issue 36) in bench report's terminal, leaderboard.md and the site."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.run.results import write_scores


def test_a_gain_on_vmaf_but_not_on_vmaf_neg_is_said_everywhere(tmp_path):
    base = {
        "dataset": "vid4-crf35",
        "base": "vid4",
        "degradation": "crf35",
        "frame": -1,
        "scope": "clip",
        "higher_is_better": True,
        "unit": "",
        "status": "ok",
        "error": None,
        "crop_border": 0,
        "metric_version": "1",
        "method_version": "1",
        "run_id": "r",
        "bpp": np.nan,
        "bitrate_kbps": np.nan,
        "elapsed_s": np.nan,
    }
    rows = []
    for clip, v in (("calendar", 60.0), ("city", 70.0)):
        for method, gain, gain_neg in (("identity", 0.0, 0.0), ("sharpen", 5.0, -0.5)):
            rows += [
                {**base, "item_id": clip, "method": method, "metric": "vmaf", "value": v + gain},
                {**base, "item_id": clip, "method": method, "metric": "vmaf-neg", "value": v - 2 + gain_neg},
            ]
    run = tmp_path / "run"
    write_scores(run, pd.DataFrame(rows))
    (run / "manifest.json").write_text(json.dumps({"run_id": "r", "status": "complete", "started": "2026"}))
    r = CliRunner().invoke(app, ["report", str(run), "--html", str(tmp_path / "site")], env={"COLUMNS": "300"})
    assert r.exit_code == 0, r.output
    said = "sharpen on vid4-crf35: +5.0 VMAF over identity but -0.5 on VMAF NEG"
    assert f"warning: {said}" in " ".join(r.output.split())
    assert said in (run / "leaderboard.md").read_text()
    assert said in (tmp_path / "site" / "index.html").read_text()
