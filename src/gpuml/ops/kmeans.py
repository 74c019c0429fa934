"""Lloyd's k-means step as a reduction, and nearest-center assignment."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .distances import row_norms_sq


def nearest_center(X: Tensor, centers: Tensor, c_norms: Tensor, distances: bool = True) -> tuple[Tensor, Tensor]:
    """Index of and squared distance to the nearest center.

    X (r, d), centers (k, d), c_norms (k,) -> labels (r,) int64, sq_dist (r,).
    With ``distances=False`` the second result is ``|c|² - 2 x·c``, the squared
    distance less the row's own ``|x|²`` (one pass over X fewer).
    """
    scores = torch.addmm(c_norms[None, :], X, centers.T, alpha=-2)  # (r, k): |c|² - 2 x·c, one kernel
    best, labels = row_argmin_(scores)
    return labels, (best + row_norms_sq(X)).clamp_min(0) if distances else best


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
        self.c_norms = row_norms_sq(centers)
        self.acc_dtype = acc_dtype
        self.inertia = inertia

    def init(self, n_features: int, device: torch.device) -> LloydState:
        k = self.centers.shape[0]
        z = lambda *s: torch.zeros(*s, dtype=self.acc_dtype, device=device)  # noqa: E731
        return LloydState(z(k, n_features), z(k), z(()) if self.inertia else None)

    def bytes_per_row(self, n_features: int, itemsize: int) -> int:
        k = self.centers.shape[0]
        return 2 * k * itemsize + (n_features + 4) * 8 + n_features * itemsize

    def update(self, state: LloydState, X: Tensor, y: Tensor | None, w: Tensor | None) -> LloydState:
        labels, d2 = nearest_center(X, self.centers, self.c_norms, distances=self.inertia)
        if w is None:  # per-chunk sums in X's dtype (a few thousand rows), accumulated in float64
            sums = torch.zeros(state.sums.shape, dtype=X.dtype, device=X.device).index_add_(0, labels, X)
            sums = sums.to(self.acc_dtype)
            weights = torch.bincount(labels, minlength=state.weights.shape[0]).to(self.acc_dtype)
            inertia = d2.to(self.acc_dtype).sum() if self.inertia else None
        else:
            w = w.to(self.acc_dtype)
            sums = torch.zeros_like(state.sums).index_add_(0, labels, X.to(self.acc_dtype) * w[:, None])
            weights = torch.zeros_like(state.weights).index_add_(0, labels, w)
            inertia = (d2.to(self.acc_dtype) * w).sum() if self.inertia else None
        return self.merge(state, LloydState(sums, weights, inertia))

    def merge(self, a: LloydState, b: LloydState) -> LloydState:
        inertia = None if a.inertia is None else a.inertia + b.inertia
        return LloydState(a.sums + b.sums, a.weights + b.weights, inertia)
