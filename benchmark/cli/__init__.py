"""The ``bench`` command line: the Typer ``app``, its ``--version`` callback, warning display
and ``_fail``; each command group lives in a module of this package and registers on ``app``."""

from __future__ import annotations

import warnings as _warnings

import typer
from rich.console import Console
from rich.markup import escape

from .. import __version__

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
    raise typer.Exit(
        getattr(exc, "exit_code", 2)
    )  # 2: usage and setup; 1: the run started and stopped (e.g. --out became unwritable)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    from ..errors import BenchWarning

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


# The command modules register on `app` as they are imported; the order is the order of `bench --help`.
from . import enhance, metrics, report, run, store, train  # noqa: E402,F401

app.command("predict-qf")(train.predict_qf)  # listed after `recipe`, before `serve`

from ..serve.commands import register as _register_serve  # noqa: E402  (bench serve, bench study)

_register_serve(app, console, err, _fail)


def main() -> None:  # pragma: no cover
    app()
