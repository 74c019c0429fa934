"""NearestNeighbors: the index without targets."""

from __future__ import annotations

import torch
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils.validation import check_is_fitted

from .._sklearn import sklearn_class
from ._base import NOTES, PARAMS_DOC, NeighborsMixin


class NearestNeighbors(NeighborsMixin, BaseEstimator):
    __doc__ = """Exact k nearest neighbors by brute force on any PyTorch device.

    scikit-learn's :class:`sklearn.neighbors.NearestNeighbors`, with its parameters and
    their validation. Distances are ranked by matrix products on rows shifted to the
    index mean and scaled by a power of two (exact far from the origin and near
    float32's overflow), or by direct Minkowski sums (``torch.cdist``) for the other
    metrics, one pass over the indexed rows per query chunk (no n x m matrix is ever
    whole), then recomputed directly in float64 for the k chosen rows, so they carry no
    cancellation error. The indexed rows are kept in memory, as in scikit-learn: a
    source (a ``.npy`` file, a memmap) is read at fit, so the model does not depend
    on the file afterwards. ``radius_neighbors`` and ``radius_neighbors_graph`` run
    on scikit-learn's estimator from the same fitted state.

    Parameters
    ----------
    n_neighbors : int, default=5
    radius : float, default=1.0
        The default radius of ``radius_neighbors`` (run by scikit-learn).
{PARAMS}
    Attributes
    ----------
    effective_metric_ : str
    effective_metric_params_ : dict
    n_features_in_ : int
    n_samples_fit_ : int

{NOTES}

    Examples
    --------
    >>> import numpy as np
    >>> from gpuml.neighbors import NearestNeighbors
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    >>> nn = NearestNeighbors(n_neighbors=2, device="cpu").fit(X)
    >>> dist, ind = nn.kneighbors([[0.0, 0.2]])
    >>> ind
    array([[0, 1]])
    """.replace("{PARAMS}", PARAMS_DOC).replace("{NOTES}", NOTES)

    _parameter_constraints = {**sklearn_class("NearestNeighbors")._parameter_constraints,
                              "device": [None, str, torch.device]}

    def __init__(
        self, *, n_neighbors=5, radius=1.0, algorithm="auto", leaf_size=30, metric="minkowski",
        p=2, metric_params=None, n_jobs=None, device=None,
    ):
        self.n_neighbors = n_neighbors
        self.radius = radius
        self.algorithm = algorithm
        self.leaf_size = leaf_size
        self.metric = metric
        self.p = p
        self.metric_params = metric_params
        self.n_jobs = n_jobs
        self.device = device

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Index the rows of X.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self : NearestNeighbors
        """
        X, given = self._index_input(X)
        if self._delegated_early(X):
            return self
        X, _ = self._validate(X, reset=True)
        self._decide(X)  # an unknown or absent device is an error at fit, not at query time
        if self.engine_ == "sklearn":
            return self._fit_sklearn(X)
        self._fit_index(X, given)
        return self

    def _on_sklearn(self, method: str, *args, **kwargs):
        """A method gpuml does not implement: scikit-learn's, on this fitted state
        (``as_sklearn``), when fallback may run it; else an UnsupportedError."""
        check_is_fitted(self)
        est = self.__dict__.get("_sklearn_fitted")
        if est is None:
            if not self._may_fall_back():
                self._refuse(f"{method}()")
            cache = self.__dict__.setdefault("_dev_cache", {})
            if "as_sklearn" not in cache:
                cache["as_sklearn"] = self.as_sklearn()
            est = cache["as_sklearn"]
        return getattr(est, method)(*args, **kwargs)

    def radius_neighbors(self, X=None, radius=None, return_distance=True, sort_results=False):
        """scikit-learn's ``radius_neighbors``, run by scikit-learn on this fitted state
        (device "auto" with fallback on; with an explicit device, an UnsupportedError).

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features), default=None
        radius : float, default=None
        return_distance : bool, default=True
        sort_results : bool, default=False

        Returns
        -------
        neigh_dist : ndarray of arrays, only when ``return_distance=True``
        neigh_ind : ndarray of arrays
        """
        return self._on_sklearn("radius_neighbors", X, radius, return_distance, sort_results)

    def radius_neighbors_graph(self, X=None, radius=None, mode="connectivity", sort_results=False):
        """scikit-learn's ``radius_neighbors_graph``, run by scikit-learn on this fitted state
        (see :meth:`radius_neighbors`).

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features), default=None
        radius : float, default=None
        mode : {"connectivity", "distance"}, default="connectivity"
        sort_results : bool, default=False

        Returns
        -------
        A : scipy.sparse.csr_matrix of shape (n_queries, n_samples_fit)
        """
        return self._on_sklearn("radius_neighbors_graph", X, radius, mode, sort_results)
