"""No-reference naturalness: NIQE and BRISQUE, offline, with the published models.

Implementation: bench's own NumPy/SciPy/OpenCV code, written from the published
algorithms (Mittal et al.; MATLAB ``imresize``/``fspecial``/``nanmean``/``nancov``/``pinv``;
libsvm's scaling and RBF decision function), fed with model parameters this project ships
in ``benchmark/assets`` and checks by SHA-256 (see :mod:`benchmark.files.weights`), so nothing is
downloaded. Neither pyiqa nor torch is imported. The steps are the MATLAB reference's in
float64 (luma, bicubic half size as ordinary weighted sums, the fits, the shape grid
0.2:0.001:10), with one convention kept from pyiqa and piq: the 7x7 Gaussian window is
rounded to float32 (:mod:`.nss`). With pyiqa's window the port agrees with pyiqa's
functions (``calculate_niqe``, ``brisque(version="original")``, which bench called as
metric version 1) on LIVE1 + CBSD68, clean and QF20 (194 frames): NIQE to 4.5e-4 relative
(mean 1.6e-5), BRISQUE to 0.067 absolute (mean 0.0013). tests/test_nr_metrics.py pins that.

The code is split by job; this module gathers their public names (``from
benchmark.metrics.nr import NIQE, brisque_model, ...`` keeps working):

* :mod:`.nss`: the natural-scene statistics both share (luma, MATLAB bicubic half size,
  MSCN coefficients, GGD/AGGD fits);
* :mod:`.niqe`: the NIQE pristine model, block features, MVG distance, strips, :class:`NIQE`;
* :mod:`.brisque`: the LIVE SVR model and scaling, the features over running sums, strips,
  :class:`BRISQUE`.

Their conventions (which move the numbers by large factors between implementations) are
in the docstrings of :mod:`.niqe` and :mod:`.brisque`.
"""

from __future__ import annotations

from .brisque import (
    BRISQUE,
    BRISQUE_CONTEXT,
    BRISQUE_RANGES,
    brisque_model,
    brisque_score,
    brisque_strips,
    brisque_whole,
    scale_features,
    svr_score,
)
from .niqe import NIQE, NIQE_BLOCK, NIQE_CONTEXT, niqe_block_features, niqe_distance, niqe_params, niqe_strips
from .nss import GAMMA_STEPS, imresize, luma, nearest, normalize_img_with_gauss

__all__ = [
    "BRISQUE",
    "BRISQUE_CONTEXT",
    "BRISQUE_RANGES",
    "GAMMA_STEPS",
    "NIQE",
    "NIQE_BLOCK",
    "NIQE_CONTEXT",
    "brisque_model",
    "brisque_score",
    "brisque_strips",
    "brisque_whole",
    "imresize",
    "luma",
    "nearest",
    "niqe_block_features",
    "niqe_distance",
    "niqe_params",
    "niqe_strips",
    "normalize_img_with_gauss",
    "scale_features",
    "svr_score",
]
