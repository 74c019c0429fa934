"""Outputs of ``gpuml predict`` written block by block: ``.npy``, ``.csv`` or ``.parquet``.

`stream_outputs` predicts chunk by chunk over a source and hands each block to a writer
as it is made. Each writer takes the rows' outputs one block at a time (``write``) and finishes the
file (``close``), so that only one block is ever in memory. A 1-D output is one column,
``prediction``; a 2-D output of t columns is ``x0 .. x{t-1}``.
"""

from __future__ import annotations

import functools
import gc
import struct
from typing import Any

import numpy as np

FORMATS = (".npy", ".parquet", ".pq", ".csv")


def check_format(path: str) -> None:
    if not path.lower().endswith(FORMATS):
        raise ValueError(f"{path}: unknown output format; use .parquet, .csv or .npy")


def open_writer(final: str, tmp: str) -> Any:
    """A writer of ``tmp`` in the format ``final``'s extension names."""
    check_format(final)
    low = final.lower()
    if low.endswith(".npy"):
        return NpyWriter(tmp)
    return ArrowWriter(tmp, "csv" if low.endswith(".csv") else "parquet")


def _rows_of(source, c):
    """Chunk ``c`` of ``source`` as a source: the same feature names, checks and row numbers."""
    return _window_class()(source, c)


@functools.cache
def _window_class():
    from ..data import ArraySource

    class Window(ArraySource):
        def __init__(self, source, c):
            super().__init__(c.X, validate=source.validate)
            self.feature_names, self.offset = source.feature_names, c.start
            self.io_bound = False  # no reader thread per chunk (each would keep its own malloc arena)

        def chunks(self, rows):
            for part in super().chunks(rows):
                yield part._replace(start=part.start + self.offset)

    return Window


def stream_outputs(fn, source, final: str, tmp: str, bar=None) -> int:
    """Write ``fn`` of each chunk of ``source`` to ``tmp`` as it is made; the number of rows.

    A chunk's rows and outputs take at most a quarter of the host's memory budget, so that
    ``fn``'s own passes (planned within the budget) and the one block being written fit.
    """
    import torch

    from ..data import plan_rows
    from ..device import memory_budget

    budget = memory_budget(torch.device("cpu"))
    known = source.rows_known
    first = next(source.chunks(1), None)
    if first is None:
        raise ValueError("the data has no rows to predict")
    width = int(np.prod(np.shape(fn(_rows_of(source, first)))[1:], dtype=np.int64))
    row_bytes = source.n_features * max(source.itemsize, 8) + max(1, width) * 8
    rows = plan_rows(budget // 4, row_bytes, known or (1 << 62))
    writer = open_writer(final, tmp)
    n = 0
    try:
        if bar is not None:
            bar.start_pass(known)
        for c in source.chunks(rows):
            writer.write(np.asarray(fn(_rows_of(source, c))))
            n += len(c.X)
            gc.collect(1)  # a call's passes may leave cycles holding its tensors: free them chunk by chunk
            if bar is not None:
                bar.advance(len(c.X))
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return n


def _npy_header(dtype: np.dtype, shape: tuple[int, ...], size: int) -> bytes:
    """A version 1.0 ``.npy`` header of exactly ``size`` bytes (padded with spaces, as NumPy pads)."""
    body = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}).encode()
    pad = size - 10 - len(body) - 1
    if pad < 0:
        raise ValueError(f"a .npy header for {dtype} {shape} does not fit in {size} bytes")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", size - 10) + body + b" " * pad + b"\n"


class NpyWriter:
    """A ``.npy`` file whose row count is written last: a header of fixed size is reserved,
    the rows are appended, then the header is written over the reserved bytes."""

    def __init__(self, path: str):
        self.fh = open(path, "wb")
        self.dtype: np.dtype | None = None
        self.tail: tuple[int, ...] = ()
        self.rows = 0
        self.size = 0

    def write(self, block: np.ndarray) -> None:  # (r,) or (r, t)
        if self.dtype is None:
            if block.dtype.hasobject:
                raise ValueError("these predictions are Python objects, which .npy cannot hold; use .csv or .parquet")
            self.dtype, self.tail = block.dtype, block.shape[1:]
            widest = _npy_header(self.dtype, (2**63 - 1, *self.tail), 1 << 16)
            self.size = -(-(len(widest.rstrip()) + 1) // 64) * 64  # rounded up to NumPy's 64-byte alignment
            self.fh.write(b"\0" * self.size)
        if block.shape[1:] != self.tail:
            raise ValueError(f"outputs of shape {block.shape[1:]} after outputs of shape {self.tail}")
        if block.dtype != self.dtype:
            if not np.can_cast(block.dtype, self.dtype, "safe"):
                raise ValueError(f"outputs of type {block.dtype} after outputs of type {self.dtype}; "
                                 f"write .csv or .parquet")
            block = block.astype(self.dtype)
        self.fh.write(memoryview(np.ascontiguousarray(block)).cast("B"))
        self.rows += len(block)

    def close(self) -> None:
        if self.dtype is None:
            raise ValueError("no rows to write")
        self.fh.seek(0)
        self.fh.write(_npy_header(self.dtype, (self.rows, *self.tail), self.size))
        self.fh.close()

    def abort(self) -> None:
        self.fh.close()


class ArrowWriter:
    """A CSV or Parquet file written one record batch per block (pyarrow's streaming writers)."""

    def __init__(self, path: str, kind: str):
        self.path, self.kind, self.writer, self.schema = path, kind, None, None

    def write(self, block: np.ndarray) -> None:
        import pyarrow as pa

        cols = {"prediction": block} if block.ndim == 1 else {f"x{j}": block[:, j] for j in range(block.shape[1])}
        table = pa.table(cols)
        if self.writer is None:
            self.schema = table.schema
            if self.kind == "csv":
                import pyarrow.csv as pc

                self.writer = pc.CSVWriter(self.path, self.schema)
            else:
                import pyarrow.parquet as pq

                self.writer = pq.ParquetWriter(self.path, self.schema)
        self.writer.write_table(table.cast(self.schema))

    def close(self) -> None:
        if self.writer is None:
            raise ValueError("no rows to write")
        self.writer.close()

    def abort(self) -> None:
        if self.writer is not None:
            try:
                self.writer.close()
            except Exception:  # noqa: BLE001 - already failing; the temporary file is removed next
                pass
