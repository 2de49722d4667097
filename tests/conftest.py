import os
from pathlib import Path

import numpy as np
import pytest

from benchmark.imaging import write_png


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's ~/.cache/bench from tests."""
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


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
