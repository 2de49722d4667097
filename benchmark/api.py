"""The plug-in contracts: Dataset/Item, Degradation, Method, Metric.

Data flows one way: dataset item -> degradation chain -> method -> metrics -> rows.
Frames are uint8 ``HxWxC`` arrays, RGB (C=3) or gray (C=1): see :mod:`benchmark.core.imaging`. A
degradation may yield float32 frames on the 0-255 scale (noise kept unrounded); they reach the
steps and methods that declare ``takes_float``, and are rounded and clipped for the others.
An image is a one-frame sequence, so every stage works on iterators of frames and a
video is never held in memory as a whole.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Iterator

import numpy as np

from benchmark.core.contract import Plugin, _declared, contract_problem  # noqa: F401  (the plug-ins' base and its check)
from benchmark.core.stream import restore_stream  # noqa: F401  (the one driver of a method over a clip)


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def digest(*parts: Any) -> str:
    """Content address: sha256 of the canonical JSON of ``parts``."""
    return hashlib.sha256(canonical_json(parts).encode()).hexdigest()


# ----------------------------------------------------------------------------- datasets
@dataclass
class Item:
    """One reference image or clip, with its annotations.

    ``frames()`` yields the reference frames (one for an image); ``fingerprint()``
    identifies the content (hash of the source bytes and the loader's version)."""

    item_id: str
    kind: str  # "image" | "video"
    frames: Callable[[], Iterator[np.ndarray]]
    fingerprint: Callable[[], str]
    annotations: dict[str, Any] = field(default_factory=dict)
    fps: float | None = None
    source: str | None = None  # path, for messages


class Dataset(Plugin):
    """A base data set (no degradation). Subclasses set ``name``/``version`` and yield items.

    ``root`` is the data root (``--data-root`` / ``BENCH_DATA_ROOT``), or None."""

    #: "image" or "video"
    kind: ClassVar[str] = "image"
    #: relative location under the data root, shown in errors and `bench list`
    layout: ClassVar[str] = ""
    contract = {
        **Plugin.contract,
        "kind": ((str,), '"image" or "video"'),
        "layout": ((str,), "its folder under the data root, shown in errors and `bench list`"),
    }

    @classmethod
    def check_declared(cls) -> str | None:
        kind = _declared(cls, "kind")
        return (
            None
            if kind in (None, "image", "video")
            else f'declares kind = {kind!r}, but kind must be "image" or "video"'
        )

    def __init__(self, root: Path | None = None, **params: Any):
        self.root = root
        self.params = params

    def items(self) -> Iterator[Item]:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "kind": self.kind, **self.params}


