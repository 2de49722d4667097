import re

import pandas as pd
import pytest
from typer.testing import CliRunner

from benchmark import registry
from benchmark.api import Method
from benchmark.cli import app

runner = CliRunner()


@pytest.mark.parametrize("cmd", [[], ["run"], ["list"], ["report"]])
def test_help_everywhere(cmd):
    r = runner.invoke(app, [*cmd, "--help"])
    assert r.exit_code == 0 and "Usage" in r.output


def test_list_shows_direction_and_conventions():
    r = runner.invoke(app, ["list", "metrics"], env={"COLUMNS": "250"})
    assert r.exit_code == 0
    line = next(l for l in r.output.splitlines() if l.strip("│ ").startswith("psnr-y"))
    assert "higher" in line and "built-in" in line and "ok" in line
    r = runner.invoke(app, ["list", "metrics", "--long"], env={"COLUMNS": "250"})
    block = re.split(r"\n(?=\S)", r.output[r.output.index("\npsnr-y ") + 1 :])[0]  # up to the next entry
    assert "higher" in block and "built-in" in block and "rgb2ycbcr" in block
    r = runner.invoke(app, ["list", "nonsense"])
    assert r.exit_code == 2 and "methods, datasets" in r.output


def test_bad_dataset_name_is_a_clear_error():
    r = runner.invoke(app, ["run", "-d", "liv1-qf20"])
    assert r.exit_code == 2 and "live1" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["run", "-m", "identty", "-d", "photos-qf20"])
    assert r.exit_code == 2 and "'identity'" in r.output


def test_report_marks_best_and_escapes_names(tmp_path, image_folder):
    @registry.methods.register("<script>alert(1)</script>")
    class Evil(Method):
        name = "<script>alert(1)</script>"

        def process(self, frames, ctx):
            return [255 - f for f in frames]

    try:
        r = runner.invoke(
            app,
            [
                "run",
                "-q",
                "-m",
                "identity,<script>alert(1)</script>",
                "-d",
                f"{image_folder}@qf30",
                "--metrics",
                "psnr,ssim",
                "-o",
                str(tmp_path / "run"),
            ],
        )
    finally:
        registry.methods.unregister("<script>alert(1)</script>")
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["report", str(tmp_path / "run")], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    md = (tmp_path / "run" / "leaderboard.md").read_text()
    assert "<script>" not in md and "&lt;script&gt;" in md
    identity_line = next(l for l in md.splitlines() if l.startswith("| identity"))
    assert identity_line.count("**") == 4  # best psnr and best ssim
    lb = pd.read_csv(tmp_path / "run" / "leaderboard.csv")
    assert set(lb.columns) >= {
        "dataset",
        "method",
        "metric",
        "mean",
        "n",
        "higher_is_better",
        "best",
        "leader",
        "mark",
        "ci_low",
        "ci_high",
        "p_best",
    }
    assert lb[lb.leader]["method"].unique().tolist() == ["identity"]
    n = int(lb.n.max())  # a few images: every column is a tie for first ('='), said with its reason, never a '*'
    assert (
        set(lb["mark"].fillna("")) == {"="}
        and f"too few items on psnr, ssim: identity = &lt;script&gt;alert(1)&lt;/script&gt; (n={n}" in md
    )
    sig = pd.read_csv(tmp_path / "run" / "significance.csv")
    assert list(sig.columns[:12]) == [
        "dataset",
        "metric",
        "method_a",
        "method_b",
        "n",
        "mean_diff",
        "ci_low",
        "ci_high",
        "p_wilcoxon",
        "p_holm",
        "verdict",
        "higher_is_better",
    ]
    assert set(sig.verdict) == {"too few items"} and (sig.mean_diff < 0).all()
    assert "psnr ↑" in r.output


def test_default_run_uses_embedded_sets(tmp_path):
    r = runner.invoke(
        app,
        [
            "run",
            "-q",
            "-m",
            "identity",
            "--limit",
            "1",
            "--max-frames",
            "3",
            "--metrics",
            "psnr",
            "-o",
            str(tmp_path / "o"),
        ],
    )
    assert r.exit_code == 0, r.output
    df = pd.read_parquet(tmp_path / "o" / "scores.parquet")
    assert set(df.dataset) == {"photos-qf20", "clips-crf35"}
    assert (df.status == "ok").all()
    assert len(df[(df.dataset == "clips-crf35") & (df.scope == "frame")]) == 3
