"""The command groups over what is kept on disk: ``bench models`` (the zoo), ``bench cache`` and ``bench data`` (standard sets)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape

from benchmark.core.paths import expand as expand_path

from ..errors import BenchError
from . import _fail, app, console, err

models_app = typer.Typer(
    help="The zoo of published models: list them (no command), or fetch one.", add_completion=False
)
app.add_typer(models_app, name="models")


@models_app.callback(invoke_without_command=True)
def models(ctx: typer.Context) -> None:
    """List the zoo (name, task, scale, license, paper, source URL, sha256, size, whether the file is
    here, and for a file on disk its parameters and GMACs at 256x256), then the shipped networks
    (methods/weights) with their parameters and GMACs at 256x256."""
    from benchmark.files import zoo
    from benchmark.files.modelcost import published_cost

    if ctx.invoked_subcommand is not None:
        return
    console.print(
        f"[bold]zoo models[/] (files in {escape(str(zoo.models_dir()))}; `bench models fetch NAME`; "
        "a name works as a method name once its file is there)",
        soft_wrap=True,
    )
    for m in zoo.MODELS:
        here = "[green]on disk[/]" if zoo.local_path(m).is_file() else "not fetched"
        size = f"{m.size:,} bytes" if m.size else "size unknown"
        console.print(
            f"\n[bold]{escape(m.name)}[/]  x{m.scale}  {escape(m.task)}  {escape(m.architecture)}  "
            f"{escape(m.license)}  {size}  {here}",
            soft_wrap=True,
        )
        sha = m.sha256 or "unknown: `fetch` cannot verify this file"
        cost = (
            _cost_line(published_cost, zoo.local_path(m))
            if zoo.local_path(m).is_file()
            else "fetch the file to count its parameters and MACs"
        )
        for label, value in (("paper", m.paper), ("source", m.url), ("sha256", sha), ("cost", cost)) + (
            (("note", m.notes),) if m.notes else ()
        ):
            console.print(f"  {label:<7}{escape(value)}", soft_wrap=True, highlight=False)
    _shipped_networks()


def _cost_line(count, *args) -> str:
    """``N params, G GMACs at 256x256`` (FLOPs = 2 x MACs), or why it could not be counted."""
    try:
        c = count(*args)
    except Exception as exc:  # noqa: BLE001 - a listing: say it and go on
        return f"not counted ({type(exc).__name__}: {exc})"
    return f"{c['params']:,} params, {c['gmacs']:.2f} GMACs {c['size']} (FLOPs = 2 x MACs)"


def _shipped_networks() -> None:
    """The networks shipped with bench (methods/weights): card, class, parameters and GMACs at 256x256."""
    from benchmark.files.modelcost import shipped

    console.print(
        "\n[bold]shipped networks[/] (methods/weights; a run's params/macs rows count each method's own calls: "
        "the gan/ssim ensembles hold six generators and the QF predictor)",
        soft_wrap=True,
    )
    for e in shipped():
        cost = (
            f"not counted ({e['error']})"
            if "error" in e
            else f"{e['params']:,} params, {e['gmacs']:.2f} GMACs {e['size']}"
        )
        console.print(
            f"  {escape(e['name']):<15}{escape(e['class']):<22}{escape(cost)}", soft_wrap=True, highlight=False
        )


@models_app.command("fetch")
def models_fetch(
    names: List[str] = typer.Argument(..., help="Zoo model name(s) (`bench models`)."),
    timeout: float = typer.Option(30.0, "--timeout", min=1, help="Seconds to wait for the server."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Download zoo models into $BENCH_MODELS_DIR (default: models/ in the cache), resuming a partial file, checking the sha256."""
    from benchmark.files import zoo

    for name in names:
        try:
            with _download_bars(quiet) as bar:
                info = zoo.fetch(name, timeout=timeout, on_progress=bar(name))
        except BenchError as exc:
            _fail(exc)
            return
        how = (
            "already there"
            if not info["downloaded"] and not info["resumed_from"]
            else f"{info['downloaded']:,} bytes downloaded"
            + (f", resumed from {info['resumed_from']:,}" if info["resumed_from"] else "")
        )
        check = (
            "verified" if info["verified"] else "[yellow]NOT checked: no published sha256 is recorded for this model[/]"
        )
        console.print(f"{escape(name)}: {escape(info['path'])} ({how}); sha256 {info['sha256']} {check}")


cache_app = typer.Typer(
    help="The content-addressed cache (frames and scores) of `bench run`.", add_completion=False, no_args_is_help=True
)
app.add_typer(cache_app, name="cache")


