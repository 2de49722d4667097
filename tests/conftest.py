import http.server
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from benchmark.core.imaging import write_png


@pytest.fixture(autouse=True, scope="session")
def _isolated_settings(tmp_path_factory):
    """Libraries' own settings files go to this session's folder, not the user's home
    (ultralytics writes ~/.config/Ultralytics/settings.json on first import)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("YOLO_CONFIG_DIR", str(tmp_path_factory.mktemp("ultralytics")))
    yield
    mp.undo()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's ~/.cache/bench from tests."""
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(autouse=True)
def _no_cost_rows(monkeypatch):
    """Runs in tests record no cost rows (params, MACs, peak memory, latency), so that each test's
    rows are the ones it is about; tests/test_cost.py turns them on (RunConfig(cost=True))."""
    monkeypatch.setenv("BENCH_COST", "0")


@pytest.fixture(autouse=True)
def _eager_networks(monkeypatch):
    """Networks run in eager PyTorch unless a test asks for an engine (tests/test_engine.py,
    tests/test_engine_runs.py): each test has a cache of its own, where OpenVINO would convert every
    network again, and the rows' method versions stay the eager ones the tests pin."""
    monkeypatch.setenv("BENCH_ENGINE", "eager")


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The standard sets (../shared/data in CI). Missing: a failure in CI, a skip elsewhere."""
    root = os.environ.get("BENCH_DATA_ROOT")
    if root and Path(root, "images").is_dir():
        return Path(root)
    msg = "standard sets not found: set BENCH_DATA_ROOT to the folder holding images/, video/, coco/"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def smooth_image(h: int, w: int, c: int = 3, seed: int = 0) -> np.ndarray:
    """A natural-looking test image: low-frequency colour fields plus mild texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    chans = []
    for k in range(c):
        f = 128 + 60 * np.sin(x / (7 + 3 * k) + rng.uniform(0, 6)) * np.cos(y / (11 + 2 * k) + rng.uniform(0, 6))
        chans.append(f + rng.normal(0, 6, (h, w)))
    return np.clip(np.stack(chans, axis=2), 0, 255).astype(np.uint8)


@pytest.fixture
def image_folder(tmp_path) -> Path:
    d = tmp_path / "imgs"
    d.mkdir()
    for i, (h, w) in enumerate([(48, 64), (40, 56), (64, 64)]):
        write_png(d / f"img{i}.png", smooth_image(h, w, seed=i))
    return d


@pytest.fixture
def frame_folder(tmp_path) -> Path:
    d = tmp_path / "clip"
    d.mkdir()
    base = smooth_image(64, 80, seed=3)
    for i in range(6):
        write_png(d / f"{i:08d}.png", np.roll(base, 2 * i, axis=1))
    return d


@pytest.fixture
def mini_coco(tmp_path) -> Path:
    """A COCO-layout data root (coco/val2017 + instances + captions) built from
    scikit-image photos, so the task metrics run without the standard sets."""
    import json

    from skimage import data as skdata

    root = tmp_path / "coco_root"
    img_dir = root / "coco" / "val2017"
    ann_dir = root / "coco" / "annotations"
    img_dir.mkdir(parents=True)
    ann_dir.mkdir(parents=True)
    photos = [
        (
            "chelsea",
            skdata.chelsea(),
            "cat",
            [60, 30, 300, 260],
            ["a cat sitting on a floor", "an orange cat looking at the camera"],
        ),
        (
            "astronaut",
            skdata.astronaut(),
            "person",
            [120, 20, 300, 490],
            ["an astronaut posing with a flag", "a woman in a space suit"],
        ),
        ("coffee", skdata.coffee(), "cup", [80, 40, 350, 300], ["a cup of coffee on a saucer", "coffee in a red cup"]),
    ]
    images, anns, caps = [], [], []
    for i, (name, img, label, box, captions) in enumerate(photos, start=1):
        write_png(img_dir / f"{name}.png", img)
        images.append({"id": i, "file_name": f"{name}.png", "width": img.shape[1], "height": img.shape[0]})
        anns.append(
            {
                "id": i,
                "image_id": i,
                "category_id": {"person": 1, "cat": 17, "cup": 47}[label],
                "bbox": box,
                "area": box[2] * box[3],
                "iscrowd": 0,
            }
        )
        caps += [{"id": 10 * i + k, "image_id": i, "caption": c} for k, c in enumerate(captions)]
    cats = [{"id": 1, "name": "person"}, {"id": 17, "name": "cat"}, {"id": 47, "name": "cup"}]
    (ann_dir / "instances_val2017.json").write_text(
        json.dumps({"images": images, "annotations": anns, "categories": cats})
    )
    (ann_dir / "captions_val2017.json").write_text(json.dumps({"images": images, "annotations": caps}))
    return root


def tiny_captioner(path: Path) -> Path:
    """A randomly initialised, tiny BLIP captioner saved like a Hub model (no download)."""
    import torch
    import transformers as T

    path.mkdir(parents=True, exist_ok=True)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "cat", "on", "the", "floor", "cup", "[DEC]"] + [
        f"w{i}" for i in range(20)
    ]
    (path / "vocab.txt").write_text("\n".join(words) + "\n")
    tok = T.BertTokenizer(str(path / "vocab.txt"), bos_token="[DEC]")
    proc = T.BlipProcessor(image_processor=T.BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok)
    torch.manual_seed(0)
    cfg = T.BlipConfig(
        text_config=dict(
            vocab_size=len(words),
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=40,
            bos_token_id=words.index("[DEC]"),
            pad_token_id=0,
            sep_token_id=3,
        ),
        vision_config=dict(
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            image_size=32,
            patch_size=8,
        ),
        projection_dim=16,
    )
    T.BlipForConditionalGeneration(cfg).save_pretrained(path)
    proc.save_pretrained(path)
    return path


class RangeServer(http.server.ThreadingHTTPServer):
    """Serves ``files`` (path -> bytes) on 127.0.0.1 with HTTP range requests; records each
    request's Range header (``ranges``) and path (``paths``)."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), RangeHandler)
        self.files: dict[str, bytes] = {}
        self.ranges: list[str | None] = []
        self.paths: list[str] = []
        self.honour_ranges = True

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class RangeHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server API
        self.server.paths.append(self.path)
        data = self.server.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        rng = self.headers.get("Range")
        self.server.ranges.append(rng)
        start = int(rng.split("=")[1].split("-")[0]) if rng and self.server.honour_ranges else 0
        if start >= len(data) and rng:
            self.send_response(416)
            self.end_headers()
            return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A local HTTP server (127.0.0.1, a free port) for download tests; nothing leaves the machine."""
    srv = RangeServer()
    thread = threading.Thread(
        target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )  # shutdown() waits one poll
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


# Debian's Chromium, driven by Playwright (never a downloaded browser)
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    """The system Chromium's path; missing (or playwright missing): a failure in CI, a skip elsewhere."""
    exe = (
        os.environ.get("BENCH_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        exe = None
    if not exe:
        msg = "headless browser test needs Chromium (Debian: apt install chromium) and playwright (the [test] extra)"
        pytest.fail(msg) if os.environ.get("CI") else pytest.skip(msg)
    return exe


def install_plugin(pkg: Path, target: Path) -> dict:
    """``pkg`` (a plug-in's source folder) pip-installed into ``target`` offline; returns the environment
    in which ``python -m benchmark.cli`` sees it."""
    import subprocess
    import sys

    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-deps", "--no-index"]
        + ["--target", str(target), str(pkg)],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    return {
        **os.environ,
        "COLUMNS": "250",
        "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]),
    }
