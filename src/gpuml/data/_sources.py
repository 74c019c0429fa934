"""Sources of row chunks: in-memory arrays, .npy files and shard folders, Parquet, CSV, iterables.

A source knows its number of features and X's dtype, yields host-side chunks
``Chunk(X, y, w)`` of a requested number of rows, and (when it can) serves rows by
index. Sources read from files validate each chunk (finite, numeric) as it arrives,
so a NaN in row 10 million is a clear ``ValueError``, not a wrong model.

Examples
--------
>>> import numpy as np
>>> src = ArraySource(np.arange(10.0).reshape(5, 2))
>>> [len(c.X) for c in src.chunks(2)]
[2, 2, 1]
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterable, Iterator
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


class Source:
    """Base class: rows of X (and optional y, sample weights) read chunk by chunk.

    Subclasses set ``n_features``, ``dtype``, ``y_ndim`` (0: no target, 1 or 2) and
    implement ``_blocks()``; random-access ones set ``random_access`` and ``take``.
    """

    n_features: int
    dtype: np.dtype
    y_ndim: int = 0
    random_access: bool = False
    #: Reads files: worth a background reader thread.
    io_bound: bool = False
    #: Chunks still need checking (finite values), unlike arrays validated up front.
    validate: bool = True
    #: Serves a single pass only (a one-shot iterator).
    one_shot: bool = False
    _n_rows: int | None = None
    feature_names: list[str] | None = None

    @property
    def n_rows(self) -> int:
        """Number of rows (counted by one pass the first time, if the format does not say)."""
        if self._n_rows is None:
            self._n_rows = sum(len(c.X) for c in self._blocks())
        return self._n_rows

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_rows, self.n_features)

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
        """Chunks of exactly ``rows`` rows (the last may be shorter)."""
        yield from _rechunk(self._blocks(), rows)

    def targets(self) -> Any:
        """Every row's target, in order (formats that store columns read only that one)."""
        return _concat([c.y for c in self.chunks(1 << 16)])

    def take(self, ids: np.ndarray) -> Chunk:
        """The rows at ``ids`` (random-access sources only)."""
        raise TypeError(f"{type(self).__name__} has no random access; read it with chunks()")

    def __repr__(self) -> str:
        n = "?" if self._n_rows is None else f"{self._n_rows:,}"
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


def all_finite(a: Array) -> bool:
    """Whether every value of ``a`` (NumPy or tensor) is finite. A finite sum says so in one
    reduction, with no mask of a's size; only when the sum is not finite, look closer."""
    if isinstance(a, Tensor):
        return bool(torch.isfinite(a.sum())) or bool(torch.isfinite(a).all())
    return bool(np.isfinite(a.sum())) or bool(np.isfinite(a).all())


def check_chunk(chunk: Chunk, n_features: int) -> None:
    """Raise ValueError for a chunk with the wrong width or non-finite values."""
    X = chunk.X
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(
            f"rows from {chunk.start} have {X.shape[-1] if X.ndim else 0} features, expected {n_features}"
        )
    if not all_finite(X):
        raise ValueError(f"Input X contains NaN or infinity (in rows {chunk.start}..{chunk.start + len(X) - 1}).")
    y = chunk.y
    if y is not None and (y.dtype.kind == "f" if isinstance(y, np.ndarray) else y.is_floating_point()):
        ok = np.isfinite(y).all() if isinstance(y, np.ndarray) else torch.isfinite(y).all()
        if not bool(ok):
            raise ValueError(f"Input y contains NaN or infinity (in rows {chunk.start}..{chunk.start + len(y) - 1}).")
    w = chunk.w
    if w is not None:
        bad = (~np.isfinite(w) | (w < 0)).any() if isinstance(w, np.ndarray) else (~torch.isfinite(w) | (w < 0)).any()
        if bool(bad):
            raise ValueError(
                f"sample weights must be finite and non-negative (rows {chunk.start}..{chunk.start + len(w) - 1})."
            )


