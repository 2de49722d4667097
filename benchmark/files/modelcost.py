"""Parameters and MACs of a model at a stated input size, counted without running it: what
``bench models`` lists for the shipped networks (``methods/weights/*.json``) and for the zoo's
files on disk. The MACs are torch's ``FlopCounterMode`` FLOPs / 2 of one forward pass on
``meta`` tensors (shapes only) of the stated size, as in a run's ``macs`` rows
(:mod:`benchmark.run.measure`); a run counts what the method really runs on its frames (tiles,
self-ensemble views, the QF predictor), so its figure can differ from this one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmark.run.measure import _TensorSpec, count_params, replay_macs

STATED_SIDE = 256  # the input size the listing states: 256 x 256 pixels
#: networks whose input is not an image of the stated size: (channels, side, what it is)
OTHER_INPUTS = {"QFPredictor": (1, 64, "per 64x64 luma crop")}


def network_macs(module: Any, channels: int, side: int = STATED_SIDE) -> float:
    """MACs of one forward pass of ``module`` on a 1 x channels x side x side float32 input (on meta tensors)."""
    import torch

    return replay_macs(module, (_TensorSpec((1, channels, side, side), torch.float32),), {})


def shipped(weights_dir: Path | None = None) -> list[dict[str, Any]]:
    """Each shipped network's card: name, class, parameters (counted on the network built from
    the card's architecture; the card's own figure beside it) and GMACs at the stated size."""
    from benchmark.methods import networks as nets
    from benchmark.methods.adapters.trainable import WEIGHTS_DIR

    out = []
    for card_path in sorted(Path(weights_dir or WEIGHTS_DIR).glob("*.json")):
        card = json.loads(card_path.read_text())
        arch = dict(card.get("architecture") or {})
        cls_name = arch.pop("class", "ArtifactGenerator")
        entry: dict[str, Any] = {
            "name": card_path.stem,
            "method": card.get("method", ""),
            "class": cls_name,
            "card_params": card.get("parameters"),
        }
        try:
            net = getattr(nets, cls_name)(**arch).eval()
            channels, side, note = OTHER_INPUTS.get(cls_name, (3, STATED_SIDE, f"at {STATED_SIDE}x{STATED_SIDE}"))
            entry.update(params=count_params([net]), gmacs=network_macs(net, channels, side) / 1e9, size=note)
        except Exception as exc:  # noqa: BLE001 - a card this code cannot build: the listing says so
            entry["error"] = f"{type(exc).__name__}: {exc}"
        out.append(entry)
    return out


def published_cost(path: Path) -> dict[str, Any]:
    """A weights file's parameters and GMACs at the stated size (spandrel builds the model)."""
    from benchmark.methods.adapters.published import load_model

    model = load_model(Path(path))
    req = model.size_requirements
    side = max(STATED_SIDE, req.minimum)
    side = -(-side // req.multiple_of) * req.multiple_of
    return {
        "params": count_params([model.model]),
        "gmacs": network_macs(model.model, model.input_channels, side) / 1e9,
        "size": f"at {side}x{side}",
    }
