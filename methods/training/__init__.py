"""``bench train``: the shared trainer (:mod:`.trainer`), its settings (:mod:`.config`), the feature
loss (:mod:`.losses`), the training pairs (:mod:`.pairs`) and each trainable method's recipe beside them (:mod:`.galteri`, :mod:`.pix2pix`,
:mod:`.srgan`, :mod:`.videoboost`, :mod:`.h264`). A recipe says what to build and how to take one step; the
trainer does the rest."""

from .config import TrainConfig
from .pairs import PairSource, augment, to_tensor, to_uint8
from .trainer import Recipe, train

__all__ = ["PairSource", "Recipe", "TrainConfig", "augment", "to_tensor", "to_uint8", "train"]
