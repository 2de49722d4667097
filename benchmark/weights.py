"""Temporary re-export for methods/h264.py and tests/test_h264.py, which were being edited when
the layout moved (issue 38): model weights now lives in :mod:`benchmark.files.weights`. Remove once they import it there."""

from benchmark.files.weights import *  # noqa: F401,F403
from benchmark.files.weights import WeightsMissing  # noqa: F401
