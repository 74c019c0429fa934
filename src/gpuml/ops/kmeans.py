"""Lloyd's k-means step as a reduction, and nearest-center assignment."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .distances import CenterTerms, paired_sq_distances


def nearest_center(
    X: Tensor, centers: Tensor, terms: CenterTerms | None = None, distances: bool = True
) -> tuple[Tensor, Tensor | None]:
    """Index of and squared distance to the nearest center.

    X (r, d), centers (k, d) -> labels (r,) int64, sq_dist (r,) in float64 (float32 on
    devices without it), or None with ``distances=False``. ``terms``: ``CenterTerms.of(centers)``,
    computed once per pass. The centers are
    ranked by one matrix product on rows and centers shifted to the centers' mean
    (``ops.distances.CenterTerms``), the distance to the chosen one is then computed directly
    from the rows, so it carries no cancellation error either.
    """
    terms = CenterTerms.of(centers) if terms is None else terms
    scores = terms.scores(terms.shift(X))  # (r, k): a² (|x - c|² - |x - ref|²)
    _, labels = row_argmin_(scores)
    return labels, paired_sq_distances(X, centers[labels]) if distances else None


def row_argmin_(scores: Tensor) -> tuple[Tensor, Tensor]:
    """Minimum of each row and the first column holding it; overwrites ``scores``.

    scores (r, k) -> (values (r,), indices (r,) int64), as ``scores.min(1)``. On the
    CPU, torch's min-with-index over a short row is scalar code while ``amin`` and
    elementwise ops are vectorized, so the index is found as the smallest key
    ``j + k * sign(s_j - min)``: j where s_j is the minimum, j + k elsewhere (exact
    in floating point for k < 2**23).

    Examples
    --------
    >>> row_argmin_(torch.tensor([[3.0, 1.0, 1.0], [0.0, 2.0, -1.0]]))
    (tensor([ 1., -1.]), tensor([1, 2]))
    """
    r, k = scores.shape
    if scores.device.type != "cpu" or k >= 1 << 23:
        return scores.min(1)
    best = scores.amin(1, keepdim=True)
    key = scores.sub_(best).sign_()
    torch.add(torch.arange(k, dtype=scores.dtype), key, alpha=k, out=key)
    return best.squeeze(1), key.amin(1).long()


#: Rows whose sums are formed in X's dtype before they join the float64 accumulator.
BLOCK = 1024


def block_sums(X: Tensor, labels: Tensor, k: int, start: int, acc_dtype: torch.dtype) -> Tensor:
    """Per-label sums of the rows of X, (r, d), (r,) -> (k, d) in ``acc_dtype``.

    A float32 sum of a whole chunk (millions of rows on a GPU) loses digits as it grows:
    adding 2.0 to 2e7 in float32 is rounding, and the result would depend on the chunk
    size. The rows are summed in X's dtype only within blocks of ``BLOCK`` consecutive rows
    (aligned to the global row id ``start + i``, so that every block that is not cut by a
    chunk boundary is summed the same way whatever the chunking), and the block sums in
    ``acc_dtype``. One ``index_add_`` into (blocks * k, d): the cost of a plain sum.

    Examples
    --------
    >>> X = torch.tensor([[1.0], [2.0], [3.0]])
    >>> block_sums(X, torch.tensor([0, 1, 0]), 2, 0, torch.float64)
    tensor([[4.],
            [2.]], dtype=torch.float64)
    """
    r, d = X.shape
    if X.dtype == acc_dtype or r == 0:
        return torch.zeros((k, d), dtype=acc_dtype, device=X.device).index_add_(0, labels, X.to(acc_dtype))
    blocks = torch.arange(start, start + r, device=X.device).div_(BLOCK, rounding_mode="floor").sub_(start // BLOCK)
    n_blocks = (start + r - 1) // BLOCK - start // BLOCK + 1
    part = torch.zeros((n_blocks * k, d), dtype=X.dtype, device=X.device)
    part.index_add_(0, blocks.mul_(k).add_(labels), X)  # (blocks * k, d)
    return part.view(n_blocks, k, d).sum(0, dtype=acc_dtype)


@dataclass
class LloydState:
    sums: Tensor  # (k, d) weighted sum of the rows assigned to each center
    weights: Tensor  # (k,) their total weight
    inertia: Tensor | None  # () weighted sum of squared distances, if asked for


class LloydStep:
    """One Lloyd iteration: assign rows to ``centers``, accumulate new sums.

    Parameters
    ----------
    centers : Tensor of shape (k, d)
        Current centers, in the data's dtype.
    acc_dtype : torch.dtype
        Accumulator dtype (float64 where the device has it).
    inertia : bool, default=True
        Also sum the squared distances (one more read of each chunk).
    """

    def __init__(self, centers: Tensor, acc_dtype: torch.dtype, inertia: bool = True):
        self.centers = centers
        self.terms = CenterTerms.of(centers)
        self._buffer: Tensor | None = None  # the shifted rows, reused from chunk to chunk
        self.acc_dtype = acc_dtype
        self.inertia = inertia

    uses_row_offset = True  # update gets the chunk's first row id in place of y (unused): blocks align to it

    def init(self, n_features: int, device: torch.device) -> LloydState:
        k = self.centers.shape[0]
        z = lambda *s: torch.zeros(*s, dtype=self.acc_dtype, device=device)  # noqa: E731
        return LloydState(z(k, n_features), z(k), z(()) if self.inertia else None)

    def bytes_per_row(self, n_features: int, itemsize: int) -> int:
        k, d = self.centers.shape
        # scores and their argmin keys (r, k); labels, block ids, sum index; the shifted rows;
        # the block sums;
        # weighted rows in float64 (X.to(acc) and times w); the inertia's gathered centers,
        # differences and their float64 norm
        return 2 * k * itemsize + 4 * 8 + 2 * d * itemsize + 2 * d * 8 + (3 * d * 8 if self.inertia else 0)

    def update(self, state: LloydState, X: Tensor, start: int, w: Tensor | None) -> LloydState:
        k = self.centers.shape[0]
        if self._buffer is None or self._buffer.shape[0] < X.shape[0] or self._buffer.dtype != X.dtype:
            self._buffer = torch.empty_like(X)
        Xs = self.terms.shift(X, self._buffer)  # (r, d): x - ref, small beside an offset
        _, labels = row_argmin_(self.terms.scores(Xs))
        d2 = paired_sq_distances(X, self.centers[labels]) if self.inertia else None
        ref = self.terms.ref.to(self.acc_dtype)
        # the sums of the shifted rows (of the data's spread, not its offset) plus weight x ref
        if w is None:
            weights = torch.bincount(labels, minlength=k).to(self.acc_dtype)
            sums = block_sums(Xs, labels, k, start, self.acc_dtype)
            inertia = d2.to(self.acc_dtype).sum() if self.inertia else None
        else:
            w = w.to(self.acc_dtype)
            weights = torch.zeros_like(state.weights).index_add_(0, labels, w)
            sums = torch.zeros_like(state.sums).index_add_(0, labels, Xs.to(self.acc_dtype) * w[:, None])
            inertia = (d2.to(self.acc_dtype) * w).sum() if self.inertia else None
        return self.merge(state, LloydState(sums.add_(weights[:, None] * ref), weights, inertia))

    def merge(self, a: LloydState, b: LloydState) -> LloydState:
        inertia = None if a.inertia is None else a.inertia + b.inertia
        return LloydState(a.sums + b.sums, a.weights + b.weights, inertia)


class Assignment:
    """Reduction: each row's nearest center, written at its row id into ``labels``; the
    (weighted) inertia as the state.

    The outputs are allocated once, before the pass (a list of per-chunk outputs joined at
    the end holds them twice, and, interleaved with the chunks' temporaries, keeps the
    host allocator from reusing their memory).

    Parameters
    ----------
    centers : Tensor of shape (k, d)
    acc_dtype : torch.dtype
    labels : Tensor of shape (n,), int32, list or None
        Receives the labels (on the host or on the device); a list (when the row count
        is not known before the pass) receives each chunk's labels, on the host.
    sq_dist : Tensor of shape (n,), or None
        Receives each row's squared distance to its center.
    distances : bool, default=True
        Compute the distances (the inertia, ``sq_dist``); False: labels alone, inertia 0.
    """

    uses_row_offset = True

    def __init__(self, centers: Tensor, acc_dtype: torch.dtype, labels: Tensor | None = None,
                 sq_dist: Tensor | None = None, distances: bool = True):
        self.centers, self.acc_dtype, self.labels, self.sq_dist = centers, acc_dtype, labels, sq_dist
        self.distances = distances or sq_dist is not None
        self.terms = CenterTerms.of(centers)

    def init(self, n_features: int, device: torch.device) -> Tensor:
        return torch.zeros((), dtype=self.acc_dtype, device=device)

    def bytes_per_row(self, n_features: int, itemsize: int) -> int:
        k = self.centers.shape[0]
        # shifted rows; scores and argmin keys (r, k); labels; the chosen centers, their
        # differences and their float64 norms
        dist = n_features * (2 * itemsize + 8) + 8 if self.distances else 0
        return n_features * itemsize + 2 * k * itemsize + 2 * 8 + dist

    def update(self, state: Tensor, X: Tensor, start: int, w: Tensor | None) -> Tensor:
        labels, d2 = nearest_center(X, self.centers, self.terms, distances=self.distances)
        if isinstance(self.labels, list):
            self.labels.append(labels.to(device="cpu", dtype=torch.int32))
        elif self.labels is not None:
            self.labels[start:start + X.shape[0]].copy_(labels)
        if d2 is None:
            return state
        if self.sq_dist is not None:
            self.sq_dist[start:start + X.shape[0]].copy_(d2)
        d2 = d2.to(self.acc_dtype)
        return state + (d2 if w is None else d2 * w.to(self.acc_dtype)).sum()

    def merge(self, a: Tensor, b: Tensor) -> Tensor:
        return a + b
