"""``bench train`` (train a method, export its weights) and ``bench predict-qf`` (the JPEG quality predictor).

``predict-qf`` is registered on ``app`` by the package, so that ``bench --help`` keeps its order."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape

from ..errors import BenchError
from . import _fail, app, console, err


@app.command()
def train(
    method: str = typer.Argument(
        ...,
        help="What to train: ssim, gan, qf-predictor, pix2pix, srgan, srresnet, fast-srgan, videoboost (or a plug-in recipe).",
    ),
    dataset: List[str] = typer.Option(
        [],
        "--dataset",
        "-d",
        help="Training data set(s), e.g. bsd200-qf20 or ./frames@crf40 (repeatable; never a set you report). Default: the recipe's.",
    ),
    steps: Optional[int] = typer.Option(
        None, "--steps", min=1, help="Optimisation steps (default: the config's, else 1000)."
    ),
    config: Optional[Path] = typer.Option(
        None,
        "--config",
        help="TOML file: steps, batch, patch, lr, seed, val_every, checkpoint_every, init, [params] (recipe settings such as lambda).",
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/checkpoint.pt."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Checkpoint folder (default: runs/train/<method>)."),
    name: Optional[str] = typer.Option(
        None, "--name", help="Exported weights name (default: the method's); e.g. ssim-qf20."
    ),
    init: Optional[Path] = typer.Option(
        None, "--init", help="Start the generator from these safetensors weights (fine-tuning)."
    ),
    seed: Optional[int] = typer.Option(None, "--seed"),
    batch: Optional[int] = typer.Option(None, "--batch", min=1),
    patch: Optional[int] = typer.Option(None, "--patch", min=8, help="Target patch size in pixels."),
    lr: Optional[float] = typer.Option(None, "--lr"),
    val_items: Optional[int] = typer.Option(
        None, "--val-items", min=1, help="Items held out for validation (default 8)."
    ),
    param: List[str] = typer.Option([], "--param", help="Recipe setting KEY=VALUE, e.g. lambda=1000 (repeatable)."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Default: $BENCH_DATA_ROOT."),
    device: str = typer.Option("auto", "--device"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train a method on paired patches (degraded input, reference target) with checkpoints and resume; export safetensors + card."""
    from benchmark.methods.training import trainer as tr

    try:
        recipe = tr.recipe_class(method)
        from benchmark.run.resolve import parse_settings

        params = parse_settings(param, "--param: expected KEY=VALUE")
        cfg = tr.TrainConfig.load(
            str(config) if config else None,
            recipe=recipe,
            steps=steps,
            seed=seed,
            batch=batch,
            patch=patch,
            lr=lr,
            init=str(init) if init else None,
            device=device,
            val_items=val_items,
            **params,
        )
        card = tr.train(
            recipe,
            out or Path("runs") / "train" / (name or method),
            dataset or list(recipe.default_data),
            cfg,
            data_root=str(data_root) if data_root else None,
            resume=resume,
            export_name=name,
            progress=not quiet,
            command=["bench", *sys.argv[1:]],
        )
    except BenchError as exc:
        _fail(exc)
        return
    console.print_json(
        json.dumps({k: card[k] for k in ("name", "steps", "train_seconds", "final_validation", "sha256")})
    )


def predict_qf(
    images: List[Path] = typer.Argument(None, help="JPEG-compressed images (any format OpenCV reads)."),
    confusion: List[str] = typer.Option(
        [],
        "--confusion",
        help="Instead: compress every reference of these data sets (e.g. live1, classic5) at the ensemble QFs and tabulate predictions (repeatable).",
    ),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="With --confusion: a run folder for the table's rows (bench report --html draws it)."
    ),
    data_root: Optional[Path] = typer.Option(None, "--data-root"),
) -> None:
    """Print one line per image: its path, a tab, the JPEG quality factor predicted by the QF predictor."""
    from benchmark.core.imaging import read_image
    from benchmark.methods.adapters.trainable import load_generator
    from benchmark.methods.networks import QFPredictor
    from benchmark.methods.networks import predict_qf as predict

    try:
        model, _ = load_generator("qf-predictor", QFPredictor, None, "cpu")
        if confusion:
            table, path = confusion_table(model, confusion, str(data_root) if data_root else None, out)
            console.print(table)
            if path:
                console.print(f"rows: {escape(str(path))}/scores.parquet")
            return
        if not images:
            raise BenchError("name at least one image, or use --confusion DATASET")
    except BenchError as exc:
        _fail(exc)
        return
    failed = False
    for p in images:
        try:
            print(f"{p}\t{predict(model, read_image(p)):.1f}")
        except (OSError, ValueError) as exc:
            err.print(f"{escape(str(p))}: {escape(str(exc))}")
            failed = True
    if failed:
        raise typer.Exit(1)


