"""k nearest neighbors of a query chunk as a reduction over indexed chunks.

The state is the running top-k (scores, global row ids); merge keeps the k best
of two states. The "target" of each indexed row is its global row id.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .distances import exact_distances, pairwise_scores, prepare, row_norms_sq


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
        # the (q, rows) score block and its top-k work, plus the row itself (twice for cosine)
        return self.Q.shape[0] * (2 * itemsize + 8) + 2 * n_features * itemsize

    def update(self, state: TopK, X: Tensor, offset: int, w: Tensor | None) -> TopK:
        X = prepare(X, self.metric)
        norms = None if self.metric == "cosine" else row_norms_sq(X)
        scores = pairwise_scores(self.Q, X, norms, self.metric)  # (q, r)
        kk = min(self.k, X.shape[0])
        _, i = torch.topk(scores, kk, dim=1, largest=False)  # (q, kk)
        dist = exact_distances(self.Q, X[i], self.metric)  # (q, kk)
        return self.merge(state, TopK(dist, i + offset))

    def merge(self, a: TopK, b: TopK) -> TopK:
        return merge_topk(a, b, self.k)