class ArraySource(Source):
    """Rows of an in-memory X (NumPy, a memmap, or a torch tensor on any device).

    Parameters
    ----------
    X : ndarray or Tensor of shape (n_samples, n_features)
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
        self.X, self.y, self.w = X, y, w
        self.n_features = int(X.shape[1])
        self.dtype = X.dtype if isinstance(X, np.ndarray) else torch.empty(0, dtype=X.dtype).numpy().dtype
        self.y_ndim = 0 if y is None else y.ndim
        self._n_targets = 0 if y is None else (1 if y.ndim == 1 else int(y.shape[1]))
        self._n_rows = int(X.shape[0])
        for name, a in (("y", y), ("sample_weight", w)):
            if a is not None and len(a) != self._n_rows:
                raise ValueError(
                    f"Found input variables with inconsistent numbers of samples: [{self._n_rows}, {len(a)}]"
                    f" ({name})"
                )
        self.validate = validate
        self.io_bound = isinstance(X, np.memmap)

    def _blocks(self) -> Iterator[Chunk]:
        yield Chunk(self.X, self.y, self.w, 0)

    def chunks(self, rows: int) -> Iterator[Chunk]:
        for s in range(0, self._n_rows, rows):
            e = min(s + rows, self._n_rows)
            yield Chunk(self.X[s:e], None if self.y is None else self.y[s:e],
                        None if self.w is None else self.w[s:e], s)

    def targets(self) -> Any:
        return self.y

    def take(self, ids: np.ndarray) -> Chunk:
        idx = torch.as_tensor(ids, device=self.X.device) if isinstance(self.X, Tensor) else np.asarray(ids)
        pick = lambda a: None if a is None else a[idx if isinstance(a, Tensor) else np.asarray(ids)]  # noqa: E731
        return Chunk(self.X[idx], pick(self.y), pick(self.w), -1)

    @property
    def on_device(self) -> torch.device | None:
        return self.X.device if isinstance(self.X, Tensor) else None


def _target_of(M: np.ndarray, target: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    if target is None:
        return M, None
    t = target % M.shape[1]
    if t in (0, M.shape[1] - 1):  # first or last column: the features are a view, not a copy
        return (M[:, 1:] if t == 0 else M[:, :-1]), M[:, t]
    keep = [j for j in range(M.shape[1]) if j != t]
    return M[:, keep], M[:, t]


class NpySource(ArraySource):
    """A ``.npy`` file, memory-mapped: only the chunk being read is in memory.

    Parameters
    ----------
    path : str or os.PathLike
        A 2-D ``.npy`` file of numbers.
    y : str, os.PathLike or ndarray, default=None
        Targets: another ``.npy`` file or an array.
    target : int, default=None
        Alternatively, the column of the file holding the target (it is then not a feature).
    """

    def __init__(self, path: str | os.PathLike, y: Any = None, *, target: int | None = None):
        M = _open_npy(path)
        if target is not None and y is not None:
            raise ValueError("give either y or target, not both")
        self._target = target
        yv = _open_npy(y, ndmin=1) if isinstance(y, (str, os.PathLike)) else y
        self.path = os.fspath(path)
        super().__init__(M, yv, validate=True)
        if target is not None:
            self.n_features -= 1
            self.y_ndim, self._n_targets = 1, 1
        if yv is not None and len(yv) != len(M):
            raise ValueError(f"Found input variables with inconsistent numbers of samples: [{len(M)}, {len(yv)}]")
        self.io_bound = True

    def chunks(self, rows: int) -> Iterator[Chunk]:
        for c in super().chunks(rows):
            yield self._split(c)

    def take(self, ids: np.ndarray) -> Chunk:
        return self._split(super().take(ids))

    def targets(self) -> np.ndarray:
        return np.array(self.X[:, self._target]) if self._target is not None else np.asarray(self.y)

    def _split(self, c: Chunk) -> Chunk:
        if self._target is None:
            return c
        X, y = _target_of(c.X, self._target)  # views of the memory map stay memory-mapped
        return Chunk(X, y, c.w, c.start)


def _open_npy(path: Any, ndmin: int = 2) -> np.ndarray:
    try:
        M = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {os.fspath(path)}") from None
    except ValueError as exc:
        raise ValueError(f"{os.fspath(path)} is not a readable .npy file: {exc}") from None
    if M.dtype.kind not in "biuf":
        raise ValueError(f"{os.fspath(path)} holds {M.dtype} values; gpuml needs numbers")
    if ndmin == 2 and M.ndim != 2:
        raise ValueError(f"{os.fspath(path)} has shape {M.shape}; expected a 2-D array (rows x features)")
    return M


def _float_dtype(dtypes: Iterable[np.dtype]) -> np.dtype:
    """float32 when every column is float32, else float64."""
    dtypes = list(dtypes)
    return np.dtype(np.float32) if dtypes and all(np.dtype(d) == np.float32 for d in dtypes) else np.dtype(np.float64)


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
        widths = {s.n_features for s in self.shards}
        if len(widths) != 1:
            raise ValueError(f"shards in {os.fspath(folder)} have different numbers of columns: {sorted(widths)}")
        self.n_features = widths.pop()
        self.dtype = _float_dtype(s.dtype for s in self.shards) if len({s.dtype for s in self.shards}) > 1 \
            else self.shards[0].dtype
        self.y_ndim = 0 if target is None else 1
        self._n_targets = self.y_ndim
        self.offsets = np.cumsum([0] + [s.n_rows for s in self.shards])
        self._n_rows = int(self.offsets[-1])

    def _blocks(self) -> Iterator[Chunk]:
        for off, s in zip(self.offsets, self.shards):
            for c in s.chunks(1 << 16):
                yield c._replace(start=int(off) + c.start)

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


def _need_pyarrow(what: str):
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ImportError(f"reading {what} needs pyarrow: pip install 'gpuml[io]'") from None


def _numeric_columns(schema, columns: list[str] | None, target: str | None, what: str) -> tuple[list[str], str | None]:
    import pyarrow as pa

    names = list(schema.names)
    if target is not None and target not in names:
        raise ValueError(f"{what} has no column {target!r}; its columns are {names}")
    feats = [c for c in (columns or names) if c != target]
    missing = [c for c in feats if c not in names]
    if missing:
        raise ValueError(f"{what} has no column(s) {missing}; its columns are {names}")
    for c in feats + ([target] if target else []):
        t = schema.field(c).type
        if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
                or pa.types.is_null(t) or (c == target and pa.types.is_string(t))):
            raise ValueError(f"column {c!r} of {what} is not numeric ({t}); select numeric columns with columns=[...]")
    if not feats:
        raise ValueError(f"{what} has no feature columns left")
    return feats, target


def _batch_to_chunk(batch, feats: list[str], target: str | None, dtype: np.dtype, start: int) -> Chunk:
    cols = [batch.column(batch.schema.get_field_index(c)).to_numpy(zero_copy_only=False) for c in feats]
    XT = np.empty((len(feats), batch.num_rows), dtype=dtype)  # one contiguous copy per column ...
    for j, col in enumerate(cols):
        XT[j] = col  # nulls arrive as NaN and are caught by check_chunk
    X = XT.T  # ... and X is its column-major view: torch's kernels take either layout
    y = None
    if target is not None:
        y = batch.column(batch.schema.get_field_index(target)).to_numpy(zero_copy_only=False)
    return Chunk(X, y, None, start)


class ParquetSource(Source):
    """A Parquet file or a folder of them, read row group by row group (pyarrow).

    Parameters
    ----------
    path : str or os.PathLike
        A ``.parquet`` file or a folder of ``*.parquet`` files with the same schema.
    columns : list of str, default=None
        Feature columns (default: every column but the target).
    target : str, default=None
        The target column.
    """

    io_bound = True

    def __init__(self, path: str | os.PathLike, *, columns: list[str] | None = None, target: str | None = None):
        _need_pyarrow("Parquet")
        import pyarrow.parquet as pq

        p = os.fspath(path)
        if os.path.isdir(p):
            self.paths = sorted(glob.glob(os.path.join(p, "*.parquet")))
            if not self.paths:
                raise ValueError(f"no *.parquet files in {p}")
        elif os.path.exists(p):
            self.paths = [p]
        else:
            raise FileNotFoundError(f"no such file: {p}")
        try:
            files = [pq.ParquetFile(f) for f in self.paths]
        except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for corrupt files
            raise ValueError(f"{p} is not a readable Parquet file: {exc}") from None
        schema = files[0].schema_arrow
        self.feats, self.target = _numeric_columns(schema, columns, target, p)
        self.feature_names = self.feats
        self.n_features = len(self.feats)
        self.dtype = _float_dtype(schema.field(c).type.to_pandas_dtype() for c in self.feats)
        self.y_ndim = 0 if target is None else 1
        self._n_targets = self.y_ndim
        self._n_rows = sum(f.metadata.num_rows for f in files)
        self.what = p

    def targets(self) -> np.ndarray:
        import pyarrow.parquet as pq

        return np.concatenate([pq.read_table(p, columns=[self.target], memory_map=True).column(0).to_numpy()
                               for p in self.paths])

    def _blocks(self) -> Iterator[Chunk]:
        import pyarrow.parquet as pq

        start = 0
        cols = self.feats + ([self.target] if self.target else [])
        for path in self.paths:
            try:
                # memory-mapped: the kernel's read-ahead streams the column chunks (measured: a cold read
                # of the bench's 1.2 GB file in 1.05 s, against 1.3-2.9 s through pyarrow's own reads)
                with pq.ParquetFile(path, memory_map=True) as f:
                    for batch in f.iter_batches(batch_size=1 << 16, columns=cols):
                        yield _batch_to_chunk(batch, self.feats, self.target, self.dtype, start)
                        start += batch.num_rows
            except (OSError, ValueError) as exc:
                if isinstance(exc, ValueError) and "NaN" in str(exc):
                    raise
                raise ValueError(f"{path} could not be read: {exc}") from None


class CsvSource(Source):
    """A CSV file, streamed and typed by pyarrow's incremental reader.

    Parameters
    ----------
    path : str or os.PathLike
    columns : list of str, default=None
        Feature columns (default: every column but the target).
    target : str, default=None
    delimiter : str, default=","
    """

    io_bound = True

    def __init__(self, path: str | os.PathLike, *, columns: list[str] | None = None, target: str | None = None,
                 delimiter: str = ","):
        _need_pyarrow("CSV")
        self.path, self.delimiter = os.fspath(path), delimiter
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"no such file: {self.path}")
        reader = self._open(None)
        self.feats, self.target = _numeric_columns(reader.schema, columns, target, self.path)
        self.feature_names = self.feats
        self.n_features = len(self.feats)
        self.dtype = np.dtype(np.float64)
        self.y_ndim = 0 if target is None else 1
        self._n_targets = self.y_ndim

    def _open(self, include: list[str] | None):
        import pyarrow as pa
        import pyarrow.csv as pc

        try:
            return pc.open_csv(
                self.path, read_options=pc.ReadOptions(block_size=8 << 20),
                parse_options=pc.ParseOptions(delimiter=self.delimiter),
                convert_options=pc.ConvertOptions(include_columns=include),
            )
        except (pa.ArrowInvalid, OSError) as exc:
            raise ValueError(f"{self.path} is not a readable CSV file: {exc}") from None

    def targets(self) -> np.ndarray:
        import pyarrow as pa

        try:
            return self._open([self.target]).read_all().column(0).to_numpy()
        except pa.ArrowInvalid as exc:
            raise ValueError(f"{self.path}: {exc}") from None

    def _blocks(self) -> Iterator[Chunk]:
        import pyarrow as pa

        reader = self._open(self.feats + ([self.target] if self.target else []))
        start = 0
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except pa.ArrowInvalid as exc:
                raise ValueError(f"{self.path}, after row {start}: {exc}") from None
            yield _batch_to_chunk(batch, self.feats, self.target, self.dtype, start)
            start += batch.num_rows


class IterableSource(Source):
    """Chunks from Python: an iterable of ``X`` or ``(X, y)`` or ``(X, y, sample_weight)``.

    Parameters
    ----------
    chunks : iterable or callable
        A re-iterable (a list, or a callable returning a fresh iterator) serves any
        number of passes; a one-shot iterator serves one pass only.
    n_features : int, default=None
        Read from the first chunk when not given.
    """

    def __init__(self, chunks: Iterable | Callable[[], Iterator], *, n_features: int | None = None):
        self._factory = chunks if callable(chunks) else None
        self._iterable = None if callable(chunks) else chunks
        self.one_shot = self._iterable is not None and iter(self._iterable) is self._iterable
        self._head: list = []
        if self.one_shot:  # keep the first item we peek at, to serve it later
            self._head = [x for x in [next(self._iterable, None)] if x is not None]
            first = next(self._parse(iter(self._head)), None)
        else:
            first = next(self._raw(), None)
        self._used = False
        if first is None:
            raise ValueError("the iterable source yielded no chunks")
        X0 = first.X
        self.n_features = int(n_features or X0.shape[1])
        self.dtype = X0.dtype if isinstance(X0, np.ndarray) else torch.empty(0, dtype=X0.dtype).numpy().dtype
        if self.dtype.kind != "f":
            self.dtype = np.dtype(np.float64)
        self.y_ndim = 0 if first.y is None else first.y.ndim
        self._n_targets = 0 if first.y is None else (1 if first.y.ndim == 1 else int(first.y.shape[1]))

    def _raw(self) -> Iterator[Chunk]:
        if self._factory is not None:
            return self._parse(iter(self._factory()))
        if not self.one_shot:
            return self._parse(iter(self._iterable))
        if self._used:
            raise ValueError(
                "this source is a one-shot iterator and was already read; pass a list, or a function "
                "returning a fresh iterator, for estimators that make several passes"
            )
        self._used = True
        return self._parse(x for part in (self._head, self._iterable) for x in part)

    @staticmethod
    def _parse(it: Iterator) -> Iterator[Chunk]:
        start = 0
        for item in it:
            X, y, w = (tuple(item) + (None, None))[:3] if isinstance(item, tuple) else (item, None, None)
            X = X if isinstance(X, Tensor) else np.asarray(X)
            if X.ndim != 2:
                raise ValueError(f"chunk at row {start} has shape {tuple(X.shape)}; expected (rows, features)")
            y = None if y is None else (y if isinstance(y, Tensor) else np.asarray(y))
            w = None if w is None else (w if isinstance(w, Tensor) else np.asarray(w, dtype=np.float64))
            yield Chunk(X, y, w, start)
            start += len(X)

    def _blocks(self) -> Iterator[Chunk]:
        for c in self._raw():
            X = c.X
            if X.shape[1] != self.n_features:
                raise ValueError(f"rows from {c.start} have {X.shape[1]} features, expected {self.n_features}")
            if isinstance(X, np.ndarray) and X.dtype != self.dtype:
                X = X.astype(self.dtype)
            yield c._replace(X=X)


def as_source(X: Any, y: Any = None, w: Any = None) -> Source:
    """``X`` as a Source: sources pass through, arrays and tensors become an ArraySource."""
    if isinstance(X, Source):
        return X
    return ArraySource(X, y, w)


def open_source(path: str | os.PathLike, *, target: str | int | None = None,
                columns: list[str] | None = None) -> Source:
    """A source for a file or folder, chosen by its extension.

    ``.npy`` (``target``: a column index), a folder of ``.npy`` shards, ``.parquet`` or a
    folder of Parquet files, ``.csv`` (``target`` and ``columns``: column names).

    Examples
    --------
    >>> open_source("missing.npy")
    Traceback (most recent call last):
    ...
    FileNotFoundError: no such file: missing.npy
    """
    p = os.fspath(path)
    low = p.lower()

    def as_index(t):
        if t is None:
            return None
        try:
            return int(t)
        except (TypeError, ValueError):
            raise ValueError(f"target for .npy data must be a column number, got {t!r}") from None

    if os.path.isdir(p):
        if glob.glob(os.path.join(p, "*.parquet")):
            return ParquetSource(p, columns=columns, target=target)
        if glob.glob(os.path.join(p, "*.npy")):
            return NpyShardsSource(p, target=as_index(target))
        raise ValueError(f"{p}: the folder holds no .npy or .parquet files")
    if low.endswith(".npy"):
        if columns:
            raise ValueError("columns= applies to Parquet and CSV data, not .npy")
        return NpySource(p, target=as_index(target))
    if low.endswith((".parquet", ".pq")):
        return ParquetSource(p, columns=columns, target=target)
    if low.endswith((".csv", ".csv.gz", ".tsv")):
        return CsvSource(p, columns=columns, target=target, delimiter="\t" if low.endswith(".tsv") else ",")
    if not os.path.exists(p):
        raise FileNotFoundError(f"no such file: {p}")
    raise ValueError(f"{p}: unknown data format; use .npy, .parquet, .csv or a folder of .npy or .parquet files")