def confusion_table(model, dataset_names: list[str], data_root: str | None, out=None):
    """Compress every reference of the data sets at each ensemble QF, predict, and count
    (true QF, chosen ensemble QF). Returns a rich table and, with ``out``, the folder where
    tidy rows (``qf-confusion/<true>/<pred>``, ``qf-accuracy/<true>``) were written."""
    from rich.table import Table

    from benchmark.core.names import resolve
    from benchmark.datasets.base import data_root as resolve_root
    from benchmark.methods.networks import ENSEMBLE_QFS, nearest_qf, predict_qf
    from benchmark.methods.training.galteri import jpeg

    root = resolve_root(data_root)
    counts = {t: {p: 0 for p in ENSEMBLE_QFS} for t in ENSEMBLE_QFS}
    n_images = 0
    for name in dataset_names:
        spec = resolve(name, root)
        for item in spec.dataset.items():
            ref = next(item.frames())
            n_images += 1
            for q in ENSEMBLE_QFS:
                counts[q][nearest_qf(predict_qf(model, jpeg(ref, q)))] += 1
    what = f"{' + '.join(dataset_names)} ({n_images} images x {len(ENSEMBLE_QFS)} QFs)"
    table = Table(title=f"QF predictor on {what}; rows: true QF, columns: chosen QF")
    table.add_column("true QF")
    for p in ENSEMBLE_QFS:
        table.add_column(str(p), justify="right")
    table.add_column("diagonal", justify="right")
    for t in ENSEMBLE_QFS:
        total = sum(counts[t].values())
        table.add_row(str(t), *[str(counts[t][p]) for p in ENSEMBLE_QFS], f"{100 * counts[t][t] / total:.1f}%")
    return table, _confusion_rows(counts, dataset_names, Path(out)) if out is not None else None


def _confusion_rows(counts: dict[int, dict[int, int]], dataset_names: list[str], path: Path) -> Path:
    """The confusion counts and per-QF accuracy as tidy rows of a run folder at ``path``."""
    import time

    from benchmark.run.results import make_row, no_values, now_utc, to_frame, write_manifest, write_scores

    qfs = list(counts)
    label = "+".join(dataset_names)
    run_id = f"qf-confusion-{time.strftime('%Y%m%d-%H%M%S')}"
    base = no_values(
        run_id=run_id,
        dataset=label,
        base=label,
        degradation="qf" + ",".join(map(str, qfs)),
        item_id="*",
        frame=-1,
        scope="dataset",
        method="qf-predictor",
        method_version="1",
        metric_version="1",
        crop_border=0,
        status="ok",
        error=None,
        higher_is_better=True,
    )
    rows = [
        make_row(**base, metric=f"qf-confusion/{t}/{p}", value=float(counts[t][p]), unit="images")
        for t in qfs
        for p in qfs
    ]
    rows += [
        make_row(**base, metric=f"qf-accuracy/{t}", value=counts[t][t] / sum(counts[t].values()), unit="fraction")
        for t in qfs
    ]
    write_scores(path, to_frame(rows))
    command = ["bench", "predict-qf", "--confusion", *dataset_names]
    write_manifest(
        path, {"run_id": run_id, "started": now_utc(), "command": command, "status": "complete", "rows": len(rows)}
    )
    return path
