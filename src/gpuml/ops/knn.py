"""k nearest neighbors of a query chunk as a reduction over indexed chunks.

The state is the running top-k (scores, global row ids); merge keeps the k best
of two states. The "target" of each indexed row is its global row id.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .distances import exact_distances, pairwise_scores, prepare, radius, row_norms_sq, scale_for, shifted, wide_dtype

#: Columns of an index chunk the score block is sized for (see ``query_rows``).
INDEX_ROWS = 16384


def query_rows(budget: int, n_index: int, itemsize: int) -> int:
    """Query rows per chunk so that their score block against ``INDEX_ROWS`` indexed
    rows (or all of them, if fewer) fits ``budget`` bytes.

    Examples
    --------
    >>> query_rows(16 * 2**20, 1_000_000, 4)
    170
    """
    return max(1, budget // (min(n_index, INDEX_ROWS) * (itemsize + itemsize // 4 + 1)))


def smallest(scores: Tensor, k: int) -> Tensor:
    """Column ids of the k smallest scores of each row, ties to the smaller column.

    scores (q, r) -> (q, k) int64 in ascending column order, k <= r. The columns are
    cut into groups of g. Ordered by (minimum, position), only the first k groups
    can hold the k smallest scores (each group after them has a minimum behind k
    chosen scores), so the selection looks at r/g minima and k*g candidates
    instead of r scores.

    Examples
    --------
    >>> s = torch.arange(2000.0).flip(0)[None, :]
    >>> smallest(s, 3).tolist()
    [[1997, 1998, 1999]]
    >>> smallest(torch.tensor([[2.0, 1.0, 2.0, 1.0, 1.0]]), 2).tolist()
    [[1, 3]]
    """
    q, r = scores.shape
    g = 1 << max(3, min(8, round(math.log2(math.sqrt(r / k)))))  # balances r/g minima against k*g candidates
    if r < 4 * g * k:  # too few groups to prune
        return first_k(scores, k)
    m = r // g * g
    groups = scores[:, :m].unflatten(1, (m // g, g))  # (q, m/g, g), a view
    gid = first_k(groups.amin(2), k)  # (q, k), ascending
    cand = groups.gather(1, gid[:, :, None].expand(q, k, g)).flatten(1)  # (q, k*g), in column order
    cols = (gid[:, :, None] * g + torch.arange(g, device=scores.device)).flatten(1)
    if m < r:  # the last partial group is always a candidate
        cand = torch.cat([cand, scores[:, m:]], 1)
        cols = torch.cat([cols, torch.arange(m, r, device=scores.device).expand(q, r - m)], 1)
    return cols.gather(1, first_k(cand, k))


def first_k(v: Tensor, k: int) -> Tensor:
    """Positions of the k smallest values of each row, ties to the smaller position.

    v (q, n) -> (q, k) int64, ascending positions. ``torch.topk`` finds the k-th
    smallest value t; every value below t is kept, and of those equal to t the
    first ones, as many as are still missing.

    Examples
    --------
    >>> first_k(torch.tensor([[3.0, 1.0, 2.0, 1.0, 2.0]]), 3).tolist()
    [[1, 2, 3]]
    """
    n = v.shape[1]
    top = torch.topk(v, k, dim=1, largest=False, sorted=False)
    t = top.values.amax(1, keepdim=True)  # (q, 1) the k-th smallest value
    if bool(((v <= t).sum(1) == k).all()):  # no tie at t (the usual case): topk's choice is the only one
        return top.indices.sort(1).values
    below, tie = v < t, v == t
    keep = below | (tie & (tie.cumsum(1, dtype=torch.int32) <= k - below.sum(1, keepdim=True)))  # k per row
    pos = torch.arange(n, dtype=torch.int32, device=v.device)
    return torch.topk(torch.where(keep, pos, n), k, dim=1, largest=False).values.long()  # kept, ascending


@dataclass
class TopK:
    scores: Tensor  # (q, k) distances, ascending
    index: Tensor  # (q, k) int64 global row ids


def merge_topk(a: TopK, b: TopK, k: int) -> TopK:
    """The k smallest scores of two candidate sets, ties broken by smaller row id."""
    scores = torch.cat([a.scores, b.scores], 1)  # (q, ka + kb)
    index = torch.cat([a.index, b.index], 1)
    # sort by row id first so the stable score sort breaks ties by row id
    order = torch.argsort(index, dim=1)
    scores, index = scores.gather(1, order), index.gather(1, order)
    best = torch.argsort(scores, dim=1, stable=True)[:, :k]
    return TopK(scores.gather(1, best), index.gather(1, best))


class _TopKPass:
    """What the k-nearest reductions share: an empty top-k state per query of ``self.Q``,
    and the merge of two states (the k smallest of both)."""

    uses_row_offset = True  # update receives the chunk's first row id instead of y

    def init(self, n_features: int, device: torch.device) -> TopK:
        q = self.Q.shape[0]
        return TopK(
            torch.full((q, 0), float("inf"), dtype=wide_dtype(self.Q), device=device),
            torch.zeros((q, 0), dtype=torch.int64, device=device),
        )

    def merge(self, a: TopK, b: TopK) -> TopK:
        return merge_topk(a, b, self.k)


class KNearest(_TopKPass):
    """Reduction: the k nearest indexed rows of the fixed query chunk ``Q``.

    Candidates are ranked by one matrix product on rows shifted to the reference point
    ``ref`` (the index mean, see ``ops.distances``) and scaled by a power of two, so the
    ranking holds far from the origin and near float32's overflow; the candidates'
    distances are then recomputed directly from the original rows in float64, so the
    state holds scikit-learn's float64 distances and the global row ids (the chunk's row
    offset plus position).

    Parameters
    ----------
    Q : Tensor of shape (q, d)
        Query rows, as given.
    k : int
        Neighbors to keep.
    metric : str
        "euclidean", "sqeuclidean" or "cosine".
    ref : Tensor of shape (d,)
        Reference point: the mean of the indexed rows as the metric compares them
        (unit rows for cosine).
    index_radius : float, default=0.0
        Largest ``|x_j - ref_j|`` over the indexed rows; with the queries' own it sets the scale.
    """

    uses_row_offset = True  # update receives the chunk's first row id instead of y

    def __init__(self, Q: Tensor, k: int, metric: str, ref: Tensor, index_radius: float = 0.0):
        self.Q, self.k, self.metric, self.ref = Q, k, metric, ref
        Qp = prepare(Q, metric)
        self.scale = scale_for(max(index_radius, radius(Qp, ref)))
        self.Qs = shifted(Qp, ref, self.scale)  # (q, d)


    def bytes_per_row(self, n_features: int, itemsize: int) -> int:
        # the (q, rows) score block, its group minima and a mask, plus the shifted row (and the
        # unit row for cosine)
        return self.Q.shape[0] * (itemsize + itemsize // 4 + 1) + n_features * (3 * itemsize + 8)

    def update(self, state: TopK, X: Tensor, offset: int, w: Tensor | None) -> TopK:
        Xs = shifted(prepare(X, self.metric), self.ref, self.scale)  # (r, d)
        scores = pairwise_scores(self.Qs, Xs, row_norms_sq(Xs))  # (q, r)
        del Xs
        i = smallest(scores, min(self.k, X.shape[0]))  # (q, kk)
        dist = exact_distances(self.Q, X[i], self.metric)  # (q, kk), float64
        return self.merge(state, TopK(dist, i + offset))



def lp_distances(Q: Tensor, R: Tensor, p: float) -> Tensor:
    """Minkowski distances from each query to its chosen rows, computed directly in float64.

    Q (q, d), R (q, k, d) -> (q, k): ``(sum |q - r|^p)^(1/p)``, ``sum |q - r|`` for p=1,
    ``max |q - r|`` for p=inf (float32 where the device lacks float64).
    """
    wide = wide_dtype(Q)
    diff = (R.to(wide) - Q.to(wide)[:, None, :]).abs_()  # (q, k, d)
    if p == 1:
        return diff.sum(-1)
    if math.isinf(p):
        return diff.amax(-1) if diff.shape[-1] else diff.sum(-1)
    return diff.pow_(p).sum(-1).pow_(1.0 / p)


class KNearestLp(_TopKPass):
    """Reduction: the k nearest indexed rows of ``Q`` under a Minkowski distance (any p > 0,
    p=1 manhattan, p=inf chebyshev).

    There is no expansion to lose digits: candidates are ranked by ``torch.cdist`` on the
    rows as given, multiplied by ``scale`` (a power of two, exact) so that ``|x|^p`` neither
    overflows nor underflows; the candidates' distances are then recomputed directly in
    float64 (``lp_distances``), so the state holds scikit-learn's float64 distances.

    Parameters
    ----------
    Q : Tensor of shape (q, d)
    k : int
    p : float
    scale : float
        A power of two that brings the largest ``|x_j|`` of the index and the queries near 1.
    """

    uses_row_offset = True

    def __init__(self, Q: Tensor, k: int, p: float, scale: float = 1.0):
        self.Q, self.k, self.p, self.scale = Q, k, float(p), scale
        self.Qs = Q * scale if scale != 1.0 else Q


    def bytes_per_row(self, n_features: int, itemsize: int) -> int:
        return self.Q.shape[0] * (itemsize + itemsize // 4 + 1) + n_features * (2 * itemsize + 8)

    def update(self, state: TopK, X: Tensor, offset: int, w: Tensor | None) -> TopK:
        Xs = X * self.scale if self.scale != 1.0 else X
        scores = torch.cdist(self.Qs, Xs, p=self.p)  # (q, r), computed directly (p != 2: no matmul)
        del Xs
        i = smallest(scores, min(self.k, X.shape[0]))
        dist = lp_distances(self.Q, X[i], self.p)
        return self.merge(state, TopK(dist, i + offset))

