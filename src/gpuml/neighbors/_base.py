"""Exact brute-force neighbors: for each query chunk, a pass over the indexed chunks."""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils.validation import check_is_fitted
from torch import Tensor

from .._sklearn import sklearn_class
from .._support import Support, when
from ..base import GpumlEstimator, delegable
from ..data import Source, as_source, resident, run_map, run_pass
from ..device import accumulator_dtype, memory_budget, resident_budget
from ..ops import ExtentPass, KNearest, KNearestLp, query_rows
from ..ops.distances import scale_for

#: Query rows handled together; bounds the (q, rows) score block with the planner.
MAX_QUERY_CHUNK = 4096

#: The metrics gpuml computes natively (every ``p > 0`` of "minkowski").
NATIVE_METRICS = ("minkowski", "euclidean", "l2", "sqeuclidean", "cosine", "manhattan", "l1", "cityblock",
                  "chebyshev", "infinity")
_LP = {"manhattan": 1.0, "l1": 1.0, "cityblock": 1.0, "chebyshev": math.inf, "infinity": math.inf}
_TREES = ("kd_tree", "ball_tree")
#: scikit-learn's private fitted state of a neighbors estimator, beside the public attributes.
_PRIVATE = ("_fit_X", "_y", "_fit_method", "_tree")


PARAMS_DOC = """\
    algorithm : {"auto", "brute", "ball_tree", "kd_tree"}, default="auto"
        All run gpuml's exact brute-force search (the trees find the same exact
        neighbors); ``_fit_method`` records scikit-learn's choice, and its tree is
        built only if scikit-learn's own code queries it.
    leaf_size : int, default=30
        The leaf size of that tree.
    metric : str or callable, default="minkowski"
        gpuml computes "minkowski" (any p > 0), "euclidean", "l2", "sqeuclidean",
        "cosine", "manhattan", "l1", "cityblock", "chebyshev" and "infinity"; any other
        metric scikit-learn accepts runs on scikit-learn (see the Notes).
    p : float, default=2
        The Minkowski power: 2 euclidean, 1 manhattan, ``np.inf`` chebyshev.
    metric_params : dict, default=None
        gpuml computes None, ``{}`` and ``{"p": p}`` with "minkowski" (which then
        overrides ``p``, with scikit-learn's SyntaxWarning); others run on scikit-learn.
    n_jobs : int, default=None
        Kept for compatibility; parallelism comes from the device.
    device : str or torch.device, default=None
        Where to compute; None follows ``gpuml.get_config()["device"]`` ("auto").
"""

NOTES = """\
    Notes
    -----
    Native (``_support``): the metrics above, dense input, every ``algorithm``.
    Outside it (another metric, a callable, a ``DistanceMetric`` or "precomputed", other ``metric_params``,
    ``p=None`` with "minkowski", sparse input) the call runs on scikit-learn's estimator
    when the device is "auto" (``engine_ == "sklearn"``, ``engine_reason_`` says why),
    and is a ``gpuml.UnsupportedError`` with an explicit device or with
    ``gpuml.set_config(fallback=False)``. Sparse queries to a gpuml fit run on
    scikit-learn from the same fitted state.
"""


def _metric_native(p: dict) -> bool:
    m = p.get("metric")
    return isinstance(m, str) and m in NATIVE_METRICS


def _minkowski_p(p: dict):
    """The effective Minkowski power: ``metric_params["p"]`` over ``p``, as in scikit-learn."""
    return (p.get("metric_params") or {}).get("p", p.get("p"))


def _minkowski_params(p: dict) -> bool:
    params = p.get("metric_params") or {}
    power = params.get("p")
    return (p.get("metric") == "minkowski" and set(params) <= {"p", "w"} and params.get("w") is None
            and isinstance(power, Real) and not isinstance(power, bool) and power > 0)


