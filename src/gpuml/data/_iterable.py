"""Chunks from Python: a list, a function returning a fresh iterator, or a one-shot iterator."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
from torch import Tensor

from ._sources import Chunk, Source, check_lengths, converted, float_dtype


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
        self.dtype = float_dtype(X0.dtype)  # every chunk arrives in the first one's float dtype
        self.y_ndim = 0 if first.y is None else first.y.ndim
        self.y_numeric = first.y is None or isinstance(first.y, Tensor) or first.y.dtype.kind in "biuf"
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
            X = X.detach() if isinstance(X, Tensor) else np.asarray(X)
            if X.ndim != 2:
                raise ValueError(f"chunk at row {start} has shape {tuple(X.shape)}; expected (rows, features)")
            y = None if y is None else (y.detach() if isinstance(y, Tensor) else np.asarray(y))
            w = None if w is None else (w.detach() if isinstance(w, Tensor) else np.asarray(w, dtype=np.float64))
            check_lengths(X, y, w, start)
            yield Chunk(X, y, w, start)
            start += len(X)

    def _blocks(self) -> Iterator[Chunk]:
        for c in self._raw():
            if c.X.shape[1] != self.n_features:
                raise ValueError(f"rows from {c.start} have {c.X.shape[1]} features, expected {self.n_features}")
            yield Chunk(converted(c.X, self.dtype), converted(c.y), converted(c.w), c.start)
