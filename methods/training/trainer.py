"""The shared trainer behind ``bench train``.

Paired patches come from any data set name (``bsd200-qf20``, ``./photos@crf40``, several
names mixed): the reference frames and their degraded versions are produced by the
spine's cached stages, so training and benchmarking see the very same degradation.
Training is seeded; checkpoints (``checkpoint.pt``: models, optimisers, step, RNG
states) are written every ``checkpoint_every`` steps and at the end, and ``--resume``
continues from them bit for bit. Loss and validation curves go to ``curves.csv`` (and
``curves.svg``) beside the checkpoint. The trained generator is exported as
``<name>.safetensors`` with a card (``<name>.json``: architecture, data, degradation,
steps, seed, command, final validation figures, training time).

A method makes itself trainable with a :class:`Recipe`: the models, the losses, one
optimisation step. The trainer does the rest.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import random
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from benchmark.core.imaging import sha256_file
from benchmark.errors import BenchError
from benchmark.methods.training.config import TrainConfig  # noqa: F401  (bench train's settings; callers use training.TrainConfig)
from benchmark.methods.training.pairs import PairSource, augment, to_tensor, to_uint8  # noqa: F401  (a recipe's helpers)


class Recipe:
    """What a trainable method tells the trainer. ``build`` creates ``self.models`` (a
    dict; ``"generator"`` is exported) and ``self.optims``; ``step`` runs one update and
    returns scalar losses."""

    name: ClassVar[str] = "?"
    default_data: ClassVar[list[str]] = []
    defaults: ClassVar[dict[str, Any]] = {}
    paper_config: ClassVar[dict[str, Any]] = {}  # what trains it properly on a GPU

    def __init__(self, cfg: TrainConfig, device: str):
        self.cfg = cfg
        self.p = {**self.defaults, **cfg.params}
        self.device = device
        self.models: dict[str, Any] = {}
        self.optims: dict[str, Any] = {}
        self.step_number = 0  # the 1-based step being taken, set by train() (a resumed run continues it)

    def build(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def step(self, x, y) -> dict[str, float]:  # pragma: no cover
        raise NotImplementedError

    def architecture(self) -> dict[str, Any]:
        """Constructor arguments of the generator, stored in the weights' card."""
        return {}

    def generate(self, x):
        import torch

        g = self.models["generator"]
        g.eval()
        with torch.inference_mode():
            out = g(x)
        g.train()
        return out


def run_validation(recipe: Recipe, source: "PairSource") -> dict[str, float]:
    return recipe.validate(source) if hasattr(recipe, "validate") else validate(recipe, source)


RECIPES = {
    "ssim": "benchmark.methods.training.galteri:SSIMRecipe",
    "gan": "benchmark.methods.training.galteri:GANRecipe",
    "qf-predictor": "benchmark.methods.training.galteri:QFRecipe",
    "pix2pix": "benchmark.methods.training.pix2pix:Pix2PixRecipe",
    "srgan": "benchmark.methods.training.srgan:SRGANRecipe",
    "srresnet": "benchmark.methods.training.srgan:SRResNetRecipe",
    "fast-srgan": "benchmark.methods.training.srgan:FastSRGANRecipe",
    "videoboost": "benchmark.methods.training.videoboost:VideoBoostRecipe",
    "h264": "benchmark.methods.training.h264:H264Recipe",
}


def recipe_class(name: str) -> type[Recipe]:
    """A built-in recipe or one registered under the ``bench.recipes`` entry-point group."""
    import importlib
    from importlib.metadata import entry_points

    targets = dict(RECIPES)
    for ep in entry_points(group="bench.recipes"):
        targets.setdefault(ep.name, ep.value)
    if name not in targets:
        raise BenchError(f"no training recipe named '{name}'; trainable: {', '.join(sorted(targets))}")
    mod, _, attr = targets[name].partition(":")
    return getattr(importlib.import_module(mod), attr)


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """The learning rate of optimisation step ``step`` (1-based) under ``cfg.schedule``."""
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "cosine":
        return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * min(step - 1, cfg.steps) / cfg.steps))
    raise BenchError(f"unknown learning-rate schedule '{cfg.schedule}': use constant or cosine")


