"""bench: train, run and score perceptual image and video enhancement methods.

The public plug-in contracts live in :mod:`benchmark.api`; the registries in
:mod:`benchmark.registry`.
"""

__version__ = "0.1.0"
