"""``bench metrics``: each metric's license and weights (present or missing), ``bench metrics
fetch NAME ...`` (the files a metric needs, from their declared sources, into the folder the
metric reads) and ``bench metrics card NAME`` (a metric's card). ``card_lines`` and
``weights_line`` are what ``bench list metrics`` prints for the same."""

from __future__ import annotations

from typing import Any, List

import typer
from rich.markup import escape

from ..errors import BenchError
from . import _fail, app, console

metrics_app = typer.Typer(
    help="Metric weights and licenses: list them (no command), fetch a metric's files, show a metric's card.",
    add_completion=False,
)
app.add_typer(metrics_app, name="metrics")

#: licenses of the built-in metrics that do not declare one themselves (`license` on the class wins)
LICENSES = {
    "psnr": "Apache-2.0 (bench's code)",
    "psnr-y": "Apache-2.0 (bench's code)",
    "ssim": "Apache-2.0 (bench's code)",
    "ssim-y": "Apache-2.0 (bench's code)",
    "psnr-b": "Apache-2.0 (bench's code)",
    "fps": "Apache-2.0 (bench's code)",
    "ms-ssim": "Apache-2.0 (piq)",
    "niqe": "Apache-2.0 (bench's code); model: LIVE research release (basicsr Apache-2.0)",
    "brisque": "Apache-2.0 (bench's code); model: LIVE research release",
    "tof": "Apache-2.0 (bench's code); OpenCV Apache-2.0",
    "flicker": "Apache-2.0 (bench's code); OpenCV Apache-2.0",
    "musiq": "PolyForm-Noncommercial-1.0.0 (pyiqa); weights: pyiqa's",
    "clipiqa": "PolyForm-Noncommercial-1.0.0 (pyiqa); CLIP RN50 MIT (OpenAI)",
    "imagenet-agreement": "Apache-2.0 (bench's code); MobileNetV2 weights BSD-3-Clause (torchvision)",
    "imagenet-kl": "Apache-2.0 (bench's code); MobileNetV2 weights BSD-3-Clause (torchvision)",
    "map": "AGPL-3.0 (ultralytics detector); pycocotools BSD-2-Clause",
    "map50": "AGPL-3.0 (ultralytics detector); pycocotools BSD-2-Clause",
    "voc-map50": "AGPL-3.0 (ultralytics detector); pycocotools BSD-2-Clause",
    "det-fidelity": "AGPL-3.0 (ultralytics detector); pycocotools BSD-2-Clause",
}
_CAPTION = "transformers Apache-2.0 and the captioner's own license (BLIP: BSD-3-Clause); pycocoevalcap BSD-2-Clause"
LICENSES.update({n: _CAPTION for n in ("bleu1", "bleu2", "bleu3", "bleu4", "meteor", "rouge-l", "cider", "spice")})


def metric_license(name: str, obj: Any) -> str:
    return obj.license or LICENSES.get(name) or "see its origin (`bench list metrics`)"


def _weight_files(obj: Any) -> list:
    from benchmark.files import metricweights

    return metricweights.files_of(obj.weights_files)


def weights_line(name: str, obj: Any) -> str:
    """'weights: alexnet-owt-7be5be79.pth present; license ...' (one line per metric)."""
    from benchmark.files import metricweights

    files = _weight_files(obj)
    parts = [f"{f.filename} {metricweights.state(f)}" for f in files]
    if not files and obj.weights:  # pyiqa-backed (musiq, clipiqa): pyiqa's own files
        gone = {p for _, p in obj.missing_weights()}
        parts = [
            f"{url.rsplit('/', 1)[-1]} {'missing' if any(p.name == url.rsplit('/', 1)[-1] for p in gone) else 'present'}"
            for _, url in obj.weights
        ]
    if not parts and obj.pyiqa_name:
        return f"weights: pyiqa's own, if any (`bench metrics fetch {name}` gets them); license: {metric_license(name, obj)}"
    return (
        f"weights: {', '.join(parts)}" if parts else "weights: no files to fetch"
    ) + f"; license: {metric_license(name, obj)}"


def card_lines(name: str, obj: Any) -> list[str]:
    """A metric's card: what it measures, direction, range, conventions, license, weights."""
    lines = [
        obj.description or "(no description)",
        f"direction: {'higher is better' if obj.higher_is_better else 'lower is better'}; unit: {obj.unit or '-'}; kind: {obj.kind}; "
        f"family: {obj.family or '-'}",
    ]
    if obj.value_range:
        lines.append(f"range: {obj.value_range}")
    lines.append(weights_line(name, obj))
    from benchmark.files import metricweights

    for f in _weight_files(obj):
        lines.append(
            f"  {f.filename}: {f.what}; {f.license}; sha256 {f.sha256}; from {f.urls[0]}; at {metricweights.local_path(f)}"
        )
    if obj.reference_values:
        lines.append(f"published reference values: {obj.reference_values}")
    for k, v in obj.conventions.items():
        lines.append(f"{k}: {v}")
    return lines


