"""Pairwise distances between a query chunk and an indexed chunk, by matrix products."""

from __future__ import annotations

import torch
from torch import Tensor

METRICS = ("euclidean", "sqeuclidean", "cosine")


def row_norms_sq(X: Tensor) -> Tensor:
    """Squared L2 norm of each row: (r, d) -> (r,), without an (r, d) temporary."""
    return torch.linalg.vector_norm(X, dim=1).square()


def prepare(X: Tensor, metric: str) -> Tensor:
    """Rows as the metric compares them: unit rows for cosine (zero rows stay zero)."""
    if metric == "cosine":
        norms = torch.linalg.vector_norm(X, dim=1, keepdim=True)  # (r, 1)
        return X / torch.where(norms > 0, norms, torch.ones_like(norms))
    return X


def pairwise_scores(Q: Tensor, X: Tensor, x_norms: Tensor | None, metric: str) -> Tensor:
    """A monotone stand-in for the distance, cheap to rank: (q, d), (n, d) -> (q, n).

    Squared euclidean up to the per-query constant ``|q|²`` for euclidean metrics
    (``|x|² - 2 q·x``), ``-q·x`` on prepared (unit) rows for cosine.
    """
    if metric == "cosine":
        return torch.mm(Q, X.T).neg_()
    return torch.addmm(x_norms[None, :], Q, X.T, alpha=-2)  # (q, n), one kernel, one block


def exact_distances(Q: Tensor, R: Tensor, metric: str) -> Tensor:
    """Distances from each query to its chosen rows, computed directly (no cancellation).

    Q (q, d) and R (q, k, d), both prepared for the metric -> (q, k).
    """
    diff = R - Q[:, None, :]  # (q, k, d)
    sq = (diff * diff).sum(-1)  # (q, k)
    if metric == "cosine":  # for unit rows 1 - cos = |q - x|² / 2, free of the cancellation in 1 - q·x
        return sq / 2
    return sq if metric == "sqeuclidean" else sq.sqrt()