def load_init(model, path: str) -> None:
    """Start ``model`` from the safetensors file ``path``. The file may lack the keys of
    modules the model grew (``extra.*``: zero-initialised blocks that leave the function
    unchanged), nothing else; any other mismatch names the keys."""
    from safetensors.torch import load_file

    try:
        state = load_file(path)
    except Exception as exc:
        raise BenchError(f"--init {path}: not a readable safetensors file ({exc})") from None
    own = model.state_dict()
    shapes = [
        f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and v.shape != own[k].shape
    ]
    if shapes:
        raise BenchError(
            f"--init {path}: tensor shapes differ from the {type(model).__name__} this config builds "
            f"({'; '.join(shapes[:3])}{'...' if len(shapes) > 3 else ''}); train with the architecture settings of the weights' card"
        )
    missing, unexpected = model.load_state_dict(state, strict=False)
    bad = [k for k in missing if not k.startswith("extra.")]
    if bad or unexpected:
        raise BenchError(
            f"--init {path}: its tensors do not fit the {type(model).__name__} this config builds "
            f"(missing {bad[:4]}{'...' if len(bad) > 4 else ''}, unexpected {list(unexpected)[:4]}); "
            "train with the architecture settings of the weights' card"
        )


def _device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def validate(recipe: Recipe, source: PairSource) -> dict[str, float]:
    """PSNR (RGB) of the generator and of the input (resized to the target size for SR)
    on the held-out items, whole frames."""
    import torch.nn.functional as F

    from benchmark.metrics.fidelity import _psnr

    ours, base = [], []
    for deg, ref, _ in source.val:
        x = to_tensor(deg[None]).to(recipe.device)
        out = to_uint8(recipe.generate(x))[0]
        ref = ref[: out.shape[0], : out.shape[1]]
        ours.append(_psnr(out, ref))
        if source.scale == 1:
            base.append(_psnr(deg, ref))
        else:
            up = to_uint8(F.interpolate(x, scale_factor=source.scale, mode="bicubic", align_corners=False))[0]
            base.append(_psnr(up, ref))
    return {"val_psnr": float(np.mean(ours)), "val_psnr_input": float(np.mean(base))}


def _keep_init(cfg: TrainConfig, out_dir: Path) -> TrainConfig:
    """A resumed training without ``--init``: the init file its first run named (the card
    keeps naming what the training started from)."""
    try:
        old = json.loads((out_dir / "train_config.json").read_text()).get("config", {}).get("init")
    except (OSError, ValueError):
        old = None
    if old:
        cfg = replace(cfg, init=old)
    return cfg


def _build_recipe(recipe_cls: type[Recipe], cfg: TrainConfig, device: str, resuming: bool) -> Recipe:
    """The recipe with its models built on ``device``; a new training's generator starts from
    ``cfg.init`` (a resumed one's weights come from its checkpoint: the init file need not exist now)."""
    recipe = recipe_cls(cfg, device)
    try:
        recipe.build()
    except (TypeError, ValueError, KeyError) as exc:  # e.g. ch = "wide": the settings build no model
        raise BenchError(
            f"{recipe.name}: its settings {recipe.p} build no model ({type(exc).__name__}: {exc}); "
            "check the [params] of --config and each --param"
        ) from None
    if cfg.init and not resuming:
        load_init(recipe.models["generator"], cfg.init)
    for m in recipe.models.values():
        m.to(device)
    return recipe