@metrics_app.callback(invoke_without_command=True)
def metrics(ctx: typer.Context) -> None:
    """Every metric's license and weights: which files are present, which are missing (`bench metrics fetch NAME`)."""
    from benchmark import registry
    from benchmark.files import metricweights

    if ctx.invoked_subcommand is not None:
        return
    console.print(
        f"[bold]metrics[/]: licenses and weights (files in {escape(str(metricweights.hub_dir()))}; "
        "`bench metrics fetch NAME` downloads a metric's files; runs never download)",
        soft_wrap=True,
    )
    for e in registry.metrics.entries():
        try:
            obj = e.load()
        except BenchError as exc:
            console.print(f"{escape(e.name)}  [red]failed to load[/]: {escape(str(exc))}", soft_wrap=True)
            continue
        line = weights_line(e.name, obj)
        colour = (
            "yellow"
            if " missing" in line or " partial" in line or "wrong size" in line
            else "green"
            if "present" in line
            else "dim"
        )
        console.print(f"[bold]{escape(e.name)}[/]  [{colour}]{escape(line)}[/]", soft_wrap=True, highlight=False)
    console.print(
        "pyiqa:NAME (any pyiqa metric): PolyForm-Noncommercial-1.0.0; `bench metrics fetch pyiqa:NAME` gets its files",
        soft_wrap=True,
    )


@metrics_app.command("card")
def card(names: List[str] = typer.Argument(..., help="Metric names (`bench list metrics`), or pyiqa:NAME.")) -> None:
    """Each metric's card: measure, direction, range, conventions, license, weights and their sources."""
    from benchmark import registry

    for name in names:
        try:
            obj = registry.metrics.get(name)
        except BenchError as exc:
            _fail(exc)
            return
        console.print(
            f"[bold]{escape(name)}[/]  {escape(str(obj.version))}  {escape(registry.metrics.entry(name).origin)}",
            soft_wrap=True,
            highlight=False,
        )
        for line in card_lines(name, obj):
            console.print(f"  {escape(line)}", soft_wrap=True, highlight=False)


def _targets(names: list[str]) -> tuple[list, list]:
    """(metric files to fetch, deduplicated; pyiqa-backed metric classes to build with downloads)."""
    from benchmark import registry
    from benchmark.files import metricweights

    files: dict[str, Any] = {}
    pyiqa: list = []
    for name in names:
        if name == "all":
            files.update(metricweights.FILES)
            continue
        if name in metricweights.FILES:
            files[name] = metricweights.FILES[name]
            continue
        obj = registry.metrics.get(name)
        declared = _weight_files(obj)
        if declared:
            files.update({f.key: f for f in declared})
        elif obj.pyiqa_name:
            pyiqa.append(obj)
        else:
            raise BenchError(
                f"metric {name!r} has no files `bench metrics fetch` knows (its card, `bench metrics card {name}`, "
                "says what it needs); `bench metrics` lists the metrics with files"
            )
    return list(files.values()), pyiqa


@metrics_app.command("fetch")
def fetch(
    names: List[str] = typer.Argument(
        ...,
        help="Metric names (lpips, lpips-vgg, dists, tlp, fid, kid, musiq ...), pyiqa:NAME, a file key (alexnet, vgg16, dists-weights, inception-fid) or all.",
    ),
    timeout: float = typer.Option(
        30.0, "--timeout", min=1, help="Seconds to wait for the server (offline fails at once)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Download the files the named metrics need into $TORCH_HOME/hub (resuming a partial file, checking the sha256)."""
    from benchmark.files import metricweights

    from .store import _download_bars

    try:
        files, pyiqa = _targets(names)
        with _download_bars(quiet) as bar:
            for f in files:
                info = metricweights.fetch_file(f, timeout=timeout, on_progress=bar(f.filename))
                _said(f.filename, info)
            for obj in pyiqa:
                for info in _pyiqa_fetch(obj, timeout, bar):
                    _said(info["key"], info)
                console.print(f"{escape(obj.name)}: pyiqa model built; its files are in place", soft_wrap=True)
    except BenchError as exc:
        _fail(exc)


def _pyiqa_fetch(obj: Any, timeout: float, bar) -> list[dict[str, Any]]:
    from ..metrics import pyiqa_any

    return pyiqa_any.metric_class(obj.pyiqa_name).fetch(timeout=timeout, progress=bar)


def _said(label: str, info: dict[str, Any]) -> None:
    how = (
        "already there"
        if not info["downloaded"] and not info["resumed_from"]
        else f"{info['downloaded']:,} bytes downloaded"
        + (f", resumed from {info['resumed_from']:,}" if info["resumed_from"] else "")
    )
    check = "verified" if info["verified"] else "[yellow]NOT checked: no checksum is known for this file[/]"
    console.print(
        f"{escape(label)}: {escape(info['path'])} ({how}); sha256 {info['sha256']} {check}",
        soft_wrap=True,
        highlight=False,
    )
