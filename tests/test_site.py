"""The HTML site: content, escaping, merging, paper tables, and a real headless browser."""

import json

import numpy as np
import pandas as pd
import pytest
from test_bdrate import ANCHOR, BETTER, rows  # synthetic sweep rows (issue 27)

from benchmark import registry
from benchmark.api import Method
from benchmark.reports import site as site_mod
from benchmark.run.runner import RunConfig, run

from conftest import BROWSER_ARGS
from conftest import chromium as _chromium

EVIL = "<script>alert(1)</script>"


class Darken(Method):
    """A deliberately worse method (darker by 8 levels) with a hostile name."""

    name = EVIL
    version = "1"
    scale = None  # follows the data set's

    def process(self, frames, ctx):
        s = ctx.scale
        return [
            np.clip(np.repeat(np.repeat(f, s, 0), s, 1).astype(np.int16) - 8, 0, 255).astype(np.uint8) for f in frames
        ]


@pytest.fixture
def runs(tmp_path, image_folder, frame_folder):
    registry.methods.register(EVIL)(Darken)
    try:
        a = run(
            RunConfig(
                methods=["identity", "bicubic", EVIL],
                datasets=[
                    f"{image_folder}@x2",
                    f"{image_folder}@qf10",
                    f"{image_folder}@qf40",
                    str(image_folder),
                    f"{frame_folder}@crf35",
                ],
                metrics=["psnr", "ssim", "fps", "tof"],
                out=str(tmp_path / "run-a"),
            ),
            progress=False,
        )
        b = run(
            RunConfig(
                methods=["lanczos"],
                datasets=[f"{image_folder}@x2"],
                metrics=["psnr", "ssim"],
                out=str(tmp_path / "run-b"),
            ),
            progress=False,
        )
    finally:
        registry.methods.unregister(EVIL)
    assert not a.failures and not b.failures
    return a, b


def test_bootstrap_interval_is_right_sized():
    assert np.isnan(site_mod.bootstrap_ci(np.array([3.0]))[0])
    assert site_mod.bootstrap_ci(np.full(10, 2.0)) == (2.0, 2.0)
    x = np.random.default_rng(1).normal(10, 2, 400)
    lo, hi = site_mod.bootstrap_ci(x)
    assert lo < x.mean() < hi
    assert (hi - lo) == pytest.approx(2 * 1.96 * x.std() / np.sqrt(len(x)), rel=0.15)


def test_site_content_escaping_and_downloads(runs, tmp_path):
    a, _ = runs
    index = site_mod.build(tmp_path / "site", [a.out_dir])
    html = index.read_text()
    assert EVIL not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for page in (tmp_path / "site" / "compare").glob("*.html"):
        assert EVIL not in page.read_text()
    assert html.count('<table class="board"') == 5  # one leaderboard per data set
    assert "data/scores.parquet" in html and (tmp_path / "site" / "data" / "runs" / a.run_id / "manifest.json").exists()
    assert (tmp_path / "site" / "plots" / "rate-imgs-qf-psnr.svg").exists()  # a QF sweep becomes a rate-quality curve
    assert (tmp_path / "site" / "plots" / "speed-quality.svg").exists()
    assert "javascript:" not in html and "http://" not in html and "https://" not in html  # no CDN: works offline
    # the hostile method is worst on PSNR on the qf10 set, so it is ranked last there
    board = next(b for b in site_mod.leaderboards(a.rows) if b["dataset"].endswith("@qf10"))
    assert board["rows"][-1]["method"] == EVIL
    # the paired comparisons (issue 34): a section, its CSV, a difference plot per data set, and the verdicts under
    # each board; three images can never be separated by a paired test, so no cell carries a '*'
    assert '<section id="significance">' in html and html.count('<table class="significance"') == 5
    sig = pd.read_csv(tmp_path / "site" / "tables" / "significance.csv")
    assert set(sig.verdict) <= {"too few items", "not tested"} and len(sig)
    assert len(list((tmp_path / "site" / "plots").glob("diff-*.svg"))) == 5
    assert (
        '<span class="mark">*</span>' not in html
        and '<span class="mark">=</span>' in html
        and "best: too few items on psnr" in html
    )


def test_publish_merges_runs_and_newer_values_win(runs, tmp_path):
    a, b = runs
    site = tmp_path / "site"
    site_mod.build(site, [a.out_dir])
    site_mod.build(site, [b.out_dir], fresh=False)
    merged = pd.read_parquet(site / "data" / "scores.parquet")
    assert {"identity", "lanczos", EVIL} <= set(merged["method"])
    assert len(list((site / "data" / "runs").iterdir())) == 2
    # a rerun of the same values replaces, it does not duplicate
    site_mod.build(site, [b.out_dir], fresh=False)
    again = pd.read_parquet(site / "data" / "scores.parquet")
    assert len(again) == len(merged)


