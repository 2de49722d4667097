"""``bench train``'s settings: :class:`TrainConfig`, read from a TOML file (``--config``) and the
command line, and checked: a file that is missing, not UTF-8 or not TOML, an unknown key (the
nearest known one is named), a value of the wrong type or a size that is not positive is a
:class:`~benchmark.errors.BenchError` that names it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.core.names import nearest as _nearest
from benchmark.core.names import read_toml
from benchmark.errors import BenchError

#: settings a built-in recipe reads beyond its ``defaults`` (its ``[params]`` are checked against both)
RECIPE_SETTINGS = {"ssim": ("blocks", "fold", "qf"), "gan": ("blocks", "fold", "qf")}
POSITIVE = ("steps", "batch", "patch", "val_every", "checkpoint_every", "val_items")
SCHEDULES = ("constant", "cosine")


@dataclass
class TrainConfig:
    steps: int = 1000
    batch: int = 8
    patch: int = 96  # target (reference) patch size; the input patch is patch / scale
    lr: float = 2e-4
    schedule: str = "constant"  # or "cosine": lr decays from `lr` to `lr_min` over `steps` (stateless, so resume-exact)
    lr_min: float = 0.0
    seed: int = 0
    val_every: int = 100
    checkpoint_every: int = 100
    val_items: int = 8  # the last items of the training set are held out for validation
    device: str = "auto"
    init: str | None = None  # safetensors file to start the generator from (fine-tuning)
    params: dict[str, Any] = field(default_factory=dict)  # recipe-specific (lambda, qf, widths ...)

    @classmethod
    def load(cls, path: str | None, recipe: type | None = None, **overrides: Any) -> "TrainConfig":
        """The settings of ``path`` (TOML) with ``overrides`` (the command line's; None: not given)
        on top; with ``recipe`` (a built-in recipe class) its ``[params]`` keys are checked too."""
        data = read_config(path) if path else {}
        where = f"--config {path}" if path else "--param"
        known = [f for f in cls.__dataclass_fields__ if f != "params"]
        for k in data:
            if k not in known and k != "params":
                raise BenchError(
                    f"{where}: unknown key {k!r}; {_nearest(k, known + ['params'])}known: {', '.join(known)}, "
                    "and recipe settings under [params]"
                )
        params = data.pop("params", {})
        if not isinstance(params, dict):
            raise BenchError(f"{where}: params must be a table ([params] with key = value lines), not {params!r}")
        cfg = cls(**data, params=dict(params))
        given = {k: v for k, v in overrides.items() if v is not None}
        for k, v in given.items():
            if k in known:
                setattr(cfg, k, v)
            else:
                cfg.params[k] = v
        cfg.check(where, {k for k in given if k in known})
        if recipe is not None:
            check_params(recipe, cfg.params, where)
        return cfg

    def check(self, where: str = "the training settings", from_cli: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        """Types and ranges of the settings (``from_cli``: given as ``--key``, named so)."""

        def name(k: str) -> str:
            return (
                f"--{k.replace('_', '-')} {getattr(self, k)!r}"
                if k in from_cli
                else f"{where}: {k} = {getattr(self, k)!r}"
            )

        for k in (*POSITIVE, "seed"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int):
                raise BenchError(f"{name(k)} should be a whole number")
            if v < (0 if k == "seed" else 1):
                raise BenchError(f"{name(k)} should be {'0 or more' if k == 'seed' else 'at least 1'}")
        for k in ("lr", "lr_min"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or (k == "lr" and v == 0):
                raise BenchError(f"{name(k)} should be a {'positive' if k == 'lr' else 'non-negative'} number")
        if self.schedule not in SCHEDULES:
            raise BenchError(f"{name('schedule')}: use one of {', '.join(SCHEDULES)}")
        for k in ("device", "init"):
            v = getattr(self, k)
            if not (isinstance(v, str) or (k == "init" and v is None)):
                raise BenchError(f"{name(k)} should be a string (in quotes)")


def read_config(path: str) -> dict[str, Any]:
    """The tables of a TOML config file, or a BenchError that says why it cannot be read."""
    return read_toml(Path(path), "--config", missing="does not exist (the configs shipped are in methods/configs/)")


def check_params(recipe: type, params: dict[str, Any], where: str) -> None:
    """``[params]`` keys a built-in recipe does not read are an error naming the nearest it does."""
    if not recipe.__module__.startswith("benchmark.methods.") or not recipe.defaults:
        return  # a plug-in recipe: its settings are its own
    name = recipe.name
    known = sorted({*recipe.defaults, *RECIPE_SETTINGS.get(name, ())})
    for k in params:
        if k not in known:
            raise BenchError(
                f"{where}: {k!r} (under [params] or --param) is not a setting of {name}; "
                f"{_nearest(k, known)}known: {', '.join(known)}"
            )