def _load_checkpoint(
    ckpt: Path, recipe: Recipe, rng: np.random.Generator, device: str
) -> tuple[int, float, list[dict[str, Any]]]:
    """Restore models, optimisers and RNG states from ``ckpt``: (step, training seconds, curve rows)."""
    import torch

    try:  # tensors, numbers, strings and containers only: never unpickle code
        state = torch.load(ckpt, map_location=device, weights_only=True)
    except Exception as exc:
        raise BenchError(
            f"{ckpt}: not a checkpoint bench can resume safely ({type(exc).__name__}: {str(exc).splitlines()[0]}); start a new --out"
        ) from None
    try:  # a foreign or damaged checkpoint: other models, missing entries, wrong shapes
        for k, m in recipe.models.items():
            m.load_state_dict(state["models"][k])
        for k, o in recipe.optims.items():
            o.load_state_dict(state["optims"][k])
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        return int(state["step"]), float(state["seconds"]), list(state["curves"])
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        first = " ".join(str(exc).split())[:200]
        raise BenchError(
            f"{ckpt}: not a checkpoint of this {recipe.name} training ({type(exc).__name__}: {first}); resume with the "
            "method and settings it was started with, or start a new --out"
        ) from None


def _save_checkpoint(
    ckpt: Path, recipe: Recipe, rng: np.random.Generator, step: int, seconds: float, rows: list[dict[str, Any]]
) -> None:
    """Write ``ckpt`` (models, optimisers, step, RNG states; atomically) and the curves beside it."""
    import torch

    state = {
        "models": {k: m.state_dict() for k, m in recipe.models.items()},
        "optims": {k: o.state_dict() for k, o in recipe.optims.items()},
        "step": step,
        "seconds": seconds,
        "curves": rows,
        "numpy_rng": rng.bit_generator.state,
        "torch_rng": torch.get_rng_state(),
    }
    tmp = ckpt.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, ckpt)
    write_curves(ckpt.parent, rows)


def _train_step(
    recipe: Recipe, source: PairSource, cfg: TrainConfig, rng: np.random.Generator, device: str, step: int
) -> tuple[float, dict[str, Any], float]:
    """One optimisation step at the schedule's learning rate: (lr, losses, seconds it took)."""
    x, y = (
        recipe.sample(source, rng, cfg.batch, cfg.patch)
        if hasattr(recipe, "sample")
        else source.sample(rng, cfg.batch, cfg.patch)
    )
    lr = learning_rate(cfg, step)
    for o in recipe.optims.values():
        for g in o.param_groups:
            g["lr"] = lr * g.setdefault("lr_scale", 1.0)
    t0 = time.perf_counter()
    recipe.step_number = step
    losses = recipe.step(x.to(device), y.to(device))
    return lr, losses, time.perf_counter() - t0


