"""Method speed, measured by the runner around ``Method.process`` calls."""

from __future__ import annotations

from ..api import Metric


class FPS(Metric):
    name = "fps"
    version = "1"
    kind = "speed"
    higher_is_better = True
    unit = "frames/s"
    family = "speed"
    conventions = {
        "measures": "frames / wall seconds inside Method.process (no I/O, no caching, no metrics)",
        "when": "measured when the output is computed; a cached output keeps the speed it was measured at (use --no-cache to re-measure)",
        "device": "see manifest.json",
    }
    description = "Throughput of the method in frames per second, one row per item."

    def score(self, output, reference, crop_border=0):  # pragma: no cover - computed by the runner
        raise RuntimeError("fps is computed by the runner from the method's timing")