#: What gpuml computes natively: exact brute force (whatever ``algorithm``: the trees of
#: scikit-learn find the same exact neighbors) for these metrics, dense input.
SUPPORT = Support(
    when(_metric_native, lambda p: f"metric={p.get('metric')!r} (gpuml supports "
                                   f"{', '.join(map(repr, NATIVE_METRICS))})"),
    when(lambda p: not p.get("metric_params") or _minkowski_params(p),
         "metric_params={metric_params!r} (gpuml supports None, or {{'p': p}} with metric='minkowski')"),
    when(lambda p: p.get("metric") != "minkowski" or _minkowski_p(p) is not None,
         "metric='minkowski' with p=None (gpuml supports a number p > 0)"),
)


class _LazyTree:
    """scikit-learn's KDTree or BallTree of the indexed rows, built the first time scikit-learn's
    own code uses it (``radius_neighbors``, a tree query): the fitted state handed to
    scikit-learn (``_export_state``) names the tree scikit-learn would have built, without
    building it or copying the rows. It pickles as the tree itself."""

    def __init__(self, kind: str, X: np.ndarray, leaf_size: int, metric: str, params: dict) -> None:
        self.__dict__.update(_args=(kind, X, leaf_size, metric, params), _built=None)

    def _tree(self):
        if self._built is None:
            from sklearn.neighbors import BallTree, KDTree

            kind, X, leaf_size, metric, params = self._args
            self.__dict__["_built"] = (KDTree if kind == "kd_tree" else BallTree)(
                X, leaf_size, metric=metric, **params)
        return self._built

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._tree(), name)

    def __reduce__(self):
        return self._tree().__reduce__()


def _host(a):
    return a.detach().cpu().numpy() if isinstance(a, Tensor) else a


