"""KMeans initializations over a chunk source: greedy k-means++ and random rows.

They draw from a NumPy ``RandomState`` exactly as scikit-learn does, so for the
same ``random_state`` they usually pick the same rows.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..data import ArraySource, run_map
from ..ops import reference, sq_distances


def _rows(src: ArraySource, ids: np.ndarray, device: torch.device, dtype: torch.dtype) -> Tensor:
    rows = src.X[torch.as_tensor(ids) if isinstance(src.X, Tensor) else ids]
    rows = rows if isinstance(rows, Tensor) else torch.from_numpy(np.asarray(rows))
    return rows.to(device=device, dtype=dtype).reshape(len(ids), -1)


def _sq_dist(src: ArraySource, P: Tensor, device: torch.device) -> Tensor:
    """Squared distances from every row of the source to the points P: (n, m), float64.

    Rows shifted to P's mean before the product (``ops.sq_distances``): exact far from the origin.
    """
    ref = reference(P)  # once, not per chunk
    return run_map(src, lambda X, y, w: sq_distances(X, P, ref).to(torch.float64), device,
                   (2 * src.n_features + 3 * P.shape[0]) * 8)


def kmeans_plusplus(
    src: ArraySource, k: int, w: Tensor, rng: np.random.RandomState, device: torch.device, dtype: torch.dtype
) -> Tensor:
    """Greedy k-means++ (Arthur & Vassilvitskii, with 2 + log k local trials).

    Parameters
    ----------
    src : ArraySource of n rows
    k : int
    w : Tensor of shape (n,), float64 sample weights on ``device``
    rng : numpy RandomState

    Returns
    -------
    centers : Tensor of shape (k, n_features)
    """
    n = src.count_rows()
    trials = 2 + int(np.log(k))
    p = (w / w.sum()).cpu().numpy()
    first = rng.choice(n, p=p / p.sum())
    centers = [_rows(src, np.array([first]), device, dtype)]
    closest = _sq_dist(src, centers[0], device)[:, 0]  # (n,)
    pot = float(closest @ w)
    for _ in range(1, k):
        rand = torch.as_tensor(rng.uniform(size=trials) * pot, dtype=torch.float64, device=device)
        cands = torch.searchsorted(torch.cumsum(w * closest, 0), rand).clamp_max(n - 1).cpu().numpy()
        P = _rows(src, cands, device, dtype)  # (trials, d)
        dist = torch.minimum(closest[:, None], _sq_dist(src, P, device))  # (n, trials)
        pots = w @ dist  # (trials,)
        best = int(torch.argmin(pots))
        pot, closest = float(pots[best]), dist[:, best].contiguous()
        centers.append(P[best : best + 1])
    return torch.cat(centers)


def random_rows(
    src: ArraySource, k: int, w: Tensor, rng: np.random.RandomState, device: torch.device, dtype: torch.dtype
) -> Tensor:
    """k distinct rows drawn with probability proportional to their weight: (k, d)."""
    p = (w / w.sum()).cpu().numpy()
    ids = rng.choice(src.count_rows(), size=k, replace=False, p=p / p.sum())
    return _rows(src, ids, device, dtype)
