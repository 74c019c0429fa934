"""Small dense solves on the device: regularized normal equations, eigenpairs."""

from __future__ import annotations

import torch
from torch import Tensor


def solve_normal_equations(G: Tensor, B: Tensor, alpha: Tensor) -> Tensor:
    """Solve ``(G + alpha_j I) x_j = B[:, j]`` for every column j, minimum-norm if singular.

    Parameters
    ----------
    G : Tensor of shape (d, d)
        Symmetric positive semi-definite (a centered Gram matrix).
    B : Tensor of shape (d, t)
    alpha : Tensor of shape (t,)
        Non-negative ridge penalty per column.

    Returns
    -------
    X : Tensor of shape (d, t)

    Examples
    --------
    >>> import torch
    >>> G = torch.tensor([[2.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    >>> solve_normal_equations(G, torch.tensor([[4.0], [0.0]], dtype=torch.float64),
    ...                        torch.zeros(1, dtype=torch.float64)).ravel().tolist()
    [2.0, 0.0]
    """
    lam, V = torch.linalg.eigh(G)  # (d,), (d, d)
    lam = lam.clamp_min(0)
    denom = lam[:, None] + alpha[None, :]  # (d, t)
    # eigenvalues at rounding level are zeros: drop them (pseudo-inverse)
    cutoff = G.shape[0] * torch.finfo(G.dtype).eps * denom.amax(0, keepdim=True)
    inv = torch.where(denom > cutoff, 1.0 / denom, torch.zeros_like(denom))
    return V @ ((V.T @ B) * inv)


def top_eigh(C: Tensor) -> tuple[Tensor, Tensor]:
    """Eigenpairs of a symmetric matrix, largest first, eigenvectors as rows.

    C (d, d) -> values (d,), vectors (d, d) with ``vectors[i]`` the i-th direction,
    signed so that its largest-magnitude entry is positive (scikit-learn's
    ``svd_flip(u_based_decision=False)``).
    """
    lam, V = torch.linalg.eigh(C)
    lam, V = lam.flip(0), V.flip(1).T  # descending; rows are eigenvectors
    return lam, flip_signs(V)


def flip_signs(V: Tensor) -> Tensor:
    """Make the largest-magnitude entry of each row positive: (m, d) -> (m, d)."""
    pick = V.abs().argmax(1, keepdim=True)  # (m, 1)
    signs = torch.sign(V.gather(1, pick))
    signs[signs == 0] = 1
    return V * signs
