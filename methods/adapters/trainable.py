"""Base adapter for methods with trained weights (safetensors, checksum-verified).

Weights live in ``methods/weights/`` (installed as ``benchmark.methods/weights``), each
``<name>.safetensors`` beside its card ``<name>.json`` (architecture, data, steps, seed,
command, validation figures, SHA-256). A user's own weights replace them through
``Method(weights=PATH)`` or ``$BENCH_WEIGHTS_DIR/<name>.safetensors``. The SHA-256 enters the method's cache key.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from benchmark.api import Context, Method
from benchmark.errors import warn
from benchmark.files.weights import ENV_WEIGHTS_DIR, WeightsMissing, file_sha256

from benchmark.methods.adapters.tiled import DEFAULT_OVERLAP, Tiling, tiling_settings
from benchmark.core.paths import expand as expand_path

WEIGHTS_DIR = Path(__file__).parent.parent / "weights"


def weights_file(name: str, explicit: str | None = None, directory: Path = WEIGHTS_DIR) -> tuple[Path, dict[str, Any]]:
    """(path, card) of a weights file, checked against the card's SHA-256. Looked up in:
    the explicit path, ``$BENCH_WEIGHTS_DIR``, then ``directory`` (the package's own).
    A file without a card is used with a warning: nothing says what it is."""
    if explicit and not expand_path(explicit).is_file():
        # an explicit file is the user's choice: never fall back to other weights under its name
        where = expand_path(explicit)
        raise WeightsMissing(f"weights file {explicit} not found ({'a folder' if where.is_dir() else 'no file'} at {where.absolute()}); "
                             f"give the path of an existing .safetensors file, or leave weights= out for the shipped '{name}'")
    candidates = [expand_path(explicit)] if explicit else []
    if os.environ.get(ENV_WEIGHTS_DIR):
        candidates.append(Path(os.environ[ENV_WEIGHTS_DIR]) / f"{name}.safetensors")
    candidates.append(Path(directory) / f"{name}.safetensors")
    for p in candidates:
        if p.is_file():
            card_path = p.with_suffix(".json")
            card = json.loads(card_path.read_text()) if card_path.exists() else {}
            sha = file_sha256(p)
            if not card_path.exists():
                warn(f"{p} has no card ({card_path.name} beside it): its architecture, training data and checksum are not recorded, "
                     f"so '{name}' is built with the default architecture from a file nothing vouches for (sha256 {sha[:16]}...); "
                     "export weights with `bench train` (it writes the card) or add the card")
            if card.get("sha256") and card["sha256"] != sha:
                raise WeightsMissing(f"{p}: SHA-256 {sha[:16]}... does not match its card {card_path.name} ({card['sha256'][:16]}...)")
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
    out = t.clamp(-1, 1).add(1).mul(127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    return [o if f.shape[2] == 3 else np.round(o.mean(axis=2, keepdims=True)).astype(np.uint8) for o, f in zip(out, like)]


def versioned(version: str, cards: list[dict[str, Any]]) -> str:
    """The method version with the perceptual-loss backbone its weights were trained with
    (``1+mobilenetv2`` or ``1+vgg19``), as recorded in their cards."""
    backbones = sorted({c.get("params", {}).get("perceptual_backbone") for c in cards} - {None})
    return f"{version}+{'/'.join(backbones)}" if backbones else version


class TrainableMethod(Method):
    """A method with one generator. Subclasses set ``weights_name`` and ``build``."""

    weights_name: ClassVar[str] = ""
    weights_dir: ClassVar[Path] = WEIGHTS_DIR  # a plug-in package points this at its own folder
    tile_multiple: ClassVar[int] = 1  # the grid tiles keep (methods/adapters/tiled.py)
    tile_overlap: ClassVar[int] = DEFAULT_OVERLAP

    def __init__(self, weights: str | None = None, tile: Any = None, overlap: Any = None, **params: Any):
        super().__init__(**({"weights": weights} if weights else {}), **params, **tiling_settings(tile, overlap))
        self.tiling = Tiling(tile, overlap, self.tile_multiple, self.tile_overlap)
        self.explicit = weights
        self.model = None
        path, card = weights_file(self.weights_name, weights, self.weights_dir)  # fail early, and identify the weights
        self.weights_hash = card["sha256"]
        self.card = card
        self.scale = int(card.get("architecture", {}).get("scale", type(self).scale))  # the weights' own, for user weights too
        self.version = versioned(type(self).version, [card])

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
        return self.tiling.restore(self.model, self.model, frames, self.device, self.scale,
                                   lambda fs: tensor_to_frames(self.model(frames_to_tensor(fs, self.device)), fs))
