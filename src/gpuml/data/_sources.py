"""Sources of row chunks: the base class, conversion and checks, in-memory arrays, iterables.

A source knows its number of features and the dtype its rows are computed in, yields
host-side chunks ``Chunk(X, y, w)`` of a requested number of rows, and (when it can)
serves rows by index. X is converted as scikit-learn's ``check_array`` converts it
(integers and booleans to float64; float16 and bfloat16 to float32, the one exception;
big-endian to native), chunk by chunk: never one whole extra copy of the data. Sources
read from files validate each chunk (finite values) as it arrives, so a NaN in row 10
million is a clear ``ValueError`` naming its row, column and file, not a wrong model.
Files: ``_npy.py`` (``.npy`` files and shard folders), ``_tables.py`` (Parquet, CSV),
``_iterable.py`` (chunks from Python).

Examples
--------
>>> import numpy as np
>>> src = ArraySource(np.arange(10).reshape(5, 2))
>>> [len(c.X) for c in src.chunks(2)], src.dtype, next(src.chunks(2)).X.dtype
([2, 2, 1], dtype('float64'), dtype('float64'))
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

Array = Any  # np.ndarray | Tensor


class Chunk(NamedTuple):
    """Rows ``start:start+len(X)`` of a source; y and w may be None."""

    X: Array  # (r, d)
    y: Array | None  # (r,) or (r, t)
    w: Array | None  # (r,)
    start: int


# -- conversion, as scikit-learn's check_array(dtype=[float64, float32]) ----------------------------

def float_dtype(dtype: Any) -> np.dtype:
    """The NumPy dtype that X of ``dtype`` (NumPy or torch) is computed in.

    float32 and float64 stay; float16 and bfloat16 become float32 (scikit-learn makes
    them float64: a device computes them in float32, at half the memory); integers,
    booleans and wider floats become float64; complex is scikit-learn's error.

    Examples
    --------
    >>> float_dtype(np.int32), float_dtype(np.float16), float_dtype(torch.bfloat16)
    (dtype('float64'), dtype('float32'), dtype('float32'))
    """
    if isinstance(dtype, torch.dtype):
        if dtype.is_complex:
            raise ValueError("Complex data not supported")
        if dtype.is_floating_point:
            return np.dtype(np.float64 if dtype == torch.float64 else np.float32)
        return np.dtype(np.float64)  # integers and bool
    d = np.dtype(dtype)
    if d.kind == "c":
        raise ValueError("Complex data not supported")
    if d.kind == "f":
        return np.dtype(np.float32 if d.itemsize <= 4 else np.float64)
    if d.kind in "biu":
        return np.dtype(np.float64)
    raise ValueError(f"X holds {d} values; gpuml needs numbers")


def torch_dtype(dtype: np.dtype) -> torch.dtype:
    """The torch dtype of a NumPy float dtype."""
    return torch.float64 if np.dtype(dtype) == np.float64 else torch.float32


def converted(a: Array | None, dtype: np.dtype | None = None) -> Array | None:
    """A chunk's array in ``dtype`` (None: its own, in native byte order); a copy only when
    that differs. Tensors are detached: autograd never sees a pass."""
    if a is None:
        return None
    if isinstance(a, Tensor):
        a = a.detach()
        return a if dtype is None or a.dtype == torch_dtype(dtype) else a.to(torch_dtype(dtype))
    if dtype is None:
        return a if a.dtype.isnative else a.astype(a.dtype.newbyteorder("="))
    return a if a.dtype == dtype else np.array(a, dtype=dtype)  # a plain array, even from a memmap


# -- the base class ---------------------------------------------------------------------------------

class Source:
    """Base class: rows of X (and optional y, sample weights) read chunk by chunk.

    Subclasses set ``n_features``, ``dtype`` (a float dtype: X's chunks arrive in it),
    ``y_ndim`` (0: no target, 1 or 2), ``_rows`` when the format says how many rows it
    holds, and implement ``_blocks()``; random-access ones set ``random_access`` and ``take``.
    """

    n_features: int
    dtype: np.dtype
    y_ndim: int = 0
    #: The target is numbers (False: strings, fit only for a classifier).
    y_numeric: bool = True
    random_access: bool = False
    #: Reads files: worth a background reader thread.
    io_bound: bool = False
    #: Chunks still need checking (finite values), unlike arrays validated up front.
    validate: bool = True
    #: Serves a single pass only (a one-shot iterator).
    one_shot: bool = False
    feature_names: list[str] | None = None
    #: The file or folder read, for messages.
    what: str | None = None
    _rows: int | None = None

    @property
    def rows_known(self) -> int | None:
        """The number of rows if known without reading the data (arrays, ``.npy``, Parquet
        metadata), else None (CSV, iterables). Never reads; see ``count_rows``."""
        return self._rows

    def count_rows(self) -> int:
        """The number of rows: known, or counted by one full read of the source (then kept)."""
        if self._rows is None:
            if self.one_shot:
                raise ValueError("this source is a one-shot iterator: its rows cannot be counted without "
                                 "using it up; pass a list, or a function returning a fresh iterator")
            self._rows = sum(len(c.X) for c in self._blocks())
        return self._rows

    @property
    def shape(self) -> tuple[int, int]:
        """``(count_rows(), n_features)``."""
        return (self.count_rows(), self.n_features)

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize

    @property
    def n_targets(self) -> int:
        return 0 if self.y_ndim == 0 else getattr(self, "_n_targets", 1)

    def _blocks(self) -> Iterator[Chunk]:
        """The rows in blocks of whatever size the format gives."""
        raise NotImplementedError

    def chunks(self, rows: int) -> Iterator[Chunk]:
        """Chunks of exactly ``rows`` rows (the last may be shorter); no rows at all is an error."""
        empty = True
        for c in _rechunk(self._blocks(), rows):
            empty = False
            yield c
        if empty:
            where = f" in {self.what}" if self.what else ""
            raise ValueError(f"Found array with 0 sample(s) (shape=(0, {self.n_features})){where} while a "
                             "minimum of 1 is required.")

    def targets(self) -> Any:
        """Every row's target, in order (formats that store columns read only that one)."""
        return _concat([c.y for c in self.chunks(1 << 16)])

    def take(self, ids: np.ndarray) -> Chunk:
        """The rows at ``ids`` (random-access sources only)."""
        raise TypeError(f"{type(self).__name__} has no random access; read it with chunks()")

    def where(self, row: int) -> str:
        """Row ``row`` (0-based, of the whole source) in words, with its file."""
        return f"row {row}" + (f" of {self.what}" if self.what else "")

    def column(self, j: int) -> str:
        """Feature ``j`` in words: its name, else its index."""
        return repr(self.feature_names[j]) if self.feature_names else str(j)

    def __repr__(self) -> str:
        n = "?" if self._rows is None else f"{self._rows:,}"
        return f"{type(self).__name__}({n} rows x {self.n_features} features, {np.dtype(self.dtype).name})"


def _concat(parts: list) -> Any:
    """The parts joined (always a copy), or None when there are none."""
    if not parts or parts[0] is None:
        return None
    if isinstance(parts[0], Tensor):
        return torch.cat(parts)
    return np.concatenate(parts)


def _rechunk(blocks: Iterable[Chunk], rows: int) -> Iterator[Chunk]:
    """Regroup blocks of any size into chunks of ``rows`` rows, copying only across block edges."""
    pending: list[Chunk] = []
    have = 0
    start = 0
    for b in blocks:
        pos = 0
        n = len(b.X)
        while pos < n:
            take = min(rows - have, n - pos)
            piece = Chunk(b.X[pos:pos + take], None if b.y is None else b.y[pos:pos + take],
                          None if b.w is None else b.w[pos:pos + take], b.start + pos)
            pos += take
            if not pending and take == rows:
                yield piece
                start += rows
                continue
            pending.append(piece)
            have += take
            if have == rows:
                yield Chunk(_concat([p.X for p in pending]), _concat([p.y for p in pending]),
                            _concat([p.w for p in pending]), start)
                start += rows
                pending, have = [], 0
    if pending:
        yield Chunk(_concat([p.X for p in pending]), _concat([p.y for p in pending]),
                    _concat([p.w for p in pending]), start)


# -- checks -----------------------------------------------------------------------------------------

def all_finite(a: Array) -> bool:
    """Whether every value of ``a`` (NumPy or tensor) is finite. A finite sum says so in one
    reduction, with no mask of a's size; only when the sum is not finite, look closer."""
    if isinstance(a, Tensor):
        return bool(torch.isfinite(a.sum())) or bool(torch.isfinite(a).all())
    return bool(np.isfinite(a.sum())) or bool(np.isfinite(a).all())


def _first_bad(a: Array) -> tuple[int, int, str]:
    """(row, column, "NaN" or "infinity") of a's first non-finite value (a: 1-D or 2-D)."""
    a2 = a.reshape(len(a), -1)
    if isinstance(a2, Tensor):
        r, j = (int(v) for v in torch.nonzero(~torch.isfinite(a2))[0])
        return r, j, "NaN" if bool(torch.isnan(a2[r, j])) else "infinity"
    r, j = (int(v) for v in np.argwhere(~np.isfinite(a2))[0])
    return r, j, "NaN" if np.isnan(a2[r, j]) else "infinity"


def _is_float(a: Array) -> bool:
    return a.is_floating_point() if isinstance(a, Tensor) else a.dtype.kind == "f"


def check_lengths(X: Array, y: Array | None, w: Array | None, start: int) -> None:
    """Raise ValueError when a chunk's y or w has not one entry per row of X."""
    for name, a in (("y", y), ("sample weights", w)):
        if a is not None and len(a) != len(X):
            raise ValueError(f"the chunk at row {start} has {len(X)} rows of X but {len(a)} of {name}")


def check_chunk(chunk: Chunk, n_features: int, source: Source | None = None) -> None:
    """Raise ValueError for a chunk with the wrong width, lengths or non-finite values; the
    message names the first bad value's row, column and file (from ``source``)."""
    src = source if source is not None else Source()
    X, y, w, start = chunk
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(f"rows from {start} have {X.shape[-1] if X.ndim else 0} features, expected {n_features}")
    check_lengths(X, y, w, start)
    if not all_finite(X):
        r, j, kind = _first_bad(X)
        raise ValueError(f"Input X contains {kind} ({src.where(start + r)}, column {src.column(j)}).")
    if y is not None and _is_float(y) and not all_finite(y):
        r, _, kind = _first_bad(y)
        raise ValueError(f"Input y contains {kind} ({src.where(start + r)}).")
    if w is not None:
        bad = (~np.isfinite(w) | (w < 0)) if isinstance(w, np.ndarray) else (~torch.isfinite(w) | (w < 0))
        if bool(bad.any()):
            r = int(np.argmax(bad) if isinstance(bad, np.ndarray) else torch.nonzero(bad)[0, 0])
            raise ValueError(
                f"sample weights must be finite and non-negative ({src.where(start + r)} has {float(w[r])})."
            )


# -- in-memory arrays -----------------------------------------------------------------------------

class ArraySource(Source):
    """Rows of an in-memory X (NumPy, a memmap, or a torch tensor on any device).

    Parameters
    ----------
    X : ndarray or Tensor of shape (n_samples, n_features)
        Any real dtype, either byte order or layout: chunks arrive as ``float_dtype``.
    y : ndarray or Tensor of shape (n_samples,) or (n_samples, n_targets), default=None
    w : ndarray or Tensor of shape (n_samples,), default=None
    validate : bool, default=False
        Check each chunk for non-finite values (for data not validated up front,
        such as a memmap too large to check at once).
    """

    random_access = True

    def __init__(self, X: Array, y: Array | None = None, w: Array | None = None, *, validate: bool = False):
        if X.ndim != 2:
            raise ValueError(f"Expected 2D array, got {X.ndim}D array instead.")
        detach = lambda a: a.detach() if isinstance(a, Tensor) else a  # noqa: E731
        self.X, self.y, self.w = detach(X), detach(y), detach(w)
        self.n_features = int(X.shape[1])
        self.dtype = float_dtype(X.dtype)
        self.y_ndim = 0 if y is None else y.ndim
        self.y_numeric = y is None or isinstance(y, Tensor) or y.dtype.kind in "biuf"
        self._n_targets = 0 if y is None else (1 if y.ndim == 1 else int(y.shape[1]))
        self._rows = int(X.shape[0])
        for name, a in (("y", y), ("sample_weight", w)):
            if a is not None and len(a) != self._rows:
                raise ValueError(
                    f"Found input variables with inconsistent numbers of samples: [{self._rows}, {len(a)}]"
                    f" ({name})"
                )
        self.validate = validate
        self.io_bound = isinstance(X, np.memmap)
        self.what = getattr(X, "filename", None) if self.io_bound else None

    def _finish(self, c: Chunk) -> Chunk:
        """A raw chunk of the arrays as served: X in ``dtype``, y and w in native byte order."""
        return Chunk(converted(c.X, self.dtype), converted(c.y), converted(c.w), c.start)

    def _blocks(self) -> Iterator[Chunk]:
        yield from self.chunks(max(1, self._rows))

    def chunks(self, rows: int) -> Iterator[Chunk]:
        for s in range(0, self._rows, rows):
            e = min(s + rows, self._rows)
            yield self._finish(Chunk(self.X[s:e], None if self.y is None else self.y[s:e],
                                     None if self.w is None else self.w[s:e], s))

    def targets(self) -> Any:
        return converted(self.y)

    def take(self, ids: np.ndarray) -> Chunk:
        idx = torch.as_tensor(ids, device=self.X.device) if isinstance(self.X, Tensor) else np.asarray(ids)
        pick = lambda a: None if a is None else a[idx if isinstance(a, Tensor) else np.asarray(ids)]  # noqa: E731
        return self._finish(Chunk(self.X[idx], pick(self.y), pick(self.w), -1))

    @property
    def on_device(self) -> torch.device | None:
        return self.X.device if isinstance(self.X, Tensor) else None


def as_source(X: Any, y: Any = None, w: Any = None) -> Source:
    """``X`` as a Source: sources pass through, arrays and tensors become an ArraySource."""
    if isinstance(X, Source):
        return X
    return ArraySource(X, y, w)