@cache_app.command("verify")
def cache_verify(
    cache_dir: Optional[Path] = typer.Option(
        None, "--cache-dir", help="Cache folder. Default: $BENCH_CACHE_DIR or ~/.cache/bench."
    ),
    fix: bool = typer.Option(
        False,
        "--fix",
        help="Remove damaged entries (and entries of older bench versions); the next run computes them again.",
    ),
) -> None:
    """Check every cache entry against its checksum (frame files hashed); exit 1 when damage is left."""
    from benchmark.run.cache import Cache, default_cache_dir

    root = expand_path(cache_dir) if cache_dir else default_cache_dir()
    if not root.is_dir():
        _fail(BenchError(f"{root}: no cache folder there (--cache-dir / $BENCH_CACHE_DIR)"))
    try:
        report = Cache(root).verify(fix=fix)
    except OSError as exc:
        _fail(BenchError(f"{root}: cannot check the cache ({exc.strerror or exc})"))
        return
    for d in report["damaged"]:
        err.print(
            f"damaged {d['kind']} entry {d['key'][:12]}: {escape(d['problem'])} ({escape(d['path'])})"
            + (" -- removed" if fix else ""),
            soft_wrap=True,
        )
    legacy = (
        f", {report['legacy']} from an older bench (no checksum{'; removed' if fix else '; replaced when next used'})"
        if report["legacy"]
        else ""
    )
    console.print(
        f"{escape(report['root'])}: {report['ok']} entries intact, {len(report['damaged'])} damaged{legacy}",
        soft_wrap=True,
    )
    if report["damaged"] and not fix:
        err.print(
            "run `bench cache verify --fix` to remove the damaged entries (a run also discards them when it meets them)"
        )
        raise typer.Exit(1)


class _download_bars:
    """``with _download_bars(quiet) as bar: fetch(..., on_progress=bar(label))``: one rich
    download bar per file (bytes, speed, time left); silent when quiet or not a terminal."""

    def __init__(self, quiet: bool):
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            disable=quiet or not sys.stdout.isatty(),
            console=console,
        )

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)

    def __call__(self, label: str):
        task = self.progress.add_task(escape(label), total=None)
        return lambda done, total: self.progress.update(task, completed=done, total=total)


data_app = typer.Typer(
    help="Standard sets by name: list what is under the data root (no command), or fetch sets.", add_completion=False
)
app.add_typer(data_app, name="data")


def _data_root(data_root: Optional[Path]) -> Optional[Path]:
    from ..datasets.base import data_root as resolve

    return resolve(str(data_root) if data_root else None)


@data_app.callback(invoke_without_command=True)
def data(
    ctx: typer.Context, data_root: Optional[Path] = typer.Option(None, "--data-root", help="Default: $BENCH_DATA_ROOT.")
) -> None:
    """Which standard sets are present under the data root, where each goes, its source, size and checksum status."""
    if ctx.invoked_subcommand is not None:
        return
    data_list(data_root)


@data_app.command("list")
def data_list(data_root: Optional[Path] = typer.Option(None, "--data-root", help="Default: $BENCH_DATA_ROOT.")) -> None:
    """Which standard sets are present under the data root, where each goes, its source, size and checksum status."""
    from benchmark.files import data as data_mod

    root = _data_root(data_root)
    console.print(
        f"[bold]standard sets[/] under {escape(str(root)) if root else '(no data root: --data-root or $BENCH_DATA_ROOT)'}; "
        "`bench data fetch NAME` downloads one",
        soft_wrap=True,
    )
    for r in data_mod.table_rows(root):
        colour = "green" if r["state"] == "present" else "yellow" if r["state"].startswith("incomplete") else "dim"
        console.print(
            f"\n[bold]{escape(r['name'])}[/]  [{colour}]{escape(r['state'])}[/]  {escape(r['folder'])}/  {escape(r['title'])}",
            soft_wrap=True,
            highlight=False,
        )
        if r["manual"]:
            console.print(f"  source  manual download: {escape(r['manual'])}", soft_wrap=True, highlight=False)
            continue
        for label, value in (
            ("source", r["source"]),
            ("size", r["size"]),
            ("sha256", r["sha256"]),
            ("license", r["license"]),
        ):
            console.print(f"  {label:<8}{escape(value)}", soft_wrap=True, highlight=False)


@data_app.command("fetch")
def data_fetch(
    names: List[str] = typer.Argument(
        ...,
        help="Set names (`bench data list`): live1, classic5, set5, set14, bsd100, urban100, cbsd68, kodak, div2k, coco, voc.",
    ),
    data_root: Optional[Path] = typer.Option(
        None, "--data-root", help="Where the sets go (default: $BENCH_DATA_ROOT)."
    ),
    timeout: float = typer.Option(
        10.0, "--timeout", min=1, help="Seconds to wait for the server (offline fails at once)."
    ),
    force: bool = typer.Option(False, "--force", help="Fetch and extract again even when the set is present."),
    keep: bool = typer.Option(False, "--keep-archive", help="Keep the downloaded archives in <data root>/.downloads/."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Download standard sets from their usual sources (resumed, checksummed) and extract them into the layout `bench run` reads."""
    from benchmark.files import data as data_mod

    try:
        with _download_bars(quiet) as bar:
            reports = data_mod.fetch(
                names, _data_root(data_root), timeout=timeout, force=force, keep=keep, progress=bar
            )
    except BenchError as exc:
        _fail(exc)
        return
    for r in reports:
        if not r["fetched"]:
            console.print(
                f"{escape(r['name'])}: already present in {escape(r['folder'])} ({r['images']} images; --force fetches again)"
            )
            continue
        for f in r["files"]:
            how = f"{f['downloaded']:,} bytes downloaded" + (
                f", resumed from {f['resumed_from']:,}" if f["resumed_from"] else ""
            )
            console.print(
                f"{escape(r['name'])}: {escape(f['url'])} ({how}; sha256 {f['sha256']}, {escape(f['checksum'])}): "
                f"{f['extracted']} file(s)",
                soft_wrap=True,
                highlight=False,
            )
        state = "complete" if r["complete"] else "[yellow]incomplete[/]"
        console.print(f"{escape(r['name'])}: {r['images']} images in {escape(r['folder'])} ({state})", soft_wrap=True)