def test_paper_tables_markdown_and_latex(tmp_path):
    rows = []
    for ds, deg, method, niqe, brisque in [
        ("live1-qf10", "qf10", "identity", 6.4, 53.2),
        ("live1-qf10", "qf10", "gan", 4.3, 19.7),
        ("live1", "none", "identity", 4.35, 24.3),
    ]:
        for metric, v in (("niqe", niqe), ("brisque", brisque)):
            rows.append(
                {
                    "run_id": "r",
                    "dataset": ds,
                    "base": "live1",
                    "degradation": deg,
                    "item_id": "a_b",
                    "frame": 0,
                    "scope": "image",
                    "method": method,
                    "method_version": "1",
                    "metric": metric,
                    "metric_version": "1",
                    "value": v,
                    "higher_is_better": False,
                    "unit": "",
                    "crop_border": 0,
                    "bpp": np.nan,
                    "bitrate_kbps": np.nan,
                    "elapsed_s": np.nan,
                    "status": "ok",
                    "error": None,
                }
            )
    t = site_mod.paper_tables(pd.DataFrame(rows))["nr-with-originals"]
    assert list(t["row"]) == ["live1-qf10 / identity", "live1-qf10 / gan", "original"]
    md = site_mod.to_markdown_table(t)
    assert "| original |" in md and "4.35" in md
    tex = site_mod.to_latex_table(t, "nr_with_originals")
    assert "\\begin{table}" in tex and "live1-qf10 / gan" in tex and "nr\\_with\\_originals" in tex


def test_site_in_a_real_browser(runs, tmp_path):
    exe = _chromium()
    from playwright.sync_api import sync_playwright

    a, b = runs
    index = site_mod.build(tmp_path / "site", [a.out_dir, b.out_dir])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on(
            "dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss())
        )  # an injected alert() would show here
        page.goto(index.as_uri())

        # sort: the x2 board's rows come ranked best first; sorting by PSNR ascending reverses them
        board = page.locator("table.board").first
        methods = lambda: board.locator("tbody td.method").all_inner_texts()  # noqa: E731
        before = methods()
        assert len(before) == 4
        board.locator("th", has_text="psnr").click()
        after = methods()
        assert after != before and after == before[::-1]
        board.locator("th", has_text="psnr").click()
        assert methods() == before

        # the family filter hides columns
        assert board.locator("th", has_text="psnr").is_visible()
        page.locator("#family-filter input[data-family='fidelity']").uncheck()
        assert not board.locator("th", has_text="psnr").is_visible()

        # every image on the index and on a comparison page loads
        def broken_images():
            return page.evaluate(
                "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
            )

        assert page.evaluate("document.images.length") > 0 and broken_images() == []
        page.locator("a.compare-link").first.click()
        page.wait_for_load_state("load")
        assert "compare" in page.url
        assert page.evaluate("document.images.length") >= 4 and broken_images() == []
        box = page.locator(
            "img.cmp"
        ).first.bounding_box()  # synchronised zoom: every panel shows the spot under the pointer
        page.mouse.move(box["x"] + 0.25 * box["width"], box["y"] + 0.75 * box["height"])
        spots = page.evaluate(
            "Array.from(document.querySelectorAll('.zoom')).map(z => [z.dataset.fx, z.dataset.fy, z.style.backgroundSize])"
        )
        assert len(spots) >= 4 and len({(fx, fy) for fx, fy, _ in spots}) == 1
        assert float(spots[0][0]) == pytest.approx(0.25, abs=0.01) and float(spots[0][1]) == pytest.approx(
            0.75, abs=0.01
        )

        # a narrow (mobile) viewport renders without errors too
        mobile = browser.new_page(viewport={"width": 390, "height": 844})
        mobile.goto(index.as_uri())
        assert mobile.locator("table.board").first.is_visible()
        browser.close()
    assert problems == []


def test_cli_report_html_and_publish(runs, tmp_path):
    from typer.testing import CliRunner

    from benchmark.cli import app

    a, b = runs
    site = tmp_path / "cli-site"
    r = CliRunner().invoke(app, ["report", str(a.out_dir), "--html", str(site)])
    assert r.exit_code == 0, r.output
    assert (site / "index.html").exists() and "site:" in r.output
    r = CliRunner().invoke(app, ["publish", str(site), str(b.out_dir)])
    assert r.exit_code == 0, r.output
    assert "lanczos" in (site / "index.html").read_text()
    r = CliRunner().invoke(app, ["publish", str(site), str(tmp_path / "not-a-run")])
    assert r.exit_code == 2 and "not a run directory" in r.output


