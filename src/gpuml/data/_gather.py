"""Whole-source helpers: keep a source on the device, sample rows, read or replace targets."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from ._loader import to_device
from ._pass import _host_chunks
from ._sources import ArraySource, Chunk, Source, _concat


def resident(source: Source, device: torch.device, budget: int) -> Source:
    """``source`` read once into device memory when it fits ``budget``, else itself.

    Multi-pass algorithms (KMeans, L-BFGS, power iterations) then pay the read
    and the host-to-device copy once. In-memory data on the CPU is already there:
    its rows are taken as one view, not copied.
    """
    if getattr(source, "on_device", None) == device:
        return source
    extra = (source.n_targets + 1) * 8
    n = source.count_rows()  # a CSV's or an iterable's rows are counted by one read: a multi-pass fit
    if n * (source.n_features * source.itemsize + extra) > budget:
        return source
    cpu = device.type == "cpu"
    rows = n if cpu and not source.io_bound else max(1, min(n, 1 << 20))
    parts = (to_device(c, device, None, None) for c in _host_chunks(source, rows, device))
    if cpu and not source.io_bound:  # in-memory data: one chunk, a view of memory already there
        p = next(parts)
        out = ArraySource(p.X, p.y, p.w)
    else:  # a file's rows (memory-map views) or an accelerator's copy: written into one allocation
        out = ArraySource(*_fill(parts, n))
    out.feature_names = source.feature_names
    return out


def _fill(parts: Iterator[Chunk], n: int) -> tuple:
    """The chunks' X, y and w, each copied into one array of ``n`` rows allocated at the first
    chunk (joining a list of parts would hold the data twice at its peak); host label arrays
    that are not numbers (strings) are joined."""
    cols: list = [None, None, None]
    s = 0
    for p in parts:
        e = s + len(p.X)
        for j, t in enumerate((p.X, p.y, p.w)):
            if t is None:
                continue
            if not isinstance(t, torch.Tensor):  # e.g. string labels, kept on the host
                cols[j] = (cols[j] or []) + [t]
                continue
            if cols[j] is None:
                cols[j] = t.new_empty((n, *t.shape[1:]))
            cols[j][s:e] = t
        s = e
    return tuple(_concat(c) if isinstance(c, list) else c for c in cols)


def take_rows(source: Source, ids: np.ndarray, device: torch.device) -> Chunk:
    """Rows ``ids`` (sorted, unique) of any source on ``device``: random access when the
    source has it, else one pass picking them out."""
    ids = np.asarray(ids, dtype=np.int64)
    if source.random_access:
        return to_device(source.take(ids), device, None, None)
    picked = []
    for c in _host_chunks(source, 1 << 16, device):
        lo, hi = np.searchsorted(ids, [c.start, c.start + len(c.X)])
        if hi > lo:
            local = ids[lo:hi] - c.start
            picked.append(Chunk(c.X[local], None if c.y is None else c.y[local],
                                None if c.w is None else c.w[local], -1))
    c = Chunk(*(_concat([getattr(p, a) for p in picked]) for a in ("X", "y", "w")), -1)
    return to_device(c, device, None, None)


def read_targets(source: Source) -> np.ndarray:
    """All of the source's targets as one host array (n_rows or n_rows x n_targets)."""
    if source.y_ndim == 0:
        raise ValueError(f"{source!r} has no target; give target=... when creating it")
    y = source.targets()
    return y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)


class WithTargets(Source):
    """Another source's X and weights with new targets (e.g. labels encoded as class codes).

    Parameters
    ----------
    source : Source
    y : ndarray or Tensor of shape (n_rows,) or (n_rows, n_targets)
    """

    def __init__(self, source: Source, y):
        self.inner, self.y = source, y
        self.n_features, self.dtype = source.n_features, source.dtype
        self.y_ndim = y.ndim
        self._n_targets = 1 if y.ndim == 1 else int(y.shape[1])
        self._rows = len(y)  # known from y: no count of a CSV's rows
        self.random_access, self.io_bound, self.validate = source.random_access, source.io_bound, source.validate
        self.feature_names, self.what = source.feature_names, source.what
        self.where, self.column = source.where, source.column

    @property
    def on_device(self):
        return getattr(self.inner, "on_device", None)

    def chunks(self, rows: int) -> Iterator[Chunk]:
        for c in self.inner.chunks(rows):
            yield c._replace(y=self.y[c.start:c.start + len(c.X)])

    def take(self, ids: np.ndarray) -> Chunk:
        c = self.inner.take(ids)
        idx = torch.as_tensor(ids, device=self.y.device) if isinstance(self.y, torch.Tensor) else ids
        return c._replace(y=self.y[idx])
