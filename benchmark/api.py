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


class Dataset:
    """A base data set (no degradation). Subclasses set ``name``/``version`` and yield items.

    ``root`` is the data root (``--data-root`` / ``BENCH_DATA_ROOT``), or None."""

    name: ClassVar[str] = "?"
    version: ClassVar[str] = "1"
    kind: ClassVar[str] = "image"
    description: ClassVar[str] = ""
    #: relative location under the data root, shown in errors and `bench list`
    layout: ClassVar[str] = ""

    def __init__(self, root: Path | None = None, **params: Any):
        self.root = root
        self.params = params

    def items(self) -> Iterator[Item]:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "kind": self.kind, **self.params}


# ------------------------------------------------------------------------- degradations
class Degradation:
    """A result-changing transform of the reference. Every parameter is in ``params``.

    Subclasses declare ``token`` (a regex matched against one ``-``-separated part
    of a dataset name, e.g. ``qf(?P<quality>\\d+)``) and build themselves with
    :meth:`from_token`. ``apply_frames`` maps an iterator of frames to degraded
    frames; codecs override it to stream through an encoder. ``info`` receives
    side figures such as bits per pixel or bitrate."""

    name: ClassVar[str] = "?"
    version: ClassVar[str] = "1"
    token: ClassVar[str] = ""
    examples: ClassVar[tuple[str, ...]] = ()
    #: True for transforms that define the protocol's reference itself (e.g. ``gray``)
    transforms_reference: ClassVar[bool] = False
    description: ClassVar[str] = ""
    #: True when ``apply_frames`` takes float frames (0-255 scale) as they are; a step that does
    #: not gets float frames rounded and clipped to uint8 first (:mod:`benchmark.run.stages.degrade`)
    takes_float: ClassVar[bool] = False

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

    def apply_frames(self, frames: Iterable[np.ndarray], fps: float | None, info: dict[str, Any]) -> Iterator[np.ndarray]:
        for f in frames:
            yield self.apply(f)

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


class Method:
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

    name: ClassVar[str] = "?"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    weights_hash: str | None = None
    #: a plug-in's source digest (set by ``make_method`` for every method that is not built in)
    code_hash: str | None = None
    #: output size / input size; None: any (the data set's)
    scale: int | None = 1
    #: neighbouring frames consumed on each side of the batch: (past, future)
    window: ClassVar[tuple[int, int]] = (0, 0)
    #: True when ``process`` takes float frames (0-255 scale, unrounded, e.g. Gaussian noise
    #: added in float); a method that does not gets them rounded and clipped to uint8, and its
    #: rows' ``method_version`` says so
    takes_float: bool = False

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
    fix = ("a data set without a downscale (e.g. live1-qf20)" if method.scale == 1
           else f"an x{method.scale} data set (e.g. set5-x{method.scale}, live1-x{method.scale}-qf30)")
    raise BenchError(f"method {method.name!r} {does}, but data set {dataset!r} {has}: run it on {fix}.")


def restore_stream(method: Method, frames: Iterable[np.ndarray], ctx: Context, batch_size: int,
                   on_batch: Callable[[float, int], None] | None = None) -> Iterator[np.ndarray]:
    """Run ``method`` over one clip's frames in order and yield its checked uint8 outputs,
    one per input frame, holding at most ``past + batch_size + future`` input frames.

    Calls ``start_clip`` first, hands each batch its past/future context (``Method.window``)
    and reports the seconds spent inside ``process`` and the batch length to ``on_batch``."""
    import dataclasses
    import time

    from benchmark.core.imaging import check_outputs

    past, future = method.window
    method.start_clip(ctx)
    it = iter(frames)
    pending: list[np.ndarray] = []  # frames not yet restored, then the look-ahead
    history: list[np.ndarray] = []  # up to `past` frames before pending[0]
    index, exhausted = 0, False
    while True:
        while not exhausted and len(pending) < batch_size + future:
            nxt = next(it, None)
            if nxt is None:
                exhausted = True
            else:
                pending.append(nxt)
        if not pending:
            return
        core, after = pending[:batch_size], pending[batch_size:batch_size + future]
        c = dataclasses.replace(ctx, context=(len(history), len(after)), first_frame=index)
        t0 = time.perf_counter()
        outs = method.process(history + core + after, c)
        if on_batch is not None:
            on_batch(time.perf_counter() - t0, len(core))
        yield from check_outputs(method.name, core, outs, ctx.scale, index)
        history = (history + core)[-past:] if past else []
        del pending[:len(core)]
        index += len(core)


# ------------------------------------------------------------------------------ metrics
class Metric:
    """A per-frame score. ``kind`` is ``"fr"`` (full-reference), ``"nr"``
    (no-reference), ``"task"`` or ``"speed"``. ``conventions`` states everything that
    moves the number (colour space, crop border, data range, window)."""

    name: ClassVar[str] = "?"
    version: ClassVar[str] = "1"
    kind: ClassVar[str] = "fr"
    higher_is_better: ClassVar[bool] = True
    unit: ClassVar[str] = ""
    family: ClassVar[str] = "fidelity"
    conventions: ClassVar[dict[str, Any]] = {}
    description: ClassVar[str] = ""
    options: ClassVar[tuple[str, ...]] = ()  # run options passed to __init__ (e.g. "detector")

    def __init__(self, **params: Any):
        self.params = {k: v for k, v in params.items() if v is not None}

    requires: ClassVar[tuple[str, ...]] = ()  # importable modules it needs, with the extra that installs them
    requires_extra: ClassVar[str] = ""

    @classmethod
    def availability(cls) -> str:
        """'' when usable here, else a short note saying what is missing (for ``bench list``)."""
        import importlib.util

        missing = [m for m in cls.requires if importlib.util.find_spec(m) is None]
        if missing:
            return f"needs {', '.join(missing)}: pip install 'bench-enhance[{cls.requires_extra}]'"
        return ""

    def score(self, output: np.ndarray, reference: np.ndarray | None, crop_border: int = 0) -> float:  # pragma: no cover
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
    needs_reference_predictions: ClassVar[bool] = False

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
        raise ValueError(f"nothing left to score after a crop border of {b} on a {w}x{h} frame "
                         f"(it needs a frame larger than {2 * b}x{2 * b}; lower --crop-border or use larger images)")
    if border <= 0:
        return img
    return img[border:-border, border:-border]
