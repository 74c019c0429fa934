"""``.npy`` files and folders of ``.npy`` shards, memory-mapped: only the chunk being read
is in memory, converted to the source's float dtype as it is read."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from ._sources import ArraySource, Chunk, Source, converted


def target_index(target: int, n_columns: int, what: str) -> int:
    """``target`` as a column index in ``0..n_columns-1`` (negative: from the end, as in Python).

    Examples
    --------
    >>> target_index(-1, 33, "x.npy")
    32
    >>> target_index(99, 33, "x.npy")
    Traceback (most recent call last):
    ...
    ValueError: target=99 is out of range: x.npy has 33 columns (target 0..32, or -33..-1 from the end)
    """
    if not -n_columns <= target < n_columns:
        raise ValueError(f"target={target} is out of range: {what} has {n_columns} columns "
                         f"(target 0..{n_columns - 1}, or -{n_columns}..-1 from the end)")
    return target % n_columns


def _target_of(M: np.ndarray, t: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    if t is None:
        return M, None
    if t in (0, M.shape[1] - 1):  # first or last column: the features are a view, not a copy
        return (M[:, 1:] if t == 0 else M[:, :-1]), M[:, t]
    keep = [j for j in range(M.shape[1]) if j != t]
    return M[:, keep], M[:, t]


def open_npy(path: Any, ndmin: int = 2) -> np.ndarray:
    """The memory map of a ``.npy`` file of numbers whose size agrees with its header."""
    p = os.fspath(path)
    try:
        M = np.load(p, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {p}") from None
    except Exception as exc:  # a broken header raises ValueError, SyntaxError, tokenize errors, ...
        raise ValueError(f"{p} is not a readable .npy file ({type(exc).__name__}: {exc})") from None
    if not isinstance(M, np.memmap):
        raise ValueError(f"{p} is not a .npy file of one array")
    if M.dtype.kind not in "biuf":
        raise ValueError(f"{p} holds {M.dtype} values; gpuml needs numbers"
                         + (" (Complex data not supported)" if M.dtype.kind == "c" else ""))
    data = os.path.getsize(p) - M.offset
    if data != M.nbytes:  # numpy refuses a file too short, and accepts one too long
        raise ValueError(f"{p}: its header says {M.shape} {M.dtype} values ({M.nbytes:,} bytes), but the file "
                         f"holds {data:,} bytes after the header; it is truncated or not what it says")
    if ndmin == 2 and M.ndim != 2:
        raise ValueError(f"{p} has shape {M.shape}; expected a 2-D array (rows x features)")
    return M


class NpySource(ArraySource):
    """A ``.npy`` file, memory-mapped: only the chunk being read is in memory.

    Parameters
    ----------
    path : str or os.PathLike
        A 2-D ``.npy`` file of numbers (any real dtype, either byte order or layout).
    y : str, os.PathLike or ndarray, default=None
        Targets: another ``.npy`` file or an array.
    target : int, default=None
        Alternatively, the column of the file holding the target (it is then not a
        feature); negative counts from the end, as in Python.
    """

    def __init__(self, path: str | os.PathLike, y: Any = None, *, target: int | None = None):
        M = open_npy(path)
        self.path = self.what = os.fspath(path)
        if target is not None and y is not None:
            raise ValueError("give either y or target, not both")
        self._target = None if target is None else target_index(int(target), M.shape[1], self.path)
        if self._target is not None and M.shape[1] == 1:
            raise ValueError(f"{self.path} has one column, and it is the target (target={target}): "
                             "no feature columns are left")
        yv = open_npy(y, ndmin=1) if isinstance(y, (str, os.PathLike)) else y
        super().__init__(M, yv, validate=True)
        if target is not None:
            self.n_features -= 1
            self.y_ndim, self._n_targets = 1, 1
        self.io_bound = True

    def _finish(self, c: Chunk) -> Chunk:
        X, y = _target_of(c.X, self._target)  # views of the memory map stay memory-mapped until converted
        return super()._finish(Chunk(X, c.y if self._target is None else y, c.w, c.start))

    def targets(self) -> np.ndarray:
        return converted(np.array(self.X[:, self._target]) if self._target is not None else np.asarray(self.y))

    def column(self, j: int) -> str:
        t = self._target
        return str(j if t is None or j < t else j + 1) + " of the file"


class NpyShardsSource(Source):
    """A folder of ``.npy`` shards with the same columns, read in name order.

    Parameters
    ----------
    folder : str or os.PathLike
    target : int, default=None
        Column holding the target.
    pattern : str, default="*.npy"
    """

    random_access = True
    io_bound = True

    def __init__(self, folder: str | os.PathLike, *, target: int | None = None, pattern: str = "*.npy"):
        paths = sorted(glob.glob(os.path.join(os.fspath(folder), pattern)))
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"no such folder: {os.fspath(folder)}")
        if not paths:
            raise ValueError(f"no {pattern} files in {os.fspath(folder)}")
        self.shards = [NpySource(p, target=target) for p in paths]
        self.what = os.fspath(folder)
        widths = {s.n_features for s in self.shards}
        if len(widths) != 1:
            raise ValueError(f"shards in {os.fspath(folder)} have different numbers of columns: {sorted(widths)}")
        self.n_features = widths.pop()
        self.dtype = np.result_type(*(s.dtype for s in self.shards))  # float32 and float64: float64
        self.y_ndim = 0 if target is None else 1
        self._n_targets = self.y_ndim
        self.offsets = np.cumsum([0] + [s.rows_known for s in self.shards])
        self._rows = int(self.offsets[-1])

    def _blocks(self) -> Iterator[Chunk]:
        for off, s in zip(self.offsets, self.shards):
            if s.rows_known:
                for c in s.chunks(1 << 16):
                    yield c._replace(X=converted(c.X, self.dtype), start=int(off) + c.start)

    def take(self, ids: np.ndarray) -> Chunk:
        """Rows ``ids`` in the given order, one fancy-indexed read per shard touched."""
        ids = np.asarray(ids, dtype=np.int64)
        which = np.searchsorted(self.offsets, ids, side="right") - 1
        X = np.empty((len(ids), self.n_features), dtype=self.dtype)
        y = None if self.y_ndim == 0 else np.empty(len(ids))
        for j in np.unique(which):
            at = np.nonzero(which == j)[0]
            c = self.shards[j].take(ids[at] - self.offsets[j])
            X[at] = c.X
            if y is not None:
                y[at] = c.y
        return Chunk(X, y, None, -1)

    def where(self, row: int) -> str:
        j = int(np.searchsorted(self.offsets, row, side="right") - 1)
        return f"{self.shards[j].where(row - int(self.offsets[j]))}, row {row} of the folder"

    def column(self, j: int) -> str:
        return self.shards[0].column(j)

