"""Plain functions on tensors and the reductions built from them. No NumPy, no files."""

from ._reduction import Reduction
from .covariance import CovarianceProduct
from .distances import (
    METRICS,
    ExtentPass,
    exact_distances,
    pairwise_scores,
    prepare,
    reference,
    row_norms_sq,
    sq_distances,
)
from .gram import Gram, GramState
from .kmeans import Assignment, LloydState, LloydStep, nearest_center
from .knn import KNearest, KNearestLp, TopK, lp_distances, merge_topk, query_rows
from .linalg import flip_signs, solve_normal_equations, top_eigh
from .logistic import AbsColumnMeans, LabelTotals, LogisticLoss, LossGrad, row_weights

__all__ = [
    "AbsColumnMeans",
    "Assignment",
    "CovarianceProduct",
    "ExtentPass",
    "Gram",
    "GramState",
    "KNearest",
    "KNearestLp",
    "LabelTotals",
    "LloydState",
    "LloydStep",
    "LogisticLoss",
    "LossGrad",
    "METRICS",
    "Reduction",
    "TopK",
    "exact_distances",
    "flip_signs",
    "lp_distances",
    "merge_topk",
    "nearest_center",
    "pairwise_scores",
    "prepare",
    "query_rows",
    "reference",
    "row_norms_sq",
    "row_weights",
    "solve_normal_equations",
    "sq_distances",
    "top_eigh",
]