def _train_loop(
    recipe: Recipe,
    source: PairSource,
    cfg: TrainConfig,
    rng: np.random.Generator,
    device: str,
    ckpt: Path,
    start: int,
    seconds: float,
    rows: list[dict[str, Any]],
    progress: bool,
) -> float:
    """Steps ``start + 1`` to ``cfg.steps``: a curve row each (losses; validation every
    ``val_every``), a checkpoint every ``checkpoint_every`` and at the end. Returns the
    training seconds so far (``rows`` grows in place)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn(f"[bold]train {recipe.name}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not progress,
    ) as bar:
        task = bar.add_task("train", total=cfg.steps, completed=start, info="")
        for step in range(start + 1, cfg.steps + 1):
            lr, losses, took = _train_step(recipe, source, cfg, rng, device, step)
            seconds += took
            row = {
                "step": step,
                "seconds": round(seconds, 2),
                "lr": lr,
                **{k: round(float(v), 6) for k, v in losses.items()},
            }
            if step % cfg.val_every == 0 or step == cfg.steps:
                row.update({k: round(v, 4) for k, v in run_validation(recipe, source).items()})
            rows.append(row)
            bar.update(
                task, advance=1, info=" ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in ("step", "seconds"))
            )
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                _save_checkpoint(ckpt, recipe, rng, step, seconds, rows)
    return seconds


def _export(
    recipe: Recipe,
    source: PairSource,
    cfg: TrainConfig,
    out_dir: Path,
    datasets: list[str],
    device: str,
    export_name: str | None,
    command: list[str] | None,
    seconds: float,
    t_load: float,
) -> dict[str, Any]:
    """Validate once more, write ``<name>.safetensors`` (the generator) and its card
    ``<name>.json``; returns the card."""
    import torch
    from safetensors.torch import save_file

    final = run_validation(recipe, source)
    name = export_name or recipe.name
    weights = out_dir / f"{name}.safetensors"
    g = recipe.models["generator"]
    save_file({k: v.detach().cpu().contiguous() for k, v in g.state_dict().items()}, str(weights))
    card = {
        "name": name,
        "method": recipe.name,
        "architecture": {"class": type(g).__name__, **recipe.architecture()},
        "parameters": int(sum(p.numel() for p in g.parameters())),
        "data": {
            "datasets": datasets,
            "train_items": len(source.train),
            "val_items": len(source.val),
            "validation": "the last items of the training set (held out), whole frames",
        },
        "steps": cfg.steps,
        "batch": cfg.batch,
        "patch": cfg.patch,
        "lr": cfg.lr,
        "seed": cfg.seed,
        "params": recipe.p,
        "init": Path(cfg.init).name if cfg.init else None,
        "command": " ".join(command or sys.argv),
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "train_seconds": round(seconds, 1),
        "data_seconds": round(time.perf_counter() - t_load - seconds, 1),
        "final_validation": {k: round(v, 4) for k, v in final.items()},
        "sha256": sha256_file(weights),
        "paper_config": recipe.paper_config,
    }
    (out_dir / f"{name}.json").write_text(json.dumps(card, indent=1))
    return card


def train(
    recipe_cls: type[Recipe],
    out_dir: Path,
    datasets: list[str],
    cfg: TrainConfig,
    data_root: str | None = None,
    resume: bool = False,
    export_name: str | None = None,
    progress: bool = True,
    command: list[str] | None = None,
) -> dict[str, Any]:
    """Train ``recipe_cls`` on ``datasets`` into ``out_dir`` (seeded; ``resume`` continues its
    checkpoint bit for bit), then export the generator and its card; returns the card."""
    import torch

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt = out_dir / "checkpoint.pt"
    if ckpt.exists() and not resume:
        raise BenchError(f"{ckpt} exists: pass --resume to continue it, or choose another --out")
    device = _device(cfg.device)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    t_load = time.perf_counter()
    source = PairSource(datasets, data_root, cfg.val_items)
    resuming = resume and ckpt.exists()
    if resuming and not cfg.init:
        cfg = _keep_init(cfg, out_dir)
    recipe = _build_recipe(recipe_cls, cfg, device, resuming)
    start, seconds, rows = _load_checkpoint(ckpt, recipe, rng, device) if resuming else (0, 0.0, [])
    meta = {
        "method": recipe.name,
        "datasets": datasets,
        "config": asdict(cfg),
        "device": device,
        "threads": torch.get_num_threads(),
    }
    (out_dir / "train_config.json").write_text(json.dumps(meta, indent=1, default=str))
    seconds = _train_loop(recipe, source, cfg, rng, device, ckpt, start, seconds, rows, progress)
    if start >= cfg.steps and not rows:
        raise BenchError(f"{ckpt}: already trained for {start} steps")
    return _export(recipe, source, cfg, out_dir, datasets, device, export_name, command, seconds, t_load)


def write_curves(out_dir: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(out_dir / "curves.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover
        return
    loss_keys = [k for k in keys if k not in ("step", "seconds") and not k.startswith("val_")]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    steps = [r["step"] for r in rows]
    for k in loss_keys:
        vals = [r.get(k, math.nan) for r in rows]
        win = max(1, len(vals) // 50)
        smooth = np.convolve(np.nan_to_num(vals), np.ones(win) / win, mode="valid")
        axes[0].plot(steps[win - 1 :], smooth, label=k)
    axes[0].set_xlabel("step")
    axes[0].set_title("training losses (moving average)")
    axes[0].legend(fontsize=7)
    vs = [r for r in rows if "val_psnr" in r]
    if vs:
        axes[1].plot([r["step"] for r in vs], [r["val_psnr"] for r in vs], marker="o", label="output")
        axes[1].plot([r["step"] for r in vs], [r["val_psnr_input"] for r in vs], ls="--", label="input")
        axes[1].set_xlabel("step")
        axes[1].set_ylabel("validation PSNR (dB)")
        axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "curves.svg", metadata={"Date": None})
    plt.close(fig)
