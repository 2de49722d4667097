"""Large frames are scored in strips (bounded memory) with the whole-frame values."""

import numpy as np
import pytest

from benchmark.metrics import fidelity
from benchmark.registry import metrics

from conftest import smooth_image


def noisy(ref, seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(ref.astype(int) + rng.integers(-12, 13, ref.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("name", ["psnr", "psnr-y", "ssim", "ssim-y", "psnr-b", "niqe", "brisque"])
def test_strips_give_the_whole_frame_value(name, channels, monkeypatch):
    ref = smooth_image(413, 301, c=channels, seed=2)  # sizes that are no multiple of a strip or a 96-block
    out = noisy(ref)
    m = metrics.get(name)()
    fr = ref if m.kind == "fr" else None
    whole = [m.score(out, fr, cb) for cb in (0, 4)]
    calls = []
    real = fidelity.strips
    monkeypatch.setattr(fidelity, "STRIP_PIXELS", 5000)
    monkeypatch.setattr(fidelity, "STRIP_BUDGET", 9000)
    monkeypatch.setattr(fidelity, "strips", lambda *a, **k: calls.append(real(*a, **k)) or calls[-1])
    tiled = [m.score(out, fr, cb) for cb in (0, 4)]
    assert max(len(c) for c in calls) > 3  # it really went strip by strip
    np.testing.assert_allclose(tiled, whole, rtol=1e-12)
