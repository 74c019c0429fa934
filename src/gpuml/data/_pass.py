"""Drive a reduction over a source: the memory planner and out-of-memory recovery."""

from __future__ import annotations

import gc
from typing import Callable, TypeVar

import torch
from torch import Tensor

from ..device import memory_budget
from ._source import ArraySource

S = TypeVar("S")


class DeviceMemoryError(MemoryError):
    """Not even one row of a pass fits in the device's memory."""


def plan_rows(budget: int, bytes_per_row: int, n_rows: int) -> int:
    """Rows per chunk so that a chunk's working memory stays within ``budget``.

    Examples
    --------
    >>> plan_rows(1000, 64, 1_000_000)
    15
    >>> plan_rows(10**9, 64, 100)
    100
    """
    return max(1, min(n_rows, budget // max(1, bytes_per_row)))


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _drive(source: ArraySource, device: torch.device, bytes_per_row: int, step: Callable[[tuple, int], None]) -> None:
    """Call ``step(chunk, start)`` over all rows; on OOM halve the chunk and retry it."""
    rows = plan_rows(memory_budget(device), bytes_per_row, source.n_rows)
    start = 0
    while start < source.n_rows:
        stop = min(start + rows, source.n_rows)
        try:
            step(source.slice(start, stop, device), start)
        except (torch.OutOfMemoryError, RuntimeError, MemoryError) as exc:
            if not (_is_oom(exc) or isinstance(exc, MemoryError)) or isinstance(exc, DeviceMemoryError):
                raise
            _free(device)
            if rows == 1:
                raise DeviceMemoryError(
                    f"One row of this pass needs about {bytes_per_row:,} bytes of working memory on "
                    f"{device}, and even that could not be allocated (budget {memory_budget(device):,} bytes)."
                ) from exc
            rows = max(1, rows // 2)
            continue
        start = stop


def run_pass(source: ArraySource, reduction, device: torch.device, state: S | None = None) -> S:
    """Fold ``reduction`` over every chunk of ``source`` and return the final state.

    Parameters
    ----------
    source : ArraySource
    reduction : Reduction
        Provides ``init``, ``update``, ``merge`` and ``bytes_per_row``.
    device : torch.device
    state : optional
        Start from this state instead of ``reduction.init`` (``partial_fit``).
    """
    box = [reduction.init(source.n_features, device) if state is None else state]

    def step(chunk: tuple, start: int) -> None:
        box[0] = reduction.update(box[0], *chunk)

    _drive(source, device, reduction.bytes_per_row(source.n_features, source.itemsize), step)
    return box[0]


def run_map(
    source: ArraySource,
    fn: Callable[[Tensor, Tensor | None, Tensor | None], Tensor | tuple[Tensor, ...]],
    device: torch.device,
    bytes_per_row: int,
) -> Tensor | tuple[Tensor, ...]:
    """Apply ``fn`` to each chunk and concatenate its row outputs (a map, not a fold)."""
    parts: list = []

    def step(chunk: tuple, start: int) -> None:
        out = fn(*chunk)
        parts.append(out if isinstance(out, tuple) else (out,))

    _drive(source, device, bytes_per_row, step)
    cat = tuple(torch.cat(col) for col in zip(*parts))
    return cat if len(cat) > 1 else cat[0]
