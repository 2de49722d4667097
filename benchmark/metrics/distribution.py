"""FID and KID: how far the distribution of a method's outputs over a data set is from that
of the reference images, in the feature space of the FID Inception network.

Corpus metrics (one value per data set and method): each restored frame and each reference
frame is run through the network once (2048-d pool features, cached as the unit's
predictions, shared by ``fid`` and ``kid``), then the set's value is computed from them with
torch-fidelity (Apache-2.0): ``fid_features_to_statistics`` / ``fid_statistics_to_metric``
(Fréchet distance of the two Gaussians, float64) and ``kid_features_to_metric`` (unbiased
MMD² with the cubic polynomial kernel, 100 subsets of min(1000, n) images, seed 2020).

The network is torch-fidelity's port of TensorFlow's 2015-12-05 Inception (the one of the
original FID code), loaded from the verified file ``bench metrics fetch fid`` puts in
``$TORCH_HOME/hub/checkpoints``; its input is the uint8 frame resized to 299x299 with
TensorFlow 1's bilinear rule (torch-fidelity's convention, not clean-fid's PIL bicubic), gray
repeated to RGB, no crop border. With a few dozen images (LIVE1: 29) FID is strongly biased
upwards and KID is the better-behaved of the two; compare only values over the same set.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Iterator

import numpy as np

from benchmark.files.metricweights import FILES, missing_note, require

from ..api import CorpusMetric, CorpusRecord
from .perceptual import WeightedMetric

KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
KID_SEED = 2020


def _uint8_batch(frames: list[np.ndarray]):
    import torch

    x = torch.from_numpy(np.stack([np.ascontiguousarray(f) for f in frames])).permute(0, 3, 1, 2)
    return x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x


class InceptionFeatures:
    """torch-fidelity's FeatureExtractorInceptionV3 ('2048' features) on the verified file."""

    files = ("inception-fid",)

    def identity(self) -> dict[str, Any]:
        return {
            "task": "features",
            "network": "torch-fidelity inception-v3-compat",
            "layer": "2048",
            "weights": FILES["inception-fid"].sha256,
            "resize": "TF1 bilinear to 299x299",
        }

    def availability(self, metric: str) -> str:
        return missing_note(metric, self.files)

    def load(self, metric: str) -> Callable[[list[np.ndarray]], np.ndarray]:
        path = require(metric, self.files)["inception-fid"]
        import torch
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(path))

        def features(frames: list[np.ndarray]) -> np.ndarray:
            with torch.no_grad():
                return net(_uint8_batch(frames))[0].double().numpy()

        return features


#: the feature network (tests put a tiny random one here)
NETWORK: Any = InceptionFeatures()


class _Distribution(CorpusMetric, WeightedMetric):
    kind = "fr"
    family = "perceptual"
    higher_is_better = False
    unit = ""
    needs_reference_predictions = True
    requires = ("torch_fidelity",)
    weights_files = ("inception-fid",)
    license = "Apache-2.0 (torch-fidelity's code and its conversion of TensorFlow's Inception weights)"
    _loaded: ClassVar[dict[str, Callable]] = {}

    @classmethod
    def availability(cls) -> str:
        import importlib.util

        if importlib.util.find_spec("torch_fidelity") is None:
            return "needs torch-fidelity (a dependency of bench-enhance): pip install torch-fidelity"
        return NETWORK.availability(cls.name)

    def predictor_identity(self) -> dict[str, Any]:
        return NETWORK.identity()

    def _features(self) -> Callable[[list[np.ndarray]], np.ndarray]:
        key = repr(sorted(NETWORK.identity().items()))
        if key not in self._loaded:
            self._loaded[key] = NETWORK.load(self.name)
        return self._loaded[key]

    def setup(self, device: str) -> None:
        self._features()

    def predict_many(self, frames: list[np.ndarray]) -> list[Any]:
        if len({f.shape for f in frames}) > 1:
            return [self.predict(f) for f in frames]
        return [[float(v) for v in row] for row in self._features()(frames)]

    def predict(self, frame: np.ndarray) -> Any:
        return self.predict_many([frame])[0]

    @staticmethod
    def gather(records: Iterator[CorpusRecord]):
        """(restored features, reference features) of every frame, float64 tensors."""
        import torch

        out, ref = [], []
        for r in records:
            out += r.predictions
            ref += r.reference_predictions or []
        if min(len(out), len(ref)) < 2:
            raise ValueError(
                f"FID/KID need at least 2 frames on each side, got {len(out)} restored and {len(ref)} reference"
            )
        return torch.tensor(out, dtype=torch.float64), torch.tensor(ref, dtype=torch.float64)


class FID(_Distribution):
    name = "fid"
    version = "1"
    value_range = "0 (same feature statistics) upwards; biased upwards on small sets"
    conventions = {
        "features": "torch-fidelity inception-v3-compat '2048' (TensorFlow 2015-12-05 Inception), TF1 bilinear resize to 299",
        "statistics": "mean and covariance (np.cov) of the restored and of the reference frames, float64",
        "distance": "torch_fidelity.metric_fid.fid_statistics_to_metric",
        "scope": "one value per data set and method",
        "crop_border": "none (whole frames)",
    }
    description = "Fréchet Inception Distance between the restored and the reference frames of a data set (Heusel et al. 2017); 0 is best."

    def compute(self, records: Iterator[CorpusRecord]) -> dict[str, float]:
        from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric

        out, ref = self.gather(records)
        value = fid_statistics_to_metric(
            fid_features_to_statistics(out), fid_features_to_statistics(ref), verbose=False
        )[KEY_METRIC_FID]
        return {self.name: max(float(value), 0.0)}  # rounding can leave -1e-12 for equal sets


class KID(_Distribution):
    name = "kid"
    version = "1"
    value_range = "about 0 (same distribution; the unbiased estimate can be slightly negative) upwards"
    conventions = {
        **FID.conventions,
        "distance": f"torch_fidelity.metric_kid.kid_features_to_metric: unbiased MMD^2, kernel (x.y/d + 1)^3, "
        f"{KID_SUBSETS} subsets of min({KID_SUBSET_SIZE}, n) frames, seed {KID_SEED}",
        "rows": "kid (mean), kid/std",
    }
    description = "Kernel Inception Distance (Bińkowski et al. 2018): unbiased MMD between restored and reference features; 0 is best."

    def compute(self, records: Iterator[CorpusRecord]) -> dict[str, float]:
        from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

        out, ref = self.gather(records)
        res = kid_features_to_metric(
            out,
            ref,
            kid_subsets=KID_SUBSETS,
            kid_subset_size=min(KID_SUBSET_SIZE, len(out), len(ref)),
            verbose=False,
            rng_seed=KID_SEED,
        )
        return {self.name: float(res[KEY_METRIC_KID_MEAN]), f"{self.name}/std": float(res[KEY_METRIC_KID_STD])}
