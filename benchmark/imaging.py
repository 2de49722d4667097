"""Temporary re-export for methods/h264.py and tests/test_h264.py, which were being edited when
the layout moved (issue 38): frame conventions now lives in :mod:`benchmark.core.imaging`. Remove once they import it there."""

from benchmark.core.imaging import *  # noqa: F401,F403
from benchmark.core.imaging import sha256_file  # noqa: F401
