"""Temporary re-export for methods/h264.py and tests/test_h264.py, which were being edited when
the layout moved (issue 38): the trainable base now lives in :mod:`benchmark.methods.adapters.trainable`. Remove once they import it there."""

from benchmark.methods.adapters.trainable import *  # noqa: F401,F403
from benchmark.methods.adapters.trainable import TrainableMethod, frames_to_tensor, tensor_to_frames  # noqa: F401
