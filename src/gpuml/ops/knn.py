"""k nearest neighbors of a query chunk as a reduction over indexed chunks.

The state is the running top-k (scores, global row ids); merge keeps the k best
of two states. The "target" of each indexed row is its global row id.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .distances import pairwise_scores, row_norms_sq


@dataclass
class TopK:
    scores: Tensor  # (q, k) ascending-is-better stand-in distances
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
    """Reduction: top-k rows of the index for the fixed query chunk ``Q``.

    Parameters
    ----------
    Q : Tensor of shape (q, d)
        Query rows, already ``prepare``-d for the metric.
    k : int
        Neighbors to keep.
    metric : str
        "euclidean", "sqeuclidean" or "cosine".
    """

    def __init__(self, Q: Tensor, k: int, metric: str):
        self.Q, self.k, self.metric = Q, k, metric

    def init(self, n_features: int, device: torch.device) -> TopK:
        q = self.Q.shape[0]
        return TopK(
            torch.full((q, 0), float("inf"), dtype=self.Q.dtype, device=device),
            torch.zeros((q, 0), dtype=torch.int64, device=device),
        )

    def bytes_per_row(self, n_features: int, itemsize: int) -> int:
        # the (q, rows) score block, its argsort and row ids, plus the row itself
        return self.Q.shape[0] * (2 * itemsize + 16) + n_features * itemsize

    def update(self, state: TopK, X: Tensor, y: Tensor | None, w: Tensor | None) -> TopK:
        norms = None if self.metric == "cosine" else row_norms_sq(X)
        scores = pairwise_scores(self.Q, X, norms, self.metric)  # (q, r)
        kk = min(self.k, X.shape[0])
        s, i = torch.topk(scores, kk, dim=1, largest=False)  # (q, kk)
        return self.merge(state, TopK(s, y[i]))

    def merge(self, a: TopK, b: TopK) -> TopK:
        return merge_topk(a, b, self.k)
