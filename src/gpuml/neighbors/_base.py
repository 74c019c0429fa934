"""Exact brute-force neighbors: for each query chunk, a pass over the indexed chunks."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch import Tensor

from ..base import GpumlEstimator, delegable
from ..data import Source, as_source, resident, run_map, run_pass
from ..device import accumulator_dtype, memory_budget, resident_budget
from ..ops import ExtentPass, KNearest, query_rows

#: Query rows handled together; bounds the (q, rows) score block with the planner.
MAX_QUERY_CHUNK = 4096


class NeighborsMixin(GpumlEstimator):
    """Shared fit / kneighbors / kneighbors_graph of the neighbors estimators."""

    _parameter_constraints = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left"), None],
        "algorithm": [StrOptions({"auto", "brute", "ball_tree", "kd_tree"})],
        "leaf_size": [Interval(Integral, 1, None, closed="left")],
        "p": [Interval(Real, 0, None, closed="right"), None],
        "metric": [StrOptions({"minkowski", "euclidean", "l2", "sqeuclidean", "cosine"})],
        "metric_params": [dict, None],
        "n_jobs": [Integral, None],
        "device": [None, str, torch.device],
    }

    _delegates_to_sklearn = True

    def _work(self, n: int, d: int) -> tuple[float, float]:
        return 2.0 * n * n * d, 1.0  # the queries are not known at fit: as many as the indexed rows

    def _effective_metric(self) -> str:
        if self.metric_params:
            raise ValueError("metric_params is not supported by gpuml's neighbors estimators.")
        if self.metric == "minkowski":
            if self.p != 2:
                raise ValueError(
                    f"gpuml supports metric='minkowski' only with p=2 (euclidean), got p={self.p}; "
                    "use scikit-learn for other p."
                )
            return "euclidean"
        return "euclidean" if self.metric == "l2" else self.metric

    def _fit_index(self, X) -> None:
        """Keep the indexed rows in memory, as scikit-learn does: NumPy, or a tensor left
        where it is. A source (a file, a memmap) is read into host memory now, so that the
        fitted model never depends on the file staying where and as it was."""
        self.effective_metric_ = self._effective_metric()
        self.effective_metric_params_ = {}
        if isinstance(X, Source):
            X = read_rows(X)[0]
        self._fit_X = X
        self.n_samples_fit_ = int(X.shape[0])
        self._reset_cache()

    def _index_source(self, device: torch.device, dtype: torch.dtype) -> tuple[Source, torch.Tensor, float]:
        """The indexed rows as a source, kept on the device when they fit half the budget,
        with their reference point and radius (``ops.distances``: the frame distances are
        ranked in)."""
        cache = self.__dict__.setdefault("_dev_cache", {})
        key = ("index", str(device), dtype)
        if key not in cache:
            index = resident(as_source(self._fit_X), device, resident_budget(device) // 2)
            extent = run_pass(index, ExtentPass(self.effective_metric_, accumulator_dtype(device)), device, dtype=dtype)
            cache[key] = (index, *extent.reference(dtype))
        return cache[key]

    def _query(self, X, k: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """(distances, indices), each (n_queries, k), ascending, ties by smaller index."""
        dtype = self._dtype(X, device)
        index, ref, rad = self._index_source(device, dtype)
        metric = self.effective_metric_

        def neighbors(Q, y, w):
            top = run_pass(index, KNearest(Q, k, metric, ref, rad), device, dtype=dtype)
            return top.scores.to(dtype), top.index  # distances in float64, returned in X's dtype

        # a query row holds itself, its top-k state and its k gathered candidates; counted 4x so
        # the query chunk takes at most 1/8 of the budget, leaving the rest to the inner pass, whose
        # index chunks should be long enough for the top-k selection to prune (ops.knn.query_rows)
        d = index.n_features
        per_query = 4 * (d + 4 * k + k * d) * 8
        itemsize = torch.empty((), dtype=dtype).element_size()
        rows = min(MAX_QUERY_CHUNK, query_rows(memory_budget(device) // 2, index.rows_known or 1 << 62, itemsize))
        return run_map(self._source(X, device), neighbors, device, per_query, max_rows=rows)

    @delegable
    def kneighbors(self, X=None, n_neighbors=None, return_distance=True):
        """Find the K nearest neighbors of each query row.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_queries, n_features), default=None
            Query rows; None means the indexed rows, each excluded from its own neighbors.
        n_neighbors : int, default=None
            Defaults to the constructor's ``n_neighbors``.
        return_distance : bool, default=True

        Returns
        -------
        neigh_dist : ndarray or Tensor of shape (n_queries, n_neighbors)
            Only when ``return_distance=True``.
        neigh_ind : ndarray or Tensor of shape (n_queries, n_neighbors)
        """
        check_is_fitted(self)
        k = self.n_neighbors if n_neighbors is None else n_neighbors
        if not isinstance(k, (Integral, np.integer)) or isinstance(k, bool) or k <= 0:
            raise ValueError(f"Expected n_neighbors > 0. Got {k!r}")
        k = int(k)
        query_is_train = X is None
        if query_is_train:
            X = self._fit_X
            if k >= self.n_samples_fit_:
                raise ValueError(
                    f"Expected n_neighbors < n_samples_fit, but n_neighbors = {k}, "
                    f"n_samples_fit = {self.n_samples_fit_}, n_samples = {X.shape[0]}"
                )
            k += 1
        else:
            X, _ = self._validate(X, reset=False)
            if k > self.n_samples_fit_:
                raise ValueError(
                    f"Expected n_neighbors <= n_samples_fit, but n_samples_fit = {self.n_samples_fit_}, "
                    f"n_neighbors = {k}"
                )
        device = self._device()
        dist, ind = self._query(X, k, device)
        if query_is_train:
            dist, ind = _drop_self(dist, ind)
        if return_distance:
            return self._output(dist, X), self._output(ind, X)
        return self._output(ind, X)

    @delegable
    def kneighbors_graph(self, X=None, n_neighbors=None, mode="connectivity"):
        """Sparse graph of the K nearest neighbors of each query row.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features), default=None
        n_neighbors : int, default=None
        mode : {"connectivity", "distance"}, default="connectivity"

        Returns
        -------
        A : scipy.sparse.csr_matrix of shape (n_queries, n_samples_fit)
        """
        if mode not in ("connectivity", "distance"):
            raise ValueError(f'Unsupported mode, must be one of "connectivity", or "distance" but got "{mode}" instead')
        dist, ind = self.kneighbors(X, n_neighbors, return_distance=True)
        dist, ind = np.asarray(torch.as_tensor(dist).cpu()), np.asarray(torch.as_tensor(ind).cpu())
        n_q, k = ind.shape
        data = np.ones(n_q * k) if mode == "connectivity" else dist.ravel()
        return sp.csr_matrix((data, ind.ravel(), np.arange(0, n_q * k + 1, k)), shape=(n_q, self.n_samples_fit_))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.pairwise = False
        return tags


def _drop_self(dist: Tensor, ind: Tensor) -> tuple[Tensor, Tensor]:
    """Remove each training row from its own neighbor list (k+1 -> k columns).

    Where duplicates push the row itself out of the list, the first column (a
    duplicate at distance 0) is dropped instead, as scikit-learn does.
    """
    n, k1 = ind.shape
    own = ind == torch.arange(n, device=ind.device)[:, None]  # (n, k+1)
    missing = ~own.any(1)
    own[missing, 0] = True
    keep = ~own
    return dist[keep].reshape(n, k1 - 1), ind[keep].reshape(n, k1 - 1)


def read_rows(source: Source) -> tuple[np.ndarray, np.ndarray | None]:
    """All of a source's rows (validated as they are read) and its targets, in one read, as
    host arrays: (n, d), and (n,) or (n, t) or None."""
    held = resident(source, torch.device("cpu"), 1 << 62)  # a file's rows are copied, not mapped
    host = lambda a: a.numpy() if isinstance(a, Tensor) else (None if a is None else np.asarray(a))  # noqa: E731
    return host(held.X), host(held.y)
