"""bench serve in Debian's Chromium (Playwright): upload and download, the live page on a fake
camera, two raters through a DSIS study. Each page is photographed into $BENCH_SCREENSHOTS
(default: the test's tmp folder)."""

import json
import os
import re
import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from benchmark.run.runner import RunConfig, run
from benchmark.serve import study
from benchmark.serve.app import LOOPBACK_NAMES, ServeConfig, create_app

from conftest import BROWSER_ARGS, chromium


@pytest.fixture
def shots(tmp_path) -> Path:
    d = Path(os.environ.get("BENCH_SCREENSHOTS") or tmp_path / "screens")
    d.mkdir(parents=True, exist_ok=True)
    return d


def photo(name: str, w: int, h: int) -> np.ndarray:
    """A scikit-image photo (RGB) cut to the aspect of w x h and resized."""
    from skimage import data

    img = getattr(data, name)()
    H, W = img.shape[:2]
    cw = min(W, H * w // h)
    ch = cw * h // w
    y, x = (H - ch) // 2, (W - cw) // 2
    return cv2.resize(np.ascontiguousarray(img[y : y + ch, x : x + cw]), (w, h), interpolation=cv2.INTER_AREA)


@pytest.fixture
def photos(tmp_path) -> Path:
    from benchmark.core.imaging import write_png

    d = tmp_path / "photos"
    d.mkdir()
    for name in ("astronaut", "chelsea", "coffee"):
        write_png(d / f"{name}.png", photo(name, 192, 128))
    return d


@pytest.fixture
def server(tmp_path):
    """A real uvicorn on 127.0.0.1 and a free port, stopped when the test ends."""
    import uvicorn

    runs = tmp_path / "runs"
    runs.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(
        uvicorn.Config(
            create_app(ServeConfig(runs_dir=runs, allowed_hosts=LOOPBACK_NAMES)),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            log_config=None,  # uvicorn's dictConfig would close absl's handler's stream: pytest's capture
        )
    )
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 60  # the first start lists the methods (imports torch) before it listens
    while not srv.started and t.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", runs
    srv.should_exit = True
    t.join(timeout=10)


def _browser(p, *extra):
    return p.chromium.launch(executable_path=chromium(), args=BROWSER_ARGS + list(extra))


def _watch(page):
    problems = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    return problems


def _upload(p, url, path, method, scale=None, height=900):
    """A browser on the Enhance page that has sent ``path`` to ``method``: (browser, page, problems)."""
    b = _browser(p)
    page = b.new_page(viewport={"width": 1100, "height": height})
    problems = _watch(page)
    page.goto(url + "/enhance")
    page.set_input_files("#file", str(path))
    page.select_option("#method", method)
    if scale is not None:
        assert page.locator("#scale-box").is_visible()  # the method follows any scale
        page.fill("#scale", str(scale))
    page.click("#go")
    return b, page, problems


def test_upload_an_image_and_download_the_result(server, tmp_path, shots):
    from playwright.sync_api import sync_playwright

    url, _ = server
    src = tmp_path / "photo.png"
    cv2.imwrite(str(src), photo("chelsea", 128, 96)[..., ::-1])
    with sync_playwright() as p:
        b, page, problems = _upload(p, url, src, "bicubic", scale=2)
        page.wait_for_selector("#view:not([hidden]) .slider img.before", timeout=60_000)
        page.wait_for_function("document.querySelector('.slider img.after').naturalWidth > 0")
        assert page.locator("#jobs tbody tr .s").first.inner_text() == "done"
        page.fill("#split", "30")
        page.dispatch_event("#split", "input")
        assert page.locator(".slider img.after").evaluate("e => e.style.clipPath") == "inset(0px 0px 0px 30%)"
        page.screenshot(path=str(shots / "enhance.png"), full_page=True)
        with page.expect_download() as dl:
            page.click("#download")
        saved = tmp_path / "downloaded.png"
        dl.value.save_as(saved)
        assert dl.value.suggested_filename == "photo.bicubic.png"
        assert cv2.imread(str(saved)).shape[:2] == (192, 256)
        # reload: the finished job is still listed
        page.reload()
        page.wait_for_selector("#jobs tbody tr")
        assert "photo.png" in page.locator("#jobs tbody").inner_text()
        page.select_option("#method", "fast-srgan")
        assert not page.locator("#scale-box").is_visible()
        page.select_option("#method", "srgan")  # what the method is for, and what it takes
        info = page.locator("#method-info").inner_text()
        assert (
            info.startswith("x4 super-resolution: SRGAN x4") and "up to 16384x16384" in info and "memory budget" in info
        ), info
        b.close()
    assert problems == []


def test_video_side_by_side_player(server, tmp_path, shots):
    from playwright.sync_api import sync_playwright
    from test_serve import tiny_video

    url, _ = server
    clip = tiny_video(tmp_path / "clip.mp4", frames=12, w=96, h=64)
    with sync_playwright() as p:
        b, page, problems = _upload(p, url, clip, "bicubic", scale=2, height=800)
        page.wait_for_selector("#view:not([hidden]) video.after", timeout=60_000)
        page.wait_for_function(
            "[...document.querySelectorAll('#view video')].every(v => v.readyState >= 2)", timeout=30_000
        )
        sizes = page.evaluate("[...document.querySelectorAll('#view video')].map(v => [v.videoWidth, v.videoHeight])")
        assert sizes == [[96, 64], [192, 128]]  # before | after, both decoded by the browser (H.264)
        page.click("#playboth")
        page.wait_for_function("[...document.querySelectorAll('#view video')].every(v => v.currentTime > 0)")
        page.screenshot(path=str(shots / "enhance-video.png"), full_page=True)
        b.close()
    assert problems == []


def _y4m(path: Path, frames=30, w=320, h=240) -> Path:
    """A small Y4M clip for Chromium's fake camera (a slow pan over a photo)."""
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F15:1 Ip A1:1 C420jpeg\n".encode())
        wide = photo("astronaut", w + 2 * frames, h + 2 * frames)
        for i in range(frames):
            yuv = cv2.cvtColor(np.ascontiguousarray(wide[i : i + h, 2 * i : 2 * i + w, ::-1]), cv2.COLOR_BGR2YUV_I420)
            f.write(b"FRAME\n" + yuv.tobytes())
    return path


def test_live_page_with_a_fake_camera(server, tmp_path, shots):
    from playwright.sync_api import sync_playwright

    url, _ = server
    cam = _y4m(tmp_path / "cam.y4m")
    with sync_playwright() as p:
        b = _browser(
            p,
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={cam}",
        )
        ctx = b.new_context(viewport={"width": 1100, "height": 900})
        ctx.grant_permissions(["camera"], origin=url)
        page = ctx.new_page()
        problems = _watch(page)
        page.goto(url + "/live")
        assert page.locator("#method").input_value() == "fast-srgan"
        page.select_option("#width", "160")
        page.click("#start")
        page.wait_for_function(
            "parseInt(document.querySelector('#counts').textContent.split('/')[1]) >= 8", timeout=120_000
        )
        page.wait_for_function("document.querySelector('#out').dataset.size")
        assert page.locator("#out").get_attribute("data-size") == "320x240"  # 160x120 sent, x2 back
        time.sleep(4)  # a few seconds of steady state for the figures
        figures = {k: page.locator(f"#{k}").inner_text() for k in ("fps", "p50", "p95", "dropped", "counts", "server")}
        page.screenshot(path=str(shots / "live.png"), full_page=True)
        assert float(figures["fps"]) > 0 and figures["p50"].endswith(" ms") and figures["p95"].endswith(" ms")
        page.click("#stop")
        # Start again: the last session's figures and frame are gone at once (read in the same task as the click)
        after = page.evaluate("""() => { document.querySelector('#start').click();
            return ['fps', 'p50', 'p95', 'dropped', 'counts', 'server'].map(k => document.querySelector('#' + k).textContent)
                   .concat([document.querySelector('#out').hasAttribute('src') ? 'frame' : '']); }""")
        assert after == ["–"] * 6 + [""], after
        b.close()
    (shots / "live-figures.json").write_text(
        json.dumps({"method": "fast-srgan", "send": "160x120", **figures}, indent=1)
    )
    assert problems == []


def test_two_raters_complete_a_dsis_study(server, tmp_path, shots, photos):
    from playwright.sync_api import sync_playwright

    from benchmark.cli import app as cli

    url, runs = server
    r = run(
        RunConfig(
            methods=["identity", "bicubic"],
            datasets=[f"{photos}@x2"],
            metrics=["psnr", "ssim", "niqe"],
            out=str(runs / "r1"),
        ),
        progress=False,
    )
    assert not r.failures
    info = study.create(r.out_dir, protocol="dsis", name="dsis-test", repeats=1)
    con = study.connect(runs)
    method_of = {
        row["a"]: ("hidden" if row["a"] == row["ref"] else row["method"])
        for row in con.execute("SELECT * FROM stimuli")
    }
    con.close()
    with sync_playwright() as p:
        b = _browser(p)
        page = b.new_page(viewport={"width": 1000, "height": 800})
        page.goto(url + "/study")
        assert "dsis-test" in page.locator("#studies").inner_text()
        page.screenshot(path=str(shots / "studies.png"), full_page=True)
        links = {}
        for rater, grades in (
            ("alice", {"hidden": 5, "bicubic": 4, "identity": 2}),
            ("bob", {"hidden": 5, "bicubic": 5, "identity": 3}),
        ):
            ctx = b.new_context(viewport={"width": 1000, "height": 800})  # a browser of their own
            page = ctx.new_page()
            problems = _watch(page)
            page.goto(url + "/study/dsis-test?hold=0.05")
            assert (
                page.locator("#hold-note").inner_text().startswith("Each picture is shown for 0.05 s")
            )  # the study's 3 s, overridden
            page.fill("#rater-name", rater)
            page.click("#begin")
            page.wait_for_selector("#resume-box:not([hidden])")
            links[rater] = page.locator("#resume-link").inner_text()
            assert re.fullmatch(re.escape(url) + r"/study/dsis-test#resume=[0-9a-f]{16}\.[\w-]{32}", links[rater])
            for k in range(info["trials_per_rater"]):
                page.wait_for_selector("#vote:not([hidden])")
                assert page.locator("#progress").inner_text() == f"Trial {k + 1} of {info['trials_per_rater']}"
                shown = page.locator("#stimulus").get_attribute("src").rsplit("/", 1)[1]
                if rater == "alice" and k == 1:
                    page.screenshot(path=str(shots / "study-trial.png"), full_page=True)
                    page.click("#pause")  # stop, reload, resume
                    page.reload()
                    page.click("#begin")
                    page.wait_for_selector("#vote:not([hidden])")
                    assert page.locator("#progress").inner_text() == f"Trial 2 of {info['trials_per_rater']}"
                    shown = page.locator("#stimulus").get_attribute("src").rsplit("/", 1)[1]
                page.click(f"[data-grade='{grades[method_of[shown]]}']")
            page.wait_for_selector("#done:not([hidden])")
            assert problems == []
            ctx.close()
        ctx = b.new_context()  # alice's private link in another browser: her list, done
        page = ctx.new_page()
        page.goto(links["alice"])
        page.wait_for_function("document.querySelector('#resume-note').textContent.includes('rater-1')")
        assert "#" not in page.url  # the secret leaves the address bar
        page.click("#begin")
        page.wait_for_selector("#done:not([hidden])")
        ctx.close()
        # the leaderboards page serves the site of the runs, with the study's rows once they exist
        res = CliRunner().invoke(cli, ["study", "results", "dsis-test", "--runs", str(runs)])
        assert res.exit_code == 0, res.output
        page = b.new_page(viewport={"width": 1200, "height": 900})
        page.goto(url + "/leaderboards/")
        board = page.locator("table.board").first
        assert "mos" in board.locator("thead").inner_text()
        assert (
            page.locator("header.bench-nav a.on").inner_text() == "Leaderboards"
        )  # the app's menu on the site's pages
        assert "Agreement with people" in page.locator("#agreement").inner_text()  # the study's MOS against each metric
        page.screenshot(path=str(shots / "leaderboards.png"), full_page=True)
        page.click("header.bench-nav >> text=Study")
        page.wait_for_url(url + "/study")
        b.close()
    (shots / "study-results.txt").write_text(res.output)
    out = re.sub(r"\s+", " ", res.output)
    assert "dropped: nobody" in out and "2 rater(s)" in out
    # MOS with intervals: bicubic (4 + 5) / 2, identity (2 + 3) / 2, 6 grades each (3 items x 2 raters)
    assert re.search(r"│ identity │ 2\.50 │ 1\.93–3\.07 │ 2\.50 │ 1\.93–3\.07 │ 6 │ 2 │", out), out
    assert re.search(r"│ bicubic │ 4\.50 │ 3\.93–5\.00 │ 0\.50 │", out), (
        out
    )  # the interval is clipped to the 1..5 scale
    # the raters against PSNR, SSIM and NIQE (issue 34): `bench report RUN study-NAME`
    rep = CliRunner().invoke(
        cli,
        ["report", str(runs / "r1"), str(runs / "study-dsis-test"), "-o", str(tmp_path / "rep")],
        env={"COLUMNS": "200"},
    )
    assert rep.exit_code == 0, rep.output
    assert "status '?'" not in rep.output  # a study's results are a complete run
    (shots / "agreement.txt").write_text(rep.output)
    agr = pd.read_csv(tmp_path / "rep" / "agreement.csv").set_index("metric")
    assert set(agr.index) == {"psnr", "ssim", "niqe"} and (agr.n_items == 3).all() and (agr.n_points == 6).all()
    # the raters prefer bicubic on every item, as PSNR and SSIM do: both rank the methods as the people do
    assert (
        agr.loc["psnr", "rank_tau"] == 1
        and agr.loc["ssim", "rank_tau"] == 1
        and not agr.loc[["psnr", "ssim"], "flagged"].any()
    )
