"""An out-of-tree method adapter: brightness inversion (deliberately terrible)."""

import numpy as np

from benchmark.api import Context, Method


class Invert(Method):
    name = "invert"
    version = "0.3.0"
    description = "255 - x (test plug-in from an external package)"

    def process(self, frames: list[np.ndarray], ctx: Context) -> list[np.ndarray]:
        return [255 - f for f in frames]
