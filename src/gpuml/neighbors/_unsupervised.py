"""NearestNeighbors: the index without targets."""

from __future__ import annotations

from numbers import Real

from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._param_validation import Interval

from ._base import NeighborsMixin


class NearestNeighbors(NeighborsMixin, BaseEstimator):
    """Exact k nearest neighbors by brute force on any PyTorch device.

    scikit-learn's :class:`sklearn.neighbors.NearestNeighbors` for the metrics
    "euclidean" (also "minkowski" with p=2, "l2"), "sqeuclidean" and "cosine".
    Distances are ranked by matrix products on rows shifted to the index mean and
    scaled by a power of two (exact far from the origin and near float32's overflow),
    one pass over the indexed rows per query chunk (no n x m matrix is ever whole),
    then recomputed directly in float64 for the k chosen rows, so they carry no
    cancellation error. The indexed rows are kept in memory, as in scikit-learn: a
    source (a ``.npy`` file, a memmap) is read at fit, so the model does not depend
    on the file afterwards.
    ``radius_neighbors`` is not implemented yet.

    Parameters
    ----------
    n_neighbors : int, default=5
    radius : float, default=1.0
        Kept for compatibility (``radius_neighbors`` is not implemented yet).
    algorithm : {"auto", "brute", "ball_tree", "kd_tree"}, default="auto"
        All run the exact brute-force search.
    leaf_size : int, default=30
        Kept for compatibility (no tree is built).
    metric : {"minkowski", "euclidean", "l2", "sqeuclidean", "cosine"}, default="minkowski"
    p : float, default=2
        Only 2 is supported with "minkowski".
    metric_params : dict, default=None
        Must be None.
    n_jobs : int, default=None
        Kept for compatibility; parallelism comes from the device.
    device : str or torch.device, default=None
        Where to compute; None follows ``gpuml.get_config()["device"]`` ("auto").

    Attributes
    ----------
    effective_metric_ : str
    effective_metric_params_ : dict
    n_features_in_ : int
    n_samples_fit_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from gpuml.neighbors import NearestNeighbors
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    >>> nn = NearestNeighbors(n_neighbors=2, device="cpu").fit(X)
    >>> dist, ind = nn.kneighbors([[0.0, 0.2]])
    >>> ind
    array([[0, 1]])
    """

    _parameter_constraints = {
        **NeighborsMixin._parameter_constraints,
        "radius": [Interval(Real, 0, None, closed="both")],
    }

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
        if self._delegated_early(X):
            return self
        X, _ = self._validate(X, reset=True)
        self._decide(X)  # an unknown or absent device is an error at fit, not at query time
        if self.engine_ == "sklearn":
            return self._fit_sklearn(X)
        self._fit_index(X)
        return self
