"""Weighted count, means and centered cross-products, merged with Chan's formula.

One pass of :class:`Gram` gives everything LinearRegression, Ridge, PCA and
StandardScaler need: ``n``, ``mean(X)``, ``mean(y)``, ``Xcᵀ W Xc`` (or its diagonal)
and ``Xcᵀ W yc``, accumulated in float64 and centered per chunk, so the result does
not depend on how the rows were cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class GramState:
    weight: Tensor  # () total sample weight
    count: int  # rows seen
    mean_x: Tensor  # (d,)
    cxx: Tensor  # (d, d), or (d,) when diagonal
    mean_y: Tensor | None = None  # (t,)
    cxy: Tensor | None = None  # (d, t)


class Gram:
    """Reduction accumulating centered second moments of X (and with y).

    Parameters
    ----------
    dtype : torch.dtype
        Accumulator dtype (float64 except on devices without it).
    diagonal : bool
        Keep only per-feature variances (``cxx`` of shape ``(d,)``).
    n_targets : int
        Columns of y; 0 for no y.
    weighted : bool
        Use the chunks' sample weights (False: every row counts once).

    Examples
    --------
    >>> import torch
    >>> g = Gram(torch.float64, n_targets=0)
    >>> X = torch.arange(6.0, dtype=torch.float64).reshape(3, 2)
    >>> s = g.update(g.init(2, torch.device("cpu")), X, None, None)
    >>> s.mean_x.tolist(), (s.cxx / 2).tolist()
    ([2.0, 3.0], [[4.0, 4.0], [4.0, 4.0]])
    """

    def __init__(self, dtype: torch.dtype, *, diagonal: bool = False, n_targets: int = 0, weighted: bool = True):
        self.dtype, self.weighted = dtype, weighted
        self.diagonal = diagonal
        self.n_targets = n_targets

    def init(self, n_features: int, device: torch.device) -> GramState:
        z = lambda *s: torch.zeros(*s, dtype=self.dtype, device=device)  # noqa: E731
        t = self.n_targets
        return GramState(
            weight=z(()), count=0, mean_x=z(n_features),
            cxx=z(n_features) if self.diagonal else z(n_features, n_features),
            mean_y=z(t) if t else None, cxy=z(n_features, t) if t else None,
        )

    def bytes_per_row(self, n_features: int, itemsize: int) -> int:
        # X in float64, centered X, weighted X, and y likewise
        return (3 * n_features + 3 * self.n_targets + 2) * 8

    def chunk_state(self, X: Tensor, y: Tensor | None, w: Tensor | None) -> GramState:
        """Moments of one chunk, centered on the chunk's own means."""
        Xa = X.to(self.dtype)  # (r, d); a copy unless X is already in the accumulator dtype
        w = w if self.weighted else None
        # shifted by the chunk's first row: a constant column is exactly 0 there, so its mean is
        # exact and its variance exactly 0 (scikit-learn's scaler tests it)
        x0 = Xa[0].clone() if X.shape[0] else torch.zeros(X.shape[1], dtype=self.dtype, device=X.device)
        Xc = Xa - x0 if Xa is X else Xa.sub_(x0)  # never modify the caller's X
        if w is None:
            W = torch.tensor(float(X.shape[0]), dtype=self.dtype, device=X.device)
            shift = Xc.mean(0)  # (d,)
        else:
            w = w.to(self.dtype)
            W = w.sum()
            shift = (w @ Xc) / torch.where(W > 0, W, torch.ones_like(W))
        Xc.sub_(shift)
        mean_x = x0 + shift
        WXc = Xc if w is None else Xc * w[:, None]  # (r, d)
        if self.diagonal:  # a column-norm reduction needs no (r, d) temporary
            cxx = torch.linalg.vector_norm(Xc, dim=0) ** 2 if w is None else (WXc * Xc).sum(0)
        else:
            cxx = WXc.T @ Xc
        mean_y = cxy = None
        if self.n_targets:
            y = y.to(self.dtype).reshape(X.shape[0], -1)  # (r, t)
            mean_y = y.mean(0) if w is None else (w @ y) / torch.where(W > 0, W, torch.ones_like(W))
            cxy = WXc.T @ (y - mean_y)  # (d, t)
        return GramState(W, X.shape[0], mean_x, cxx, mean_y, cxy)

    def update(self, state: GramState, X: Tensor, y: Tensor | None, w: Tensor | None) -> GramState:
        return self.merge(state, self.chunk_state(X, y, w))

    def merge(self, a: GramState, b: GramState) -> GramState:
        W = a.weight + b.weight
        fb = b.weight / torch.where(W > 0, W, torch.ones_like(W))  # no host sync: stays async on GPUs
        dx = b.mean_x - a.mean_x  # (d,)
        scale = a.weight * fb  # wa * wb / W
        cxx = a.cxx + b.cxx + (dx * dx if self.diagonal else torch.outer(dx, dx)) * scale
        mean_y = cxy = None
        if self.n_targets:
            dy = b.mean_y - a.mean_y
            mean_y = a.mean_y + dy * fb
            cxy = a.cxy + b.cxy + torch.outer(dx, dy) * scale
        return GramState(W, a.count + b.count, a.mean_x + dx * fb, cxx, mean_y, cxy)