# ------------------------------------------------------------------------- degradations
class Degradation(Plugin):
    """A result-changing transform of the reference. Every parameter is in ``params``.

    Subclasses declare ``token`` (a regex matched against one ``-``-separated part
    of a dataset name, e.g. ``qf(?P<quality>\\d+)``) and build themselves with
    :meth:`from_token`. ``apply_frames`` maps an iterator of frames to degraded
    frames; codecs override it to stream through an encoder. ``info`` receives
    side figures such as bits per pixel or bitrate."""

    token: ClassVar[str] = ""
    #: data-set names that use it, for `bench list` and error messages
    examples: ClassVar[tuple[str, ...]] = ()
    #: True for a step that defines the protocol's reference itself (e.g. ``gray``): the reference
    #: is scored through :meth:`prepare_reference`, and its key holds the step. Set for you when a
    #: subclass defines ``prepare_reference``.
    transforms_reference: ClassVar[bool] = False
    #: True when ``apply_frames`` takes float frames (0-255 scale) as they are; a step that does
    #: not gets float frames rounded and clipped to uint8 first (:mod:`benchmark.run.stages.degrade`)
    takes_float: ClassVar[bool] = False
    #: True when it yields float frames (0-255 scale, unrounded: Gaussian noise added in float)
    makes_float: ClassVar[bool] = False
    #: True for a random step: the run binds it to each item's seed with :meth:`with_seed` (the
    #: degraded input's key then holds the item and the run's seed)
    seeded: ClassVar[bool] = False
    contract = {
        **Plugin.contract,
        "token": ((str,), "regex matched against one `-`-separated part of a data-set name"),
        "examples": ((tuple,), "data-set names that use it"),
        "transforms_reference": ((bool,), "it changes the reference itself (prepare_reference)"),
        "takes_float": ((bool,), "apply_frames takes float frames as they are"),
        "makes_float": ((bool,), "it yields float frames (0-255, unrounded)"),
        "seeded": ((bool,), "random: bound to each item's seed by with_seed"),
    }

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if "prepare_reference" in cls.__dict__ and "transforms_reference" not in cls.__dict__:
            cls.transforms_reference = True

    @classmethod
    def check_declared(cls) -> str | None:
        if cls.seeded and cls.with_seed is Degradation.with_seed:
            return "declares seeded = True but does not define with_seed(seed)"
        if cls.transforms_reference and cls.prepare_reference is Degradation.prepare_reference:
            return "declares transforms_reference = True but does not define prepare_reference(frame)"
        return None

    def __init__(self, **params: Any):
        self.params = params

    @classmethod
    def from_token(cls, match: re.Match) -> "Degradation":
        return cls(**{k: v for k, v in match.groupdict().items() if v is not None})

    @classmethod
    def match(cls, token: str) -> "Degradation | None":
        if not cls.token:
            return None
        m = re.fullmatch(cls.token, token)
        return cls.from_token(m) if m else None

    @property
    def scale(self) -> int:
        """Spatial reduction factor (1 unless the degradation downscales)."""
        return 1

    def label(self) -> str:
        """Canonical token, e.g. ``qf20``."""
        raise NotImplementedError

    def apply(self, frame: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def apply_frames(
        self, frames: Iterable[np.ndarray], fps: float | None, info: dict[str, Any]
    ) -> Iterator[np.ndarray]:
        for f in frames:
            yield self.apply(f)

    def prepare_reference(self, frame: np.ndarray) -> np.ndarray:
        """The reference as the protocol scores it (only for ``transforms_reference`` steps)."""
        return frame

    def with_seed(self, seed: int) -> "Degradation":
        """This step bound to one item's generator seed (only for ``seeded`` steps)."""
        raise NotImplementedError(f"{self.name} is not seeded")

    def kernel_side(self) -> int:
        """The side of its largest kernel in pixels (0: none): a larger one than the image is refused
        before any work."""
        return 0

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, **self.params}


# ------------------------------------------------------------------------------ methods
@dataclass
class Context:
    """What a method may know about its input."""

    scale: int = 1  # the reference is `scale` times larger than the degraded input
    degradation: str = ""  # canonical chain, e.g. "x4-qf30"
    item_id: str = ""
    kind: str = "image"
    fps: float | None = None
    device: str = "cpu"
    seed: int = 0
    #: for a windowed method (``Method.window``): how many frames of the list handed to
    #: ``process`` are past context at its start and future context at its end; the
    #: method returns outputs for the frames between them only
    context: tuple[int, int] = (0, 0)
    #: index in the clip of the first frame it returns outputs for in this call
    first_frame: int = 0
    #: for a method over a base method (``tsmooth``): the base's cached output of clip frame
    #: ``i``, read in order, or None (not cached, or already passed): compute it then
    base_frames: Callable[[int], np.ndarray | None] | None = None


