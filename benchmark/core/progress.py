"""Progress bars of a run (rich; silent when stdout is not a terminal)."""

from __future__ import annotations

from typing import Callable


class Progress:
    """rich progress bars (silent when stdout is not a terminal)."""

    def __init__(self, enabled: bool):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.p = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            disable=not enabled,
            transient=False,
        )
        self.items = None
        self.frames = None

    def __enter__(self):
        self.p.__enter__()
        return self

    def __exit__(self, *a):
        self.p.__exit__(*a)

    def start_dataset(self, name: str, total: int) -> None:
        if self.items is not None:
            self.p.remove_task(self.items)
        self.items = self.p.add_task(name, total=total)

    def item_done(self) -> None:
        self.p.advance(self.items)

    def stage(self, desc: str, total: int | None) -> Callable[[], None]:
        if self.frames is None:
            self.frames = self.p.add_task(desc, total=total)
        self.p.reset(self.frames, total=total, description=desc)
        return lambda: self.p.advance(self.frames)


class _NoBar:
    """Where no bar is shown (a worker process): every stage's tick does nothing."""

    def stage(self, desc: str, total: int | None) -> Callable[[], None]:
        return lambda: None


NO_BAR = _NoBar()
