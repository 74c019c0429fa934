"""Getting chunks to the device: a background reader and host-to-device copies.

On CUDA, a reader thread fills a small bounded queue of pinned host chunks (at
most ``depth`` waiting, so pinned memory stays bounded), and copies run on their
own stream, synchronized with the compute stream by events, so the copy of chunk
i+1 overlaps the compute of chunk i. On the CPU the thread reads and decodes the
next chunk (file I/O, Parquet/CSV decoding) while the current one is computed.
"""

from __future__ import annotations

import queue
import threading
import warnings
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import Tensor

from ._sources import Chunk

_END = object()


class Prefetcher:
    """Iterate ``chunks`` from a background thread, ``depth`` ahead.

    Parameters
    ----------
    chunks : iterator of Chunk
    depth : int, default=2
        Chunks read ahead (bounds the extra host memory, pinned or not).
    pin : bool, default=False
        Copy each chunk into pinned (page-locked) memory for asynchronous copies.
    check : callable, default=None
        Validates each chunk in the thread; what it raises reaches the consumer.
    """

    def __init__(self, chunks: Iterator[Chunk], depth: int = 2, pin: bool = False,
                 check: Callable[[Chunk], None] | None = None):
        self._q: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._pin, self._check = pin, check
        self._thread = threading.Thread(target=self._run, args=(chunks,), daemon=True)
        self._thread.start()

    def _prepare(self, c: Chunk) -> Chunk:
        if isinstance(c.X, np.memmap):  # read the pages here, in the background
            c = c._replace(X=np.array(c.X), y=np.array(c.y) if isinstance(c.y, np.memmap) else c.y)
        if self._check is not None:  # on the host arrays, before pinning, off the compute thread
            self._check(c)
        if not self._pin:
            return c
        pin = lambda a: a if a is None or isinstance(a, Tensor) else _tensor(a).pin_memory()  # noqa: E731
        return Chunk(pin(c.X), pin(c.y) if c.y is None or c.y.dtype.kind in "biuf" else c.y, pin(c.w), c.start)

    def _run(self, chunks: Iterator[Chunk]) -> None:
        try:
            for c in chunks:
                item = self._prepare(c)
                while not self._stop.is_set():
                    try:
                        self._q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
            self._q.put(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            self._q.put(exc)

    def __iter__(self) -> Iterator[Chunk]:
        try:
            while True:
                item = self._q.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._q.get_nowait()
            except queue.Empty:
                self._thread.join(timeout=0.05)


def _tensor(a: np.ndarray) -> Tensor:
    """``a`` as a CPU tensor sharing its memory; a copy only when its rows or columns are
    not contiguous (column-major chunks, as Parquet's, stay so: torch's kernels take both)."""
    with warnings.catch_warnings():  # read-only memmaps: we only read, so share them
        warnings.simplefilter("ignore", UserWarning)
        dense = a.flags.c_contiguous or a.flags.f_contiguous
        return torch.from_numpy(a if dense else np.ascontiguousarray(a))


def _to(a, device: torch.device, dtype: torch.dtype | None, stream) -> Tensor | None:
    if a is None:
        return None
    if isinstance(a, np.ndarray):
        if a.dtype.kind not in "biuf":
            return a  # e.g. string labels stay on the host
        a = _tensor(a)
    if a.device == device and (dtype is None or a.dtype == dtype):
        return a
    if stream is None:
        return a.to(device=device, dtype=dtype or a.dtype)
    with torch.cuda.stream(stream):
        out = a.to(device=device, non_blocking=True)
        out = out if dtype is None else out.to(dtype)
    out.record_stream(torch.cuda.current_stream(device))
    return out


def to_device(c: Chunk, device: torch.device, dtype: torch.dtype | None, stream=None) -> Chunk:
    """A chunk's arrays as tensors on ``device`` (X cast to ``dtype``), copied on ``stream``."""
    out = Chunk(_to(c.X, device, dtype, stream), _to(c.y, device, None, stream), _to(c.w, device, None, stream),
                c.start)
    if stream is not None:
        torch.cuda.current_stream(device).wait_stream(stream)
    return out
