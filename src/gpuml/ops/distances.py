"""Squared euclidean distances by matrix products, free of cancellation far from the origin.

Expanding ``|x - c|² = |x|² - 2 x·c + |c|²`` costs one matrix product, but in float32
it loses every digit when the rows sit far from the origin: at an offset of 1e4 the
three terms are ~1e8 and their float32 rounding (~10) swamps distances of order 1.
Every distance in gpuml goes through this module, which shifts the rows by a
*reference point* near them (the centers' mean for KMeans, the index mean for kNN) and
scales them by a power of two (exact; keeps values near 1e19 from overflowing):

- ``CenterTerms`` (KMeans assignment, the hot loop) ranks by ``|c'|² - 2 x'·c'`` with
  ``x' = x - ref``, ``c' = c - ref``: the error is ``eps`` times the *spread* of the data,
  not its offset. The shift is one elementwise pass over the chunk (into a reused
  buffer, ~5% of a CPU Lloyd step, nothing beside a GPU's read of the chunk). Shifting
  only the centers (``s = |c'|² + 2 ref·c' - 2 x·c'``, no per-row work) was measured too:
  its error ``eps |x| |c'|`` is the input's own rounding, yet it still flipped 0.1% of
  the labels at an offset of 1e5 in 2 features against the float64 answer on the same
  float32 values, where centering the rows flips none.
- ``sq_distances`` (k-means++, ``KMeans.transform``) and ``shifted`` + ``pairwise_scores``
  (kNN) shift the rows the same way (cheap beside a product against many columns).
- The distances a caller returns (inertia, kNN distances) are recomputed directly from
  the rows, ``paired_sq_distances`` (no expansion at all), kNN's in float64.

scikit-learn centers X once (KMeans, a copy of the data) and upcasts float32 to float64
block by block in ``euclidean_distances``; FAISS ranks with the expansion in float32
and leaves centering to the user. The reference-point shift gives the centered accuracy
without a copy of the data and without float64 products, which many GPUs run at 1/32
or 1/64 of the float32 rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

METRICS = ("euclidean", "sqeuclidean", "cosine")


def row_norms_sq(X: Tensor) -> Tensor:
    """Squared L2 norm of each row: (r, d) -> (r,), without an (r, d) temporary."""
    return torch.linalg.vector_norm(X, dim=1).square()


def prepare(X: Tensor, metric: str) -> Tensor:
    """Rows as the metric compares them: unit rows for cosine (zero rows stay zero).

    The norm is taken in float64 when X is float32 (no overflow for values near 1e19).
    """
    if metric == "cosine":
        norms = torch.linalg.vector_norm(X, dim=1, keepdim=True, dtype=wide_dtype(X))  # (r, 1)
        return (X / torch.where(norms > 0, norms, torch.ones_like(norms))).to(X.dtype)
    return X


def wide_dtype(X: Tensor) -> torch.dtype:
    """float64 for float32 or float64 rows, where the device has it (not MPS); else float32."""
    if X.dtype == torch.float64 or (X.dtype == torch.float32 and X.device.type != "mps"):
        return torch.float64
    return torch.float32


#: Below this largest squared norm, rows are rescaled before the product (float32 squares of
#: values under about 1e-19 would underflow).
_TINY = 1e-30


def reference(P: Tensor) -> Tensor:
    """A reference point near the rows: their mean, summed in float64, in P's dtype. (m, d) -> (d,)."""
    return P.sum(0, dtype=wide_dtype(P)).div_(max(P.shape[0], 1)).to(P.dtype)


def scale_for(radius: float) -> float:
    """The power of two 2**-e nearest above 1 / ``radius``, 1.0 for 0 or a non-finite radius.

    Rows scaled by it (an exact operation) have entries of magnitude <= about 1, so their
    squared norms neither overflow (values near 1e19) nor underflow.
    """
    if not math.isfinite(radius) or radius <= 0:
        return 1.0
    return math.ldexp(1.0, -math.frexp(radius)[1])


def radius(X: Tensor, ref: Tensor) -> float:
    """Largest ``|x_j - ref_j|`` over the rows: (r, d), (d,) -> float, without an (r, d) temporary."""
    if X.numel() == 0:
        return 0.0
    hi = float((X.amax(0).to(wide_dtype(X)) - ref.to(wide_dtype(X))).abs().max())
    lo = float((X.amin(0).to(wide_dtype(X)) - ref.to(wide_dtype(X))).abs().max())
    return max(hi, lo)


def shifted(X: Tensor, ref: Tensor, scale: float) -> Tensor:
    """``(X - ref) * scale``: the rows in the reference frame, one (r, d) temporary."""
    out = X - ref
    return out.mul_(scale) if scale != 1.0 else out


def pairwise_scores(Q: Tensor, X: Tensor, x_norms: Tensor) -> Tensor:
    """``|x|² - 2 q·x``, which ranks the rows of X as ``|q - x|²`` does: (q, d), (n, d), (n,) -> (q, n).

    Q and X must be ``shifted`` into the same frame (cosine: ``prepare``-d, then shifted);
    one kernel, one block.
    """
    return torch.addmm(x_norms[None, :], Q, X.T, alpha=-2)


