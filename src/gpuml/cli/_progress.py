"""A rich progress bar fed by the passes (rows, rows/s, ETA)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class PassBar:
    """Implements gpuml.data's Progress protocol with a rich bar: one task per pass."""

    def __init__(self, console: Console):
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} rows/s"), TimeRemainingColumn(), console=console, transient=False,
        )
        self.task = None
        self.passes = 0
        self.rows = 0
        self.t0 = time.perf_counter()
        self.t_pass = self.t0

    def start_pass(self, total_rows: int | None) -> None:
        if self.task is not None:
            self.progress.update(self.task, visible=False)
        self.passes += 1
        self.t_pass = time.perf_counter()
        self.task = self.progress.add_task(f"pass {self.passes}", total=total_rows, rate="-")

    def advance(self, rows: int) -> None:
        self.rows += rows
        task = self.progress.tasks[self.task]
        done = task.completed + rows
        rate = done / max(time.perf_counter() - self.t_pass, 1e-9)
        self.progress.update(self.task, advance=rows, rate=f"{rate:,.0f}")

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.t0


@contextmanager
def pass_bar(console: Console, show: bool, *, passes: bool = True) -> Iterator[PassBar | None]:
    """A bar fed by gpuml's passes, or (``passes=False``) by the caller's own
    ``start_pass`` / ``advance`` calls."""
    from ..data import report_progress

    if not show:
        yield None
        return
    bar = PassBar(console)
    with bar.progress:
        if passes:
            with report_progress(bar):
                yield bar
        else:
            yield bar
