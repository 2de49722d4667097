"""``srgan`` (Ledig et al. 2017, x4) and ``fast-srgan`` (a light x2 generator for real time).

* ``srresnet``: the SRGAN generator trained with MSE (the recipe that initialises SRGAN).
* ``srgan``: SRResNet + a VGG-style discriminator, feature loss (VGG19 relu5_4 when its
  weights are present, else MobileNetV2 features) + 1e-3 adversarial loss.
* ``fast-srgan``: inverted-residual generator with pixel shuffle, L1 + feature + adversarial.
Inputs are RGB in [-1, 1]; outputs are clamped to it."""

from __future__ import annotations

from benchmark.methods.adapters.trainable import TrainableMethod
from benchmark.methods.networks import FastSRGenerator, SRResNet


class SRGAN(TrainableMethod):
    name = "srgan"
    version = "1"
    scale = 4
    weights_name = "srgan"
    description = "SRGAN x4: SRResNet generator (conv-BN-PReLU residual blocks, two x2 pixel-shuffle blocks) trained adversarially."
    build = staticmethod(SRResNet)


class SRResNetMethod(TrainableMethod):
    name = "srresnet"
    version = "1"
    scale = 4
    weights_name = "srresnet"
    description = "SRResNet x4 (SRGAN's generator trained with MSE only)."
    build = staticmethod(SRResNet)


class FastSRGAN(TrainableMethod):
    name = "fast-srgan"
    version = "1"
    scale = 2
    weights_name = "fast-srgan"
    description = "Fast-SRGAN x2: inverted-residual generator with pixel shuffle, for real-time upscaling."
    build = staticmethod(FastSRGenerator)