@dataclass
class CenterTerms:
    """What ranks rows against fixed centers: ``b - 2 (x - ref)·W`` orders the centers as
    ``|x - c|²`` does (it is ``a² (|x - c|² - |x - ref|²)``).

    ``ref`` (d,) is the centers' mean, ``W = a² (c - ref)`` (k, d) and ``b = a² |c - ref|²``
    (k,), formed in float64, with ``a`` the power of two that brings ``c - ref`` near 1
    (values near 1e19 neither overflow nor underflow).
    """

    ref: Tensor
    W: Tensor
    b: Tensor

    @classmethod
    def of(cls, centers: Tensor) -> CenterTerms:
        C = centers.to(wide_dtype(centers))
        ref = C.mean(0)
        Cs = C - ref  # (k, d)
        a2 = scale_for(float(Cs.abs().amax())) ** 2 if Cs.numel() else 1.0
        return cls(ref.to(centers.dtype), (Cs * a2).to(centers.dtype), (Cs.square().sum(1) * a2).to(centers.dtype))

    def shift(self, X: Tensor, out: Tensor | None = None) -> Tensor:
        """``X - ref``: (r, d) -> (r, d), into ``out`` (a reusable (>= r, d) buffer) if given."""
        return torch.sub(X, self.ref, out=out[: X.shape[0]]) if out is not None else X - self.ref

    def scores(self, Xs: Tensor) -> Tensor:
        """Shifted rows (r, d) -> (r, k), one matrix product."""
        return torch.addmm(self.b[None, :], Xs, self.W.T, alpha=-2)


def sq_distances(X: Tensor, P: Tensor, ref: Tensor | None = None) -> Tensor:
    """``|x - p|²`` for every pair of rows, one matrix product on rows shifted by ``ref``.

    X (r, d), P (m, d), ref (d,) (default: P's mean) -> (r, m), X's dtype, >= 0. The error
    is ``eps`` times the rows' squared distance to ``ref``, however far from the origin.
    """
    ref = reference(P) if ref is None else ref
    Xs, Ps = X - ref, P - ref
    xn, pn = row_norms_sq(Xs), row_norms_sq(Ps)
    top = float(torch.maximum(xn.max(), pn.max())) if X.numel() and P.numel() else 0.0
    a = 1.0
    if not _TINY < top < torch.finfo(X.dtype).max / 8:  # squares near over- or underflow: rescale
        a = scale_for(max(radius(X, ref), radius(P, ref)))  # a power of two: exact
        Xs, Ps = Xs.mul_(a), Ps.mul_(a)
        xn, pn = row_norms_sq(Xs), row_norms_sq(Ps)
    d2 = torch.addmm(pn[None, :], Xs, Ps.T, alpha=-2)  # (r, m)
    return d2.add_(xn[:, None]).clamp_min_(0).div_(a * a)


def paired_sq_distances(X: Tensor, P: Tensor) -> Tensor:
    """``|x_i - p_i|²`` of matching rows, computed directly (no expansion): (r, d), (r, d) -> (r,).

    Summed in float64 for float32 rows, so the squares of values near 1e19 do not overflow.
    """
    diff = X - P  # (r, d)
    return torch.linalg.vector_norm(diff, dim=1, dtype=wide_dtype(X)).square()


def exact_distances(Q: Tensor, R: Tensor, metric: str) -> Tensor:
    """Distances from each query to its chosen rows, computed directly in float64.

    Q (q, d) and R (q, k, d), the original (unshifted) rows -> (q, k) float64 (float32 where
    the device lacks float64): exact to float64 rounding, as scikit-learn's float64 result.
    """
    wide = wide_dtype(Q)
    Q, R = prepare(Q.to(wide), metric), prepare(R.reshape(-1, R.shape[-1]).to(wide), metric).reshape(R.shape)
    sq = (R - Q[:, None, :]).square_().sum(-1)  # (q, k)
    if metric == "cosine":  # for unit rows 1 - cos = |q - x|² / 2, free of the cancellation in 1 - q·x
        return sq / 2
    return sq if metric == "sqeuclidean" else sq.sqrt()


@dataclass
class Extent:
    """The rows' count, sum (in ``acc_dtype``) and per-feature minimum and maximum."""

    count: int
    sums: Tensor  # (d,)
    lo: Tensor  # (d,)
    hi: Tensor  # (d,)

    def reference(self, dtype: torch.dtype) -> tuple[Tensor, float]:
        """(the rows' mean in ``dtype``, the largest ``|x_j - mean_j|``): a kNN index's frame."""
        ref = self.sums / max(self.count, 1)
        if not self.count:
            return ref.to(dtype), 0.0
        rad = float(torch.maximum(self.hi - ref, ref - self.lo).max())
        return ref.to(dtype), rad


class ExtentPass:
    """Reduction: ``Extent`` of the rows as ``metric`` compares them (unit rows for cosine).

    Parameters
    ----------
    metric : str
    acc_dtype : torch.dtype
        Dtype of the sums (float64 where the device has it).
    """

    def __init__(self, metric: str, acc_dtype: torch.dtype):
        self.metric, self.acc_dtype = metric, acc_dtype

    def init(self, n_features: int, device: torch.device) -> Extent:
        inf = torch.full((n_features,), float("inf"), dtype=self.acc_dtype, device=device)
        return Extent(0, torch.zeros(n_features, dtype=self.acc_dtype, device=device), inf, -inf)

    def bytes_per_row(self, n_features: int, itemsize: int) -> int:
        return 2 * n_features * itemsize  # the unit rows for cosine, and slack for the reductions

    def update(self, state: Extent, X: Tensor, y: Tensor | None, w: Tensor | None) -> Extent:
        Xp = prepare(X, self.metric)
        part = Extent(X.shape[0], Xp.sum(0, dtype=self.acc_dtype), Xp.amin(0).to(self.acc_dtype),
                      Xp.amax(0).to(self.acc_dtype))
        return self.merge(state, part)

    def merge(self, a: Extent, b: Extent) -> Extent:
        return Extent(a.count + b.count, a.sums + b.sums, torch.minimum(a.lo, b.lo), torch.maximum(a.hi, b.hi))
