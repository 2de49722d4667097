"""Base adapter for methods with trained weights (safetensors, checksum-verified).

Weights live in ``methods/weights/`` (installed as ``benchmark.methods/weights``), each
``<name>.safetensors`` beside its card ``<name>.json`` (architecture, data, steps, seed,
command, validation figures, SHA-256). A user's own weights replace them through
``Method(weights=PATH)`` or ``$BENCH_WEIGHTS_DIR/<name>.safetensors``. The SHA-256 enters the method's cache key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from benchmark.api import Context, Method
from benchmark.core import environment
from benchmark.core.imaging import channel_mean_uint8, tensor_to_uint8
from benchmark.core.paths import expand as expand_path
from benchmark.errors import warn
from benchmark.files.weights import ENV_WEIGHTS_DIR, WeightsMissing, file_sha256
from benchmark.methods.adapters.tiled import DEFAULT_OVERLAP, Tiling, tiling_settings

WEIGHTS_DIR = Path(__file__).parent.parent / "weights"


def weights_file(name: str, explicit: str | None = None, directory: Path = WEIGHTS_DIR) -> tuple[Path, dict[str, Any]]:
    """(path, card) of a weights file, checked against the card's SHA-256. Looked up in:
    the explicit path, ``$BENCH_WEIGHTS_DIR``, then ``directory`` (the package's own).
    A file without a card is used with a warning: nothing says what it is."""
    if explicit and not expand_path(explicit).is_file():
        # an explicit file is the user's choice: never fall back to other weights under its name
        where = expand_path(explicit)
        raise WeightsMissing(
            f"weights file {explicit} not found ({'a folder' if where.is_dir() else 'no file'} at {where.absolute()}); "
            f"give the path of an existing .safetensors file, or leave weights= out for the shipped '{name}'"
        )
    candidates = [expand_path(explicit)] if explicit else []
    if environment.get(environment.WEIGHTS_DIR):
        candidates.append(Path(environment.get(environment.WEIGHTS_DIR)) / f"{name}.safetensors")
    candidates.append(Path(directory) / f"{name}.safetensors")
    for p in candidates:
        if p.is_file():
            card_path = p.with_suffix(".json")
            card = json.loads(card_path.read_text()) if card_path.exists() else {}
            sha = file_sha256(p)
            if not card_path.exists():
                warn(
                    f"{p} has no card ({card_path.name} beside it): its architecture, training data and checksum are not recorded, "
                    f"so '{name}' is built with the default architecture from a file nothing vouches for (sha256 {sha[:16]}...); "
                    "export weights with `bench train` (it writes the card) or add the card"
                )
            if card.get("sha256") and card["sha256"] != sha:
                raise WeightsMissing(
                    f"{p}: SHA-256 {sha[:16]}... does not match its card {card_path.name} ({card['sha256'][:16]}...)"
                )
            card["sha256"] = sha
            return p, card
    raise WeightsMissing(
        f"weights '{name}.safetensors' not found (looked in: {', '.join(map(str, candidates))}). "
        f"Train them with `bench train` (see docs/methods.md) or put the file in ${ENV_WEIGHTS_DIR}."
    )


def load_generator(name: str, build, explicit: str | None, device: str, directory: Path = WEIGHTS_DIR):
    """Build the generator from the card's architecture and load the weights safely."""
    from safetensors.torch import load_file

    path, card = weights_file(name, explicit, directory)
    arch = {k: v for k, v in card.get("architecture", {}).items() if k != "class"}
    model = build(**arch)
    model.load_state_dict(load_file(str(path), device="cpu"))
    model.eval().to(device)
    return model, card


def frames_to_tensor(frames: list[np.ndarray], device: str):
    import torch

    arr = np.stack([f if f.shape[2] == 3 else np.repeat(f, 3, 2) for f in frames])
    return torch.from_numpy(arr).to(device).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def tensor_to_frames(t, like: list[np.ndarray]) -> list[np.ndarray]:
    out = tensor_to_uint8(t, -1.0)
    return [o if f.shape[2] == 3 else channel_mean_uint8(o) for o, f in zip(out, like)]


def versioned(version: str, cards: list[dict[str, Any]]) -> str:
    """The method version with the perceptual-loss backbone its weights were trained with
    (``1+mobilenetv2`` or ``1+vgg19``), as recorded in their cards."""
    backbones = sorted({c.get("params", {}).get("perceptual_backbone") for c in cards} - {None})
    return f"{version}+{'/'.join(backbones)}" if backbones else version


class TrainableMethod(Method):
    """A method with trained weights, each file checked against its card: one generator
    (``weights_name`` and ``build``), or several (an ensemble names them in :meth:`weights_names`
    and loads them in its own :meth:`setup`). The weights' SHA-256 is the method's
    ``weights_hash``, their cards' perceptual backbone follows its ``version``, and every network
    runs tiled under the memory budget (:meth:`run`)."""

    weights_name: ClassVar[str] = ""
    weights_dir: ClassVar[Path] = WEIGHTS_DIR  # a plug-in package points this at its own folder
    tile_multiple: ClassVar[int] = 1  # the grid tiles keep (methods/adapters/tiled.py)
    tile_overlap: ClassVar[int] = DEFAULT_OVERLAP

    def __init__(self, weights: str | None = None, tile: Any = None, overlap: Any = None, **params: Any):
        super().__init__(**({"weights": weights} if weights else {}), **params, **tiling_settings(tile, overlap))
        self.tiling = Tiling(tile, overlap, self.tile_multiple, self.tile_overlap)
        self.explicit = weights
        self.model = None
        self.device: str | None = None
        # fail early, and identify the weights
        self.cards = {
            n: weights_file(n, weights if n == self.weights_name else None, self.weights_dir)[1]
            for n in self.weights_names()
        }
        self.card = self.cards.get(self.weights_name, {})
        self.weights_hash = self.identify_weights()
        self.scale = int(
            self.card.get("architecture", {}).get("scale", type(self).scale)
        )  # the weights' own, for user weights too
        self.version = versioned(type(self).version, self.versioned_cards())

    def weights_names(self) -> list[str]:
        """The weights files the method loads (by default its one ``weights_name``)."""
        return [self.weights_name]

    def identify_weights(self) -> str:
        """The ``weights_hash`` of the cards read (by default the one file's SHA-256)."""
        return self.cards[self.weights_name]["sha256"]

    def versioned_cards(self) -> list[dict[str, Any]]:
        """The cards whose perceptual backbone the version names (by default all of them)."""
        return list(self.cards.values())

    @staticmethod
    def build(**arch):  # pragma: no cover - interface
        raise NotImplementedError

    def setup(self, device: str) -> None:
        self.device = device
        self.model, _ = load_generator(self.weights_name, self.build, self.explicit, device, self.weights_dir)

    def network(self):
        """The generator (for the run's cost rows)."""
        return self.model

    def process(self, frames: list[np.ndarray], ctx: Context) -> list[np.ndarray]:
        import torch

        if self.model is None:
            self.setup(ctx.device)
        shapes = {f.shape for f in frames}
        outs: list[np.ndarray] = []
        with torch.inference_mode():
            if len(shapes) == 1:
                return self.restore(frames)
            for f in frames:
                outs += self.restore([f])
        return outs

    def restore(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        """Frames of one shape: whole when they fit the memory budget, else in tiles."""
        return self.run(self.model, self.model, frames)

    def run(self, net, fn, frames: list[np.ndarray]) -> list[np.ndarray]:
        """Frames of one shape through ``fn`` (a [-1, 1] NCHW tensor -> its output; it runs ``net``),
        whole when they fit the memory budget, else in tiles."""
        return self.tiling.restore(
            net,
            fn,
            frames,
            self.device,
            self.scale,
            lambda fs: tensor_to_frames(fn(frames_to_tensor(fs, self.device)), fs),
        )
