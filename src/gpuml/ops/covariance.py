"""Products with the covariance matrix without forming it: one pass gives Xcᵀ W Xc Q."""

from __future__ import annotations

import torch
from torch import Tensor


class CovarianceProduct:
    """Reduction accumulating ``Σ_chunks (X - mean)ᵀ (X - mean) Q``.

    The randomized PCA solver's power iterations use it: memory is O(d·l),
    never O(d²) or O(n·d).

    Parameters
    ----------
    Q : Tensor of shape (d, l)
        The block of directions, in the accumulator dtype.
    mean : Tensor of shape (d,)
        Column means of X, in the accumulator dtype.
    """

    def __init__(self, Q: Tensor, mean: Tensor):
        self.Q, self.mean = Q, mean

    def init(self, n_features: int, device: torch.device) -> Tensor:
        return torch.zeros_like(self.Q)

    def bytes_per_row(self, n_features: int, itemsize: int) -> int:
        return (n_features + self.Q.shape[1]) * 8 * 2

    def update(self, state: Tensor, X: Tensor, y: Tensor | None, w: Tensor | None) -> Tensor:
        Xc = X.to(self.Q.dtype) - self.mean  # (r, d)
        return state + Xc.T @ (Xc @ self.Q)  # (d, l)

    def merge(self, a: Tensor, b: Tensor) -> Tensor:
        return a + b
