"""k nearest neighbors of a query chunk as a reduction over indexed chunks.

The state is the running top-k (scores, global row ids); merge keeps the k best
of two states. The "target" of each indexed row is its global row id.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .distances import exact_distances, pairwise_scores, prepare, row_norms_sq

#: Columns of an index chunk the score block is sized for (see ``query_rows``).
INDEX_ROWS = 16384


def query_rows(budget: int, n_index: int, itemsize: int) -> int:
    """Query rows per chunk so that their score block against ``INDEX_ROWS`` indexed
    rows (or all of them, if fewer) fits ``budget`` bytes.

    Examples
    --------
    >>> query_rows(16 * 2**20, 1_000_000, 4)
    204
    """
    return max(1, budget // (min(n_index, INDEX_ROWS) * (itemsize + itemsize // 4)))


def smallest(scores: Tensor, k: int) -> Tensor:
    """Column ids of the k smallest scores of each row, in no particular order.

    scores (q, r) -> (q, k) int64, k <= r. The columns are cut into groups of g;
    only the k groups with the smallest minima can hold the k smallest scores
    (every other group's minimum is no smaller than k scores already), so the selection
    looks at r/g minima and k*g candidates instead of r scores.

    Examples
    --------
    >>> s = torch.arange(2000.0).flip(0)[None, :]
    >>> sorted(smallest(s, 3)[0].tolist())
    [1997, 1998, 1999]
    """
    q, r = scores.shape
    g = 1 << max(3, min(8, round(math.log2(math.sqrt(r / k)))))  # balances r/g minima against k*g candidates
    if r < 4 * g * k:  # too few groups to prune
        return torch.topk(scores, k, dim=1, largest=False, sorted=False).indices
    m = r // g * g
    groups = scores[:, :m].unflatten(1, (m // g, g))  # (q, m/g, g), a view
    gid = torch.topk(groups.amin(2), k, dim=1, largest=False, sorted=False).indices  # (q, k)
    cand = groups.gather(1, gid[:, :, None].expand(q, k, g)).flatten(1)  # (q, k*g)
    cols = (gid[:, :, None] * g + torch.arange(g, device=scores.device)).flatten(1)
    if m < r:  # the last partial group is always a candidate
        cand = torch.cat([cand, scores[:, m:]], 1)
        cols = torch.cat([cols, torch.arange(m, r, device=scores.device).expand(q, r - m)], 1)
    return cols.gather(1, torch.topk(cand, k, dim=1, largest=False, sorted=False).indices)


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


class KNearest:
    """Reduction: the k nearest indexed rows of the fixed query chunk ``Q``.

    Candidates are ranked by matrix products, then their distances are
    recomputed directly from the rows (no cancellation error), so the state holds
    exact distances and the global row ids (the chunk's row offset plus position).

    Parameters
    ----------
    Q : Tensor of shape (q, d)
        Query rows, ``prepare``-d for the metric.
    k : int
        Neighbors to keep.
    metric : str
        "euclidean", "sqeuclidean" or "cosine".
    """

    uses_row_offset = True  # update receives the chunk's first row id instead of y

    def __init__(self, Q: Tensor, k: int, metric: str):
        self.Q, self.k, self.metric = Q, k, metric

    def init(self, n_features: int, device: torch.device) -> TopK:
        q = self.Q.shape[0]
        return TopK(
            torch.full((q, 0), float("inf"), dtype=self.Q.dtype, device=device),
            torch.zeros((q, 0), dtype=torch.int64, device=device),
        )

    def bytes_per_row(self, n_features: int, itemsize: int) -> int:
        # the (q, rows) score block and its group minima, plus the row itself (twice for cosine)
        return self.Q.shape[0] * (itemsize + itemsize // 4) + 2 * n_features * itemsize

    def update(self, state: TopK, X: Tensor, offset: int, w: Tensor | None) -> TopK:
        X = prepare(X, self.metric)
        norms = None if self.metric == "cosine" else row_norms_sq(X)
        scores = pairwise_scores(self.Q, X, norms, self.metric)  # (q, r)
        i = smallest(scores, min(self.k, X.shape[0]))  # (q, kk)
        dist = exact_distances(self.Q, X[i], self.metric)  # (q, kk)
        return self.merge(state, TopK(dist, i + offset))

    def merge(self, a: TopK, b: TopK) -> TopK:
        return merge_topk(a, b, self.k)