class Method(Plugin):
    """An enhancement method. ``process`` maps a batch of degraded frames (a list of
    uint8 HxWxC arrays, consecutive frames of one clip for video) to restored frames
    of the reference's size: uint8, or float on the 0-255 scale.

    Every clip is fed in order, batch after batch, after a call to ``start_clip``, so a
    frame-recurrent method may keep state between calls and reset it there. A
    multi-frame method declares ``window = (past, future)``: each call then also gets up
    to ``past`` frames before the batch and ``future`` frames after it (fewer at the
    clip's ends; ``ctx.context`` says how many) and returns outputs for the batch only.
    :func:`restore_stream` is the one driver that honours this for ``bench run`` and
    ``bench enhance``.

    ``scale`` is how many times larger than its input the method's output is: 1 for
    restoration, the factor of a super-resolution model, or ``None`` for a method that
    follows whatever scale the data set asks for (``identity``, ``bicubic``). A run refuses
    a method whose scale disagrees with a data set's degradation (:func:`check_scale`), and
    ``bench enhance`` takes the output size from it.

    ``version`` and ``weights_hash`` enter every cache key: change either when the
    output changes."""

    #: sha256 of its weights file, if any (enters the cache key)
    weights_hash: str | None = None
    #: a plug-in's source digest (set by ``make_method`` for every method that is not built in)
    code_hash: str | None = None
    #: the registry name it was made from (set by ``make_method``; ``name`` may differ: a weights file's stem)
    registry_name: str | None = None
    #: output size / input size; None: any (the data set's)
    scale: int | None = 1
    #: neighbouring frames consumed on each side of the batch: (past, future)
    window: ClassVar[tuple[int, int]] = (0, 0)
    #: True when ``process`` takes float frames (0-255 scale, unrounded, e.g. Gaussian noise
    #: added in float); a method that does not gets them rounded and clipped to uint8, and its
    #: rows' ``method_version`` says so
    takes_float: bool = False
    #: True when its output at scale 1 is its input itself (``identity``): the cached degraded
    #: frames are scored as its output, never copied
    passthrough: ClassVar[bool] = False
    #: the method whose cached output on the same input it reads (``ctx.base_frames``), or None
    #: (``tsmooth:base=gan`` sets it when made)
    base: "Method | None" = None
    #: True when its outputs on OpenVINO at f32 are eager PyTorch's after rounding to 8 bits, so its
    #: version need not name the engine (:mod:`benchmark.core.engine`)
    engine_exact: ClassVar[bool] = False
    #: the inference engine its networks run on (set by the run: :func:`benchmark.core.engine.settle`)
    engine: Any = None
    contract = {
        **Plugin.contract,
        "weights_hash": ((str, type(None)), "sha256 of its weights (enters the cache key)"),
        "code_hash": ((str, type(None)), "set by the run: the digest of a plug-in's source file"),
        "registry_name": ((str, type(None)), "set by the run: the registry name it was made from"),
        "scale": ((int, type(None)), "output size / input size; None: the data set's"),
        "window": ((tuple,), "(past, future) neighbouring frames each call also gets"),
        "takes_float": ((bool,), "process takes float frames as they are"),
        "passthrough": ((bool,), "its output at scale 1 is its input (identity)"),
        "base": ((type(None),), "None on the class; an instance may set the Method whose cached output it reads"),
        "engine_exact": ((bool,), "its outputs on OpenVINO at f32 are eager's after rounding"),
        "engine": ((type(None),), "None on the class; set by the run: the engine its networks run on"),
    }

    @classmethod
    def check_declared(cls) -> str | None:
        w, scale = _declared(cls, "window") or (0, 0), _declared(cls, "scale")
        if len(w) != 2 or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in w):
            return f"declares window = {w!r}, but window must be (past, future): two whole numbers >= 0"
        if isinstance(scale, int) and scale < 1:
            return f"declares scale = {scale!r}, but scale must be at least 1 (or None)"
        return None

    def __init__(self, **params: Any):
        self.params = params

    def setup(self, device: str) -> None:
        """Load weights; called once before the first ``process``."""

    def start_clip(self, ctx: Context) -> None:
        """Called before the first frame of every clip or image: reset recurrent state."""

    def process(self, frames: list[np.ndarray], ctx: Context) -> list[np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def network(self) -> Any:
        """The torch network(s) ``process`` runs, for the run's cost rows (optional; called after
        ``setup``): a ``torch.nn.Module``, a list or dict of them, or None (this default) for a
        method without one. Its parameters are the ``params`` row, and with a network the run
        counts the multiply-accumulates of a ``process`` call (``macs``); without one both rows
        are ``n/a``. Peak memory and latency are measured either way (docs/metrics.md, "Cost")."""
        return None

    def provenance(self) -> dict[str, Any] | None:
        """What the run manifest records of where it came from (``plugins``); None (this default):
        its registry entry's origin, target and version."""
        return None

    def identity(self) -> dict[str, Any]:
        out = {"name": self.name, "version": self.version, "weights": self.weights_hash, "params": self.params}
        if self.code_hash:  # plug-ins only: built-in identities (and their cache keys) are unchanged
            out["code"] = self.code_hash
        return out


def check_scale(method: Method, dataset: str, scale: int) -> None:
    """Raise :class:`~benchmark.errors.BenchError` when ``method`` enlarges its input by a
    factor other than ``scale``, the downscale of the data set named ``dataset``."""
    from .errors import BenchError

    if method.scale is None or method.scale == scale:
        return
    does = "restores at x1 (no upscaling)" if method.scale == 1 else f"upscales x{method.scale}"
    has = "has no downscale (x1)" if scale == 1 else f"is downscaled x{scale}"
    fix = (
        "a data set without a downscale (e.g. live1-qf20)"
        if method.scale == 1
        else f"an x{method.scale} data set (e.g. set5-x{method.scale}, live1-x{method.scale}-qf30)"
    )
    raise BenchError(f"method {method.name!r} {does}, but data set {dataset!r} {has}: run it on {fix}.")


# ------------------------------------------------------------------------------ metrics
class Metric(Plugin):
    """A per-frame score. ``kind`` is ``"fr"`` (full-reference), ``"nr"``
    (no-reference), ``"task"`` or ``"speed"``. ``conventions`` states everything that
    moves the number (colour space, crop border, data range, window)."""

    kind: ClassVar[str] = "fr"
    higher_is_better: ClassVar[bool] = True
    unit: ClassVar[str] = ""
    family: ClassVar[str] = "fidelity"
    conventions: ClassVar[dict[str, Any]] = {}
    #: run options passed to ``__init__`` (e.g. "detector")
    options: ClassVar[tuple[str, ...]] = ()
    #: its card (``bench metrics card``): the license of its code and weights, the values it takes,
    #: published values it was checked against
    license: ClassVar[str] = ""
    value_range: ClassVar[str] = ""
    reference_values: ClassVar[str] = ""
    #: keys of :data:`benchmark.files.metricweights.FILES` it loads (``bench metrics fetch`` gets them)
    weights_files: ClassVar[tuple[str, ...]] = ()
    #: the pyiqa model it wraps ('' for none), whose own files ``bench metrics fetch`` gets by building it
    pyiqa_name: ClassVar[str] = ""
    #: (folder under torch.hub's directory, URL) of each file a pyiqa-backed metric loads
    weights: ClassVar[tuple[tuple[str, str], ...]] = ()
    contract = {
        **Plugin.contract,
        "kind": ((str,), '"fr", "nr", "task" or "speed"'),
        "higher_is_better": ((bool,), "the direction of a better score"),
        "unit": ((str,), "the unit of its values ('' for none)"),
        "family": ((str,), "its group on the site (fidelity, perceptual, temporal, task ...)"),
        "conventions": ((dict,), "everything that moves the number (colour space, crop border, window)"),
        "options": ((tuple,), "run options passed to __init__ (detector, captioner)"),
        "license": ((str,), "its card: the license of its code and weights"),
        "value_range": ((str,), "its card: the values it takes"),
        "reference_values": ((str,), "its card: published values it was checked against"),
        "weights_files": ((tuple,), "keys of benchmark.files.metricweights.FILES it loads"),
        "pyiqa_name": ((str,), "the pyiqa model it wraps ('' none)"),
        "weights": ((tuple,), "(folder, URL) of each file a pyiqa-backed metric loads"),
    }

    def __init__(self, **params: Any):
        self.params = {k: v for k, v in params.items() if v is not None}

    @classmethod
    def check_declared(cls) -> str | None:
        kinds, kind = ("fr", "nr", "task", "speed"), _declared(cls, "kind")
        return (
            None
            if kind is None or kind in kinds
            else f"declares kind = {cls.kind!r}, but kind must be one of {', '.join(kinds)}"
        )

    @classmethod
    def missing_weights(cls) -> list[tuple[str, Path]]:
        """(URL, local path) of each file of ``weights`` that is not on disk (none by default)."""
        return []

    def score(
        self, output: np.ndarray, reference: np.ndarray | None, crop_border: int = 0
    ) -> float:  # pragma: no cover
        raise NotImplementedError

    def identity(self) -> dict[str, Any]:
        out = {"name": self.name, "version": self.version, "conventions": self.conventions}
        if self.params:
            out["params"] = self.params
        return out


class ClipMetric(Metric):
    """A metric that sees a whole clip in order (temporal metrics, VMAF).

    The runner calls ``start`` once per item, ``update`` once per frame (output and
    reference, in display order) and ``finish`` at the end, which returns one value
    per frame, ``None`` where the metric is undefined (e.g. the first frame of a
    flow-based metric). A still image is a clip of one frame."""

    def start(self, crop_border: int = 0) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def update(self, output: np.ndarray, reference: np.ndarray) -> None:  # pragma: no cover
        raise NotImplementedError

    def finish(self) -> list[float | None]:  # pragma: no cover
        raise NotImplementedError

    def score(self, output, reference, crop_border=0):
        raise TypeError(f"{self.name} is a clip metric: use start/update/finish")


@dataclass
class CorpusRecord:
    """What a corpus metric sees of one item: its annotations and the cached predictions
    (JSON values, one per frame) on the restored frames and, when asked for, on the
    reference frames."""

    item_id: str
    annotations: dict[str, Any]
    predictions: list[Any]
    reference_predictions: list[Any] | None = None


class CorpusMetric(Metric):
    """A data-set-level task metric (mAP, captioning scores), in two stages:

    * ``predict(frame)`` runs a model on one restored frame and returns a small
      JSON-able prediction (boxes, a caption). Predictions are cached on disk under
      ``predictor_identity()`` and the output's content key, so metrics that share a
      model (``map``, ``map50``, ``voc-map50``) run it once per image.
    * ``compute(records)`` streams one :class:`CorpusRecord` per item and returns
      ``{metric name: value}``; its first entry is the headline value (named
      ``self.name``), the others are breakdowns such as per-class AP
      (``"voc-ap50/dog"``). Only predictions are held, never images.

    ``options`` names the run options a metric takes (``detector``, ``captioner``)."""

    kind: ClassVar[str] = "task"
    #: True when ``compute`` needs predictions on the reference frames too
    needs_reference_predictions: ClassVar[bool] = False
    contract = {
        **Metric.contract,
        "needs_reference_predictions": ((bool,), "compute needs predictions on the reference frames too"),
    }

    def setup(self, device: str) -> None:
        """Load the model; called once before the first ``predict``."""

    def needs_reference(self, annotations: dict[str, Any]) -> bool:
        """Whether ``compute`` needs predictions on the reference frames of this item."""
        return self.needs_reference_predictions

    def predictor_identity(self) -> dict[str, Any]:  # pragma: no cover - interface
        raise NotImplementedError

    def predict(self, frame: np.ndarray) -> Any:  # pragma: no cover
        raise NotImplementedError

    def predict_many(self, frames: list[np.ndarray]) -> list[Any]:
        """``predict`` on several frames of a clip; a metric whose model batches overrides it."""
        return [self.predict(f) for f in frames]

    def compute(self, records: Iterator[CorpusRecord]) -> dict[str, float]:  # pragma: no cover
        raise NotImplementedError

    def score(self, output, reference, crop_border=0):
        raise TypeError(f"{self.name} is a corpus metric: it is computed over a whole data set")


def crop(img: np.ndarray, border: int) -> np.ndarray:
    """``img`` without ``border`` pixels on each side. Raises ValueError when nothing is left
    (a score over zero pixels is no score: PSNR would read 100 dB)."""
    h, w = img.shape[:2]
    b = max(border, 0)
    if h - 2 * b <= 0 or w - 2 * b <= 0:
        raise ValueError(
            f"nothing left to score after a crop border of {b} on a {w}x{h} frame "
            f"(it needs a frame larger than {2 * b}x{2 * b}; lower --crop-border or use larger images)"
        )
    if border <= 0:
        return img
    return img[border:-border, border:-border]
