"""Drive a reduction over a source: the memory planner, OOM recovery and progress.

``run_pass`` folds a reduction over every chunk; ``run_map`` applies a function
to every chunk and concatenates the rows it returns. Both size chunks with the
planner (bytes per row of the kernel against the budget) and, on an
out-of-memory error, free what the failed attempt held, halve the chunk and go on
(``gpuml.device.retry_smaller``), giving up only when a single row does not fit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar

import numpy as np
import torch
from torch import Tensor

from .._config import get_config
from ..device import compute_context, memory_budget, retry_smaller
from ._loader import Prefetcher, to_device
from ._sources import Chunk, Source, check_chunk

S = TypeVar("S")
#: Chunks the background reader keeps ready ahead of the one being computed.
PREFETCH_DEPTH = 2


class Progress(Protocol):
    """Receives what passes do (the CLI's progress bar is one)."""

    def start_pass(self, total_rows: int | None) -> None: ...

    def advance(self, rows: int) -> None: ...


_progress: ContextVar[Progress | None] = ContextVar("gpuml_progress", default=None)


@contextmanager
def report_progress(progress: Progress) -> Iterator[None]:
    """Send the progress of every pass inside the block to ``progress``."""
    token = _progress.set(progress)
    try:
        yield
    finally:
        _progress.reset(token)


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


def _rows_of(c: Chunk, s: int, e: int) -> Chunk:
    return Chunk(c.X[s:e], None if c.y is None else c.y[s:e], None if c.w is None else c.w[s:e], c.start + s)


def _prefetches(source: Source, device: torch.device) -> bool:
    return getattr(source, "on_device", None) is None and (source.io_bound or device.type == "cuda")


def _host_chunks(source: Source, rows: int, device: torch.device) -> Iterator[Chunk]:
    """The source's chunks, validated when needed; read ahead (and validated) in a thread
    when that helps."""
    check = (lambda c: check_chunk(c, source.n_features, source)) if source.validate else None
    if _prefetches(source, device):
        yield from Prefetcher(source.chunks(rows), depth=PREFETCH_DEPTH, pin=device.type == "cuda", check=check)
        return
    for c in source.chunks(rows):
        if check is not None:
            check(c)
        yield c


def _drive(source: Source, device: torch.device, dtype: torch.dtype | None, bytes_per_row: int,
           step: Callable[[Chunk], None], max_rows: int | None = None) -> None:
    """Call ``step`` on every chunk (on the device); on OOM halve the chunk and retry it.

    ``max_rows`` caps the planned chunk (for kernels that also bound it by another limit).
    """
    # half of the budget for the chunk's planned working memory; the rest covers what the
    # algorithm keeps between chunks (states, outputs) and allocator slack
    budget = memory_budget(device) // 2
    if _prefetches(source, device):
        # host chunks alive at once: the one being computed, PREFETCH_DEPTH queued and the
        # one the reader holds while it waits for room in the queue
        bytes_per_row += (PREFETCH_DEPTH + 2) * (source.n_features * source.itemsize + 16)
    limit = get_config()["memory_limit"]
    if limit is not None and budget < bytes_per_row:
        raise ValueError(
            f"memory_limit={limit:,} bytes is below what one row of this pass needs: about "
            f"{bytes_per_row:,} bytes of working memory (in half of the limit, the other half being "
            f"for what the algorithm keeps), so memory_limit must be at least {2 * bytes_per_row:,} bytes."
        )
    rows = plan_rows(budget, bytes_per_row, min(source.rows_known or (1 << 62), max_rows or (1 << 62)))
    stream = torch.cuda.Stream(device) if device.type == "cuda" else None
    progress = _progress.get()
    if progress is not None:
        progress.start_pass(source.rows_known)
    one_row = (f"One row of this pass needs about {bytes_per_row:,} bytes of working memory on {device}, "
               f"and even that could not be allocated (budget {budget:,} bytes)")

    with compute_context(device):  # the allow_tf32 setting holds for every kernel of every pass
        for c in _host_chunks(source, rows, device):
            s, n = 0, len(c.X)
            while s < n:  # rows s:s+r on the device; a failed attempt is freed before a smaller one
                r = min(rows, n - s)

                def run(r: int, c: Chunk = c, s: int = s) -> None:
                    step(to_device(_rows_of(c, s, s + r), device, dtype, stream))

                _, done = retry_smaller(run, r, device, one_row=one_row)
                rows = done if done < r else rows  # the smaller size is kept from then on
                s += done
                if progress is not None:
                    progress.advance(done)


def _dtype_of(source: Source) -> torch.dtype:
    return torch.from_numpy(np.empty(0, dtype=source.dtype)).dtype


def run_pass(source: Source, reduction: Any, device: torch.device, state: S | None = None,
             dtype: torch.dtype | None = None) -> S:
    """Fold ``reduction`` over every chunk of ``source`` and return the final state.

    Parameters
    ----------
    source : Source
    reduction : Reduction
        Provides ``init``, ``update``, ``merge`` and ``bytes_per_row``.
    device : torch.device
    state : optional
        Start from this state instead of ``reduction.init`` (``partial_fit``).
    dtype : torch.dtype, default=None
        X's dtype on the device (default: the source's).
    """
    dtype = dtype or _dtype_of(source)
    box = [reduction.init(source.n_features, device) if state is None else state]

    offsets = getattr(reduction, "uses_row_offset", False)  # e.g. kNN: row ids = offset + position

    def step(c: Chunk) -> None:
        box[0] = reduction.update(box[0], c.X, c.start if offsets else c.y, c.w)

    itemsize = torch.empty((), dtype=dtype).element_size()
    _drive(source, device, dtype, reduction.bytes_per_row(source.n_features, itemsize), step)
    return box[0]


def run_map(
    source: Source,
    fn: Callable[[Tensor, Tensor | None, Tensor | None], Tensor | tuple[Tensor, ...]],
    device: torch.device,
    bytes_per_row: int,
    *,
    dtype: torch.dtype | None = None,
    to_host: bool = False,
    max_rows: int | None = None,
) -> Tensor | tuple[Tensor, ...]:
    """Apply ``fn`` to each chunk and concatenate its row outputs (a map, not a fold).

    ``to_host`` moves each chunk's output to the CPU as it is made, so the device
    holds one chunk's output at a time. ``max_rows`` caps the chunk.
    """
    parts: list = []

    def step(c: Chunk) -> None:
        out = fn(c.X, c.y, c.w)
        out = out if isinstance(out, tuple) else (out,)
        parts.append(tuple(o.cpu() for o in out) if to_host else out)

    _drive(source, device, dtype or _dtype_of(source), bytes_per_row, step, max_rows)
    if not parts:
        raise ValueError("the source yielded no rows")
    cat = tuple(torch.cat(col) for col in zip(*parts))
    return cat if len(cat) > 1 else cat[0]