class NeighborsMixin(GpumlEstimator):
    """Shared fit / kneighbors / kneighbors_graph of the neighbors estimators."""

    _support = SUPPORT
    _delegates_to_sklearn = True

    def _work(self, n: int, d: int) -> tuple[float, float]:
        return 2.0 * n * n * d, 1.0  # the queries are not known at fit: as many as the indexed rows

    # -- the metric --------------------------------------------------------------------
    def _kernel(self) -> tuple[str, float]:
        """(gpuml's kernel: "euclidean", "sqeuclidean", "cosine" or "lp", its p)."""
        m = self.metric
        if m == "minkowski":
            p = float(_minkowski_p(self.get_params(deep=False)))
            return ("euclidean", 2.0) if p == 2 else ("lp", p)
        if m in ("euclidean", "l2"):
            return "euclidean", 2.0
        if m in _LP:
            return "lp", _LP[m]
        return m, 2.0

    def _effective_metric(self) -> tuple[str, dict]:
        """scikit-learn's ``effective_metric_`` and ``effective_metric_params_``."""
        params = {} if self.metric_params is None else dict(self.metric_params)
        if self.metric != "minkowski":
            return self.metric, params
        p = params.pop("p", self.p)
        w = params.pop("w", None)
        if w is None and p in (1, 2, math.inf):
            return {1: "manhattan", 2: "euclidean"}.get(p, "chebyshev"), params
        return "minkowski", {**params, "p": p, "w": w}

    def _fit_method_for(self, n: int, d: int) -> str:
        """The ``_fit_method`` scikit-learn would choose (its rules, warning and error for p < 1)."""
        metric, params = self.effective_metric_, self.effective_metric_params_
        semi = metric == "minkowski" and params["p"] < 1
        method = self.algorithm
        if method == "auto":
            from sklearn.neighbors import VALID_METRICS

            if d > 15 or (self.n_neighbors is not None and self.n_neighbors >= n // 2) or semi:
                method = "brute"
            elif metric in VALID_METRICS["kd_tree"]:
                method = "kd_tree"
            elif metric in VALID_METRICS["ball_tree"]:
                method = "ball_tree"
            else:
                method = "brute"
        if semi:
            if method != "brute":
                raise ValueError(
                    f'algorithm="{method}" does not support 0 < p < 1 for the Minkowski metric. To resolve '
                    'this problem either set p >= 1 or algorithm="brute".'
                )
            warnings.warn("Mind that for 0 < p < 1, Minkowski metrics are not distance metrics. Continuing "
                          "the execution with `algorithm='brute'`.", stacklevel=3)
        return method

    @staticmethod
    def _index_input(X):
        """scikit-learn's other forms of X at fit: a ``BallTree`` or ``KDTree`` (its rows, the tree
        kept as ``_tree``) or a fitted neighbors estimator (its rows, its tree): (rows, (method, tree))
        or (X, None) for anything else."""
        from sklearn.neighbors import BallTree, KDTree
        from sklearn.neighbors._base import NeighborsBase

        if isinstance(X, (BallTree, KDTree)):
            return np.asarray(X.data), ("ball_tree" if isinstance(X, BallTree) else "kd_tree", X)
        if isinstance(X, (NeighborsBase, NeighborsMixin)):
            check_is_fitted(X)
            return _host(X._fit_X), (X._fit_method, X.__dict__.get("_tree"))
        return X, None

    def _fit_index(self, X, given=None) -> None:
        """Keep the indexed rows in memory, as scikit-learn does: NumPy, or a tensor left
        where it is. A source (a file, a memmap) is read into host memory now, so that the
        fitted model never depends on the file staying where and as it was."""
        sklearn_class(self._sklearn_name())._check_algorithm_metric(self)  # its errors and warnings
        self.effective_metric_, self.effective_metric_params_ = self._effective_metric()
        if isinstance(X, Source):
            X = read_rows(X)[0]
        self._fit_X = X
        self.n_samples_fit_ = int(X.shape[0])
        if given is not None:  # a tree or a fitted estimator: scikit-learn takes its method and tree
            self._fit_method, self._tree = given
        else:
            self._fit_method = self._fit_method_for(int(X.shape[0]), int(X.shape[1]))
            self._tree = None  # scikit-learn's tree, built only if scikit-learn's own code asks for it
        self._reset_cache()

    # -- fitted state shared with scikit-learn -------------------------------------------
    def _export_state(self) -> dict:
        """The public attributes and scikit-learn's private state: the indexed rows (the same
        array, not a copy; a tensor's rows on the host), the targets, ``_fit_method`` as
        scikit-learn would have chosen it and its tree, built only when scikit-learn uses it."""
        state = super()._export_state()
        if self.__dict__.get("_sklearn_fitted") is not None or "_fit_X" not in self.__dict__:
            return state
        X = _host(self._fit_X)
        tree = self.__dict__.get("_tree")
        if tree is None and self._fit_method in _TREES:
            cache = self.__dict__.setdefault("_dev_cache", {})
            if "tree" not in cache:
                cache["tree"] = _LazyTree(self._fit_method, X, self.leaf_size, self.effective_metric_,
                                          self.effective_metric_params_)
            tree = cache["tree"]
        state.update(_fit_X=X, _fit_method=self._fit_method, _tree=tree)
        if "_y" in self.__dict__:
            state["_y"] = _host(self._y)
        return state

    def _import_state(self, state: dict) -> None:
        """scikit-learn's fitted state; one gpuml does not compute from (a sparse index, a metric
        outside ``_support``) is kept in scikit-learn's estimator, which then answers the queries."""
        super()._import_state(state)
        for name in _PRIVATE:
            self.__dict__.pop(name, None)
            if name in state:
                self.__dict__[name] = state[name]
        reason = self._unsupported(state["_fit_X"]) if "_fit_X" in state else None
        if reason is not None:
            est = sklearn_class(self._sklearn_name())(**self._sklearn_params())
            est.__dict__.update({k: v for k, v in state.items()
                                 if k in _PRIVATE or (k.endswith("_") and not k.startswith("_gpuml"))})
            self._sklearn_fitted = est
            self.device_, self.engine_ = "cpu", "sklearn"
            self.engine_reason_ = f"cpu/sklearn: gpuml does not compute {reason}"

    # -- queries -------------------------------------------------------------------------
    def _index_source(self, device: torch.device, dtype: torch.dtype) -> tuple[Source, torch.Tensor, float]:
        """The indexed rows as a source, kept on the device when they fit half the budget,
        with their reference point and radius (``ops.distances``: the frame distances are
        ranked in)."""
        cache = self.__dict__.setdefault("_dev_cache", {})
        key = ("index", str(device), dtype)
        if key not in cache:
            index = resident(as_source(self._fit_X), device, resident_budget(device) // 2)
            kernel = self._kernel()[0]
            extent = run_pass(index, ExtentPass(kernel if kernel != "lp" else "euclidean",
                                                accumulator_dtype(device)), device, dtype=dtype)
            ref, rad = extent.reference(dtype)
            big = float(torch.maximum(extent.hi.abs(), extent.lo.abs()).max()) if extent.count else 0.0
            cache[key] = (index, ref, rad, big)
        return cache[key]

    def _query(self, X, k: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """(distances, indices), each (n_queries, k), ascending, ties by smaller index."""
        dtype = self._dtype(X, device)
        index, ref, rad, big = self._index_source(device, dtype)
        metric, p = self._kernel()

        def neighbors(Q, y, w):
            if metric == "lp":
                top_q = float(Q.abs().max()) if Q.numel() else 0.0
                op = KNearestLp(Q, k, p, scale_for(max(big, top_q)))
            else:
                op = KNearest(Q, k, metric, ref, rad)
            top = run_pass(index, op, device, dtype=dtype)
            return top.scores.to(dtype), top.index  # distances in float64, returned in X's dtype

        # a query row holds itself, its top-k state and its k gathered candidates; counted 4x so
        # the query chunk takes at most 1/8 of the budget, leaving the rest to the inner pass, whose
        # index chunks should be long enough for the top-k selection to prune (ops.knn.query_rows)
        d = index.n_features
        per_query = 4 * (d + 4 * k + k * d) * 8
        itemsize = torch.empty((), dtype=dtype).element_size()
        rows = min(MAX_QUERY_CHUNK, query_rows(memory_budget(device) // 2, index.rows_known or 1 << 62, itemsize))
        return run_map(self._source(X, device), neighbors, device, per_query, max_rows=rows)

    def _neighbors(self, X, n_neighbors) -> tuple[Tensor, Tensor, object]:
        """scikit-learn's checks, then (distances, indices, the validated query) on the device;
        X=None queries the indexed rows, each excluded from its own neighbors."""
        check_is_fitted(self)
        k = n_neighbors
        if k is None:
            k = self.n_neighbors
        elif k <= 0:
            raise ValueError(f"Expected n_neighbors > 0. Got {int(k)}")
        elif not isinstance(k, (Integral, np.integer)):
            raise TypeError(f"n_neighbors does not take {type(k)} value, enter integer value")
        k = int(k)
        query_is_train = X is None
        if query_is_train:
            X = self._fit_X
            k += 1
        else:
            X, _ = self._validate(X, reset=False)
        if k > self.n_samples_fit_:
            if query_is_train:
                k -= 1
            raise ValueError(
                f"Expected n_neighbors {'<' if query_is_train else '<='} n_samples_fit, but n_neighbors = {k}, "
                f"n_samples_fit = {self.n_samples_fit_}, n_samples = {X.shape[0]}"
            )
        device = self._device()
        dist, ind = self._query(X, k, device)
        if query_is_train:
            dist, ind = _drop_self(dist, ind)
        return dist, ind, X

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
        dist, ind, X = self._neighbors(X, n_neighbors)
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
