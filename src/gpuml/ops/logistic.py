"""Weighted logistic loss and its gradient as a reduction (binary and multinomial)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class LossGrad:
    loss: Tensor  # () sum of s_i * loss_i
    grad_W: Tensor  # (K, d)
    grad_b: Tensor  # (K,)


def row_weights(y: Tensor, w: Tensor | None, class_weight: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    """Sample weight times class weight of each row (None when both are absent)."""
    if class_weight is not None:
        cw = class_weight[y.long()]
        return cw if w is None else cw * w.to(dtype)
    return None if w is None else w.to(dtype)


class LabelTotals:
    """Reduction: total sample weight of the rows of each label (their count when unweighted).

    Parameters
    ----------
    n_labels : int
    dtype : torch.dtype
        Of the totals.
    """

    def __init__(self, n_labels: int, dtype: torch.dtype):
        self.n_labels, self.dtype = n_labels, dtype

    def init(self, n_features: int, device: torch.device) -> Tensor:
        return torch.zeros(self.n_labels, dtype=self.dtype, device=device)

    def bytes_per_row(self, n_features: int, itemsize: int) -> int:
        return 32

    def update(self, state: Tensor, X: Tensor | None, y: Tensor, w: Tensor | None) -> Tensor:
        w = torch.ones(len(y), dtype=self.dtype, device=y.device) if w is None else w.to(self.dtype)
        return self.merge(state, torch.zeros_like(state).index_add_(0, y.long(), w))  # (n_labels,)

    def merge(self, a: Tensor, b: Tensor) -> Tensor:
        return a + b


class LogisticLoss:
    """Sum over rows of the weighted logistic loss and its gradient at (W, b).

    ``K == 1`` is the binary model (``y`` in {0, 1}, the half-binomial loss);
    ``K > 1`` the multinomial one (``y`` the class index, the cross-entropy).
    The product ``X @ Wᵀ`` runs in X's dtype; losses and sums in ``W``'s (float64).

    Parameters
    ----------
    W : Tensor of shape (K, d)
    b : Tensor of shape (K,)
    class_weight : Tensor of shape (n_classes,), default=None
        Multiplies each row's weight by its class's weight.

    Examples
    --------
    >>> import torch
    >>> W, b = torch.zeros(1, 2, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    >>> f = LogisticLoss(W, b)
    >>> X, y = torch.ones(4, 2, dtype=torch.float64), torch.tensor([0, 1, 1, 0])
    >>> round(float(f.update(f.init(2, X.device), X, y, None).loss), 4)  # 4 * log(2)
    2.7726
    """

    def __init__(self, W: Tensor, b: Tensor, class_weight: Tensor | None = None):
        self.W, self.b, self.class_weight = W, b, class_weight

    def init(self, n_features: int, device: torch.device) -> LossGrad:
        return LossGrad(torch.zeros((), dtype=self.W.dtype, device=device), torch.zeros_like(self.W),
                        torch.zeros_like(self.b))

    def bytes_per_row(self, n_features: int, itemsize: int) -> int:
        return (n_features + 6 * self.W.shape[0] + 4) * 8

    def update(self, state: LossGrad, X: Tensor, y: Tensor, w: Tensor | None) -> LossGrad:
        acc = self.W.dtype
        Z = (X @ self.W.to(X.dtype).T).to(acc) + self.b  # (r, K)
        if self.W.shape[0] == 1:
            z, t = Z[:, 0], y.to(acc)
            loss = F.softplus(z) - t * z  # (r,)
            G = (torch.sigmoid(z) - t)[:, None]  # (r, 1)
        else:
            logp = torch.log_softmax(Z, 1)  # (r, K)
            loss = -logp.gather(1, y[:, None].long())[:, 0]
            G = logp.exp()
            G[torch.arange(G.shape[0], device=G.device), y.long()] -= 1  # softmax - onehot
        w = row_weights(y, w, self.class_weight, acc)
        if w is not None:
            loss, G = loss * w, G * w[:, None]
        gW = (G.to(X.dtype).T @ X).to(acc)  # (K, d)
        return self.merge(state, LossGrad(loss.sum(), gW, G.sum(0)))

    def merge(self, a: LossGrad, b: LossGrad) -> LossGrad:
        return LossGrad(a.loss + b.loss, a.grad_W + b.grad_W, a.grad_b + b.grad_b)


class AbsColumnMeans:
    """Reduction: the mean absolute value of each column (state: their sums and the row count).

    The float32 rounding of a gradient entry ``Σ_i g_i x_ij`` is about ``eps * mean_i |x_ij|``
    (the mean over the rows, ``|g_i| <= 1``): this tells whether float32 products can meet a
    gradient tolerance.

    Examples
    --------
    >>> import torch
    >>> r = AbsColumnMeans(torch.float64)
    >>> s = r.update(r.init(2, torch.device("cpu")), torch.tensor([[1.0, -4.0], [-3.0, 0.0]]), None, None)
    >>> (s[:-1] / s[-1]).tolist()
    [2.0, 2.0]
    """

    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype

    def init(self, n_features: int, device: torch.device) -> Tensor:
        return torch.zeros(n_features + 1, dtype=self.dtype, device=device)  # (d + 1,)

    def bytes_per_row(self, n_features: int, itemsize: int) -> int:
        return n_features * itemsize + 16

    def update(self, state: Tensor, X: Tensor, y: Tensor | None, w: Tensor | None) -> Tensor:
        sums = X.abs().sum(0).to(self.dtype)  # (d,) in X's dtype (a scale: its rounding does not matter), fast
        return self.merge(state, torch.cat([sums, sums.new_full((1,), len(X))]))

    def merge(self, a: Tensor, b: Tensor) -> Tensor:
        return a + b
