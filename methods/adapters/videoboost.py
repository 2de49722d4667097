"""``videoboost``: x5 upscaling (144p-like to 720p-like) with an encoder-decoder generator.
Its discriminator is first trained on real frames against bicubic upscales, then frozen,
and the generator learns against the frozen judge (plus L1 and feature losses)."""

from __future__ import annotations

from benchmark.methods.adapters.trainable import TrainableMethod
from benchmark.methods.networks import VideoBoostGenerator


class VideoBoost(TrainableMethod):
    name = "videoboost"
    version = "1"
    scale = 5
    weights_name = "videoboost"
    tile_multiple = 2  # its stride-2 encoder
    description = "VideoBoost x5: encoder-decoder generator trained against a frozen, pre-trained discriminator."
    build = staticmethod(VideoBoostGenerator)
