"""A rich progress bar fed by the passes (rows, rows/s, ETA), and the model file format."""

from __future__ import annotations

import os
import pickle
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from .._files import write_atomically

#: The first key of every model file; anything else is "not a gpuml model".
MODEL_FORMAT = "gpuml-model/1"


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
def pass_bar(console: Console, show: bool) -> Iterator[PassBar | None]:
    from ..data import report_progress

    if not show:
        yield None
        return
    bar = PassBar(console)
    with bar.progress, report_progress(bar):
        yield bar


def save_model(path: str, estimator: Any, meta: dict) -> None:
    from .. import __version__

    payload = {"format": MODEL_FORMAT, "gpuml_version": __version__, "estimator": estimator, **meta}

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)

    write_atomically(path, write)


def load_model(path: str) -> dict:
    """Read a model file written by ``gpuml fit`` (a pickle: load only files you trust)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such model file: {path}")
    try:
        with open(path, "rb") as fh:
            payload = pickle.load(fh)
    except Exception:
        raise ValueError(f"{path} is not a gpuml model file") from None
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise ValueError(f"{path} is not a gpuml model file")
    return payload