def _row(**kw):
    base = {
        "run_id": "r",
        "item_id": "*",
        "frame": -1,
        "scope": "dataset",
        "method_version": "1",
        "metric_version": "1",
        "higher_is_better": True,
        "unit": "",
        "crop_border": 0,
        "bpp": np.nan,
        "bitrate_kbps": np.nan,
        "elapsed_s": np.nan,
        "status": "ok",
        "error": None,
    }
    return {**base, **kw}


def test_captioning_and_ap_gain_tables_and_confusion_plot(tmp_path):
    rows = []
    for ds, deg, method, cider in [
        ("coco-qf10", "qf10", "identity", 0.81),
        ("coco-qf10", "qf10", "gan", 1.09),
        ("coco", "none", "identity", 1.20),
    ]:
        rows.append(_row(dataset=ds, base="coco", degradation=deg, method=method, metric="cider", value=cider))
    for cls, gain in (("dog", 0.186), ("cat", 0.166)):
        rows.append(
            _row(
                dataset="voc-qf20",
                base="voc",
                degradation="qf20",
                method="gan",
                metric=f"voc-ap50-gain/{cls}",
                value=gain,
            )
        )
    for t, p, n in ((10, 10, 9), (10, 20, 1), (20, 20, 10)):
        rows.append(
            _row(
                dataset="live1-qf",
                base="live1",
                degradation="qf",
                method="qf-predictor",
                metric=f"qf-confusion/{t}/{p}",
                value=n,
            )
        )
    df = pd.DataFrame(rows)
    tables = site_mod.paper_tables(df)
    assert list(tables["captioning"]["row"]) == ["coco-qf10 (no restoration)", "coco-qf10 / gan", "originals"]
    assert list(tables["captioning"]["cider"]) == [0.81, 1.09, 1.20]
    gain = tables["voc-ap50-gain"]
    assert (
        gain.loc[0, "dog"] == pytest.approx(18.6) and gain.loc[0, "row"] == "voc-qf20 / gan"
    )  # in AP points, as the study prints
    figs = site_mod.plots(df, tmp_path)
    assert any(f["src"] == "plots/qf-confusion.svg" for f in figs) and any("gain" in f["src"] for f in figs)


def test_bdrate_plot_and_table_in_a_real_browser(tmp_path):
    """Issue 27: the BD-rate section renders, with its table (a figure, a refusal and its note),
    the equal-quality line and a rate-quality plot per metric whose legend gives the BD figure."""
    exe = _chromium()
    from playwright.sync_api import sync_playwright

    bumpy = [24.0, 26.5, 26.1, 28.7, 29.4]
    df = pd.concat(
        [
            rows({"identity": ANCHOR, "ssim": BETTER, EVIL: bumpy}),
            rows(
                {
                    "identity": [0.70, 0.80, 0.85, 0.88, 0.90],
                    "ssim": [0.75, 0.84, 0.88, 0.90, 0.915],
                    EVIL: [0.7, 0.8, 0.85, 0.88, 0.9],
                },
                metric="ssim",
                unit="",
            ),
        ],
        ignore_index=True,
    )
    run = tmp_path / "run"
    run.mkdir()
    df.astype({"frame": "int64", "crop_border": "int64"}).to_parquet(run / "scores.parquet", index=False)
    (run / "manifest.json").write_text(json.dumps({"run_id": "r", "status": "complete", "started": "2026"}))
    index = site_mod.build(tmp_path / "site", [run])
    assert EVIL not in index.read_text()
    svg = (tmp_path / "site" / "plots" / "rate-live1-qf-psnr.svg").read_text()
    assert "ssim: BD-rate -" in svg and "no BD figure (not monotonic)" in svg and "identity (baseline)" in svg
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems = []
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
        page.goto(index.as_uri())
        table = page.locator("table.bdrate").first
        assert table.is_visible()
        assert table.locator("td.method").all_inner_texts() == ["ssim", EVIL, "ssim", EVIL]
        figures = table.locator("td.bd-rate").all_inner_texts()
        assert figures[0].startswith("-") and figures[0].endswith("%") and figures[1] == "—"
        assert "curve is not monotonic" in table.locator("td.note").nth(1).inner_text()
        assert "matches JPEG at QF" in page.locator(".equal-example").first.inner_text()
        plots = page.locator("#bdrate figure.bd-plot img")
        assert plots.count() == 2  # psnr and ssim
        assert page.evaluate(
            "Array.from(document.querySelectorAll('#bdrate img')).every(i => i.complete && i.naturalWidth > 0)"
        )
        assert "bdrate.csv" in page.locator("#bdrate").inner_text()
        browser.close()
    assert problems == []
