"""KMeans (Lloyd): one pass over row chunks per iteration."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from sklearn.utils.validation import check_is_fitted

from .._sklearn import sklearn_class
from .._support import Support
from ..base import GpumlEstimator, delegable, to_numpy
from ..data import ArraySource, run_pass, take_rows
from ..device import accumulator_dtype
from ..ops import Assignment, Gram, LloydStep, reference, sq_distances
from ._init import kmeans_plusplus, random_rows

#: Rows k-means++ draws from when the data is not on the device (at least 100 per cluster).
INIT_SAMPLE = 50_000


class KMeans(GpumlEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin, BaseEstimator):
    """K-means clustering (Lloyd's algorithm) on any PyTorch device.

    scikit-learn's :class:`sklearn.cluster.KMeans`. Each iteration is one pass
    over row chunks: assign each row to its nearest center by a matrix product on
    rows and centers shifted to the centers' mean (exact far from the origin, see
    ``gpuml.ops.distances``; never the whole n x k distance matrix), accumulate
    per-center sums of the shifted rows in float32 blocks of 1024 rows and float64
    beyond (the chunk size does not change the result). ``inertia_`` is that of the
    returned ``labels_`` and ``cluster_centers_``, distances computed directly.
    Initialization draws from NumPy's RandomState as scikit-learn does.
    An empty cluster is moved onto a row far from its center, as in scikit-learn; one
    left without rows goes where the heaviest is (never 0/0).

    Parameters
    ----------
    n_clusters : int, default=8
    init : {"k-means++", "random"}, callable or array-like of shape (n_clusters, n_features), default="k-means++"
    n_init : "auto" or int, default="auto"
        Runs with different seeds; the best inertia wins. "auto": 1 for
        "k-means++" or an array, 10 otherwise.
    max_iter : int, default=300
    tol : float, default=1e-4
        Convergence when the squared center shift is at most ``tol`` times the
        mean feature variance.
    verbose : int, default=0
    random_state : int, RandomState instance or None, default=None
    copy_x : bool, default=True
        Kept for compatibility: X is never modified.
    algorithm : {"lloyd", "elkan"}, default="lloyd"
        Both run Lloyd's algorithm (same result; Elkan's bounds do not pay on a GPU).
    device : str or torch.device, default=None
        Where to compute; None follows ``gpuml.get_config()["device"]`` ("auto").

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
    labels_ : ndarray of shape (n_samples,)
    inertia_ : float
    n_iter_ : int
    n_features_in_ : int

    Notes
    -----
    Natively: every parameter value of scikit-learn's KMeans (``algorithm="elkan"`` gives
    Lloyd's result, so it runs Lloyd's iterations), ``sample_weight``, dense input;
    ``verbose`` prints scikit-learn's messages. Sparse input runs on scikit-learn's KMeans
    (``device="auto"``, fallback on; ``engine_reason_`` says so), else it is an
    :class:`gpuml.UnsupportedError`.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuml.cluster import KMeans
    >>> X = np.array([[1.0, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> km = KMeans(n_clusters=2, random_state=0, device="cpu").fit(X)
    >>> sorted(km.cluster_centers_.tolist())
    [[1.0, 2.0], [10.0, 2.0]]
    """

    _parameter_constraints = {**sklearn_class("KMeans")._parameter_constraints,
                               "device": [None, str, torch.device]}

    #: Every parameter value runs natively (``algorithm="elkan"`` is Lloyd's result, computed
    #: by Lloyd's iterations); sparse input runs on scikit-learn.
    _support = Support()

    def __init__(
        self, n_clusters=8, *, init="k-means++", n_init="auto", max_iter=300, tol=1e-4,
        verbose=0, random_state=None, copy_x=True, algorithm="lloyd", device=None,
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.copy_x = copy_x
        self.algorithm = algorithm
        self.device = device

    _delegates_to_sklearn = True

    def _work(self, n: int, d: int) -> tuple[float, float]:
        return 2.0 * n * d * self.n_clusters, self._n_init(warn=False) * (min(self.max_iter, 20) + 3.0)

    def _n_init(self, warn: bool = True) -> int:
        explicit = not isinstance(self.init, str) and not callable(self.init)
        if explicit:
            if warn and self.n_init not in ("auto", 1):
                warnings.warn(
                    "Explicit initial center position passed: performing only one init in "
                    f"{type(self).__name__} instead of n_init={self.n_init}.",
                    RuntimeWarning,
                    stacklevel=3,
                )
            return 1
        if self.n_init == "auto":
            return 1 if self.init == "k-means++" else 10
        return self.n_init

    def _init_rows(self, src, n: int, rng, device) -> ArraySource:
        """The rows initialization draws from: all of them when they are on the device,
        else a uniform sample of ``INIT_SAMPLE`` rows (k-means++ on a sample, documented)."""
        if getattr(src, "on_device", None) == device:
            return src
        m = min(n, max(INIT_SAMPLE, 100 * self.n_clusters))
        ids = np.arange(n) if m == n else np.sort(rng.choice(n, size=m, replace=False))
        c = take_rows(src, ids, device)
        return ArraySource(c.X, None, c.w)

    def _initial_centers(self, src, w, rng, device, dtype):
        k = self.n_clusters
        if isinstance(self.init, str):
            fn = kmeans_plusplus if self.init == "k-means++" else random_rows
            return fn(src, k, w, rng, device, dtype)
        if callable(self.init):
            X = src.X if isinstance(src.X, torch.Tensor) else np.asarray(src.X)
            centers = self.init(X, k, random_state=rng)
        else:
            centers = self.init
        centers = torch.as_tensor(
            centers.detach().cpu().numpy() if isinstance(centers, torch.Tensor) else np.array(centers)
        ).to(device=device, dtype=dtype)
        if centers.ndim != 2 or centers.shape[0] != k:  # scikit-learn's messages
            raise ValueError(f"The shape of the initial centers {tuple(centers.shape)} does not match the "
                             f"number of clusters {k}.")
        if centers.shape[1] != self.n_features_in_:
            raise ValueError(f"The shape of the initial centers {tuple(centers.shape)} does not match the "
                             f"number of features of the data {self.n_features_in_}.")
        return centers

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Compute k-means clustering.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : KMeans
        """
        if self._delegated_early(X, sample_weight=sample_weight):
            return self
        X, _ = self._validate(X, reset=True)
        w = self._sample_weight(sample_weight, X)
        device = self._decide(X)
        if self.engine_ == "sklearn":
            return self._fit_sklearn(X, sample_weight=w)
        dtype, acc = self._dtype(X, device), accumulator_dtype(device)
        src = self._source(X, device, w=w, resident=True)
        if self.tol > 0:  # tol is relative to the mean variance (unweighted, as scikit-learn): one pass
            moments = run_pass(src, Gram(acc, diagonal=True, weighted=False), device)
            n, tol = moments.count, float((moments.cxx / moments.count).mean()) * self.tol
        else:
            n, tol = src.count_rows(), 0.0
        if n < self.n_clusters:
            raise ValueError(f"n_samples={n} should be >= n_clusters={self.n_clusters}.")
        if self.algorithm == "elkan" and self.n_clusters == 1:  # scikit-learn's warning
            warnings.warn("algorithm='elkan' doesn't make sense for a single cluster. Using 'lloyd' instead.",
                          RuntimeWarning, stacklevel=2)
        rng = check_random_state(self.random_state)
        init_src = w_init = None
        if isinstance(self.init, str) or callable(self.init):  # an explicit array needs no rows
            init_src = self._init_rows(src, n, rng, device)
            w_init = (torch.ones(init_src.count_rows(), dtype=acc, device=device) if init_src.w is None
                      else init_src.w.to(device=device, dtype=acc))
        best = None
        for _ in range(self._n_init()):
            centers = self._initial_centers(init_src, w_init, rng, device, dtype)
            if self.verbose:
                print("Initialization complete")
            centers, n_iter = self._lloyd(src, centers, tol, device, acc)
            labels, inertia = self._assign(src, centers, device, acc)
            if best is None or inertia < best[2]:
                best = (centers, labels, inertia, n_iter)
        centers, labels, inertia, n_iter = best
        distinct = int((torch.bincount(labels, minlength=self.n_clusters) > 0).sum())
        if distinct < self.n_clusters:
            warnings.warn(
                f"Number of distinct clusters ({distinct}) found smaller than n_clusters "
                f"({self.n_clusters}). Possibly due to duplicate points in X.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self._reset_cache()
        self.cluster_centers_ = to_numpy(centers)
        self.labels_ = to_numpy(labels).astype(np.int32, copy=False)
        self.inertia_ = float(inertia)
        self.n_iter_ = int(n_iter)
        self._tol = tol
        return self

    @property
    def _n_features_out(self) -> int:
        """Output features of transform (``get_feature_names_out``): one per center."""
        return self.cluster_centers_.shape[0]

    def _import_state(self, state: dict) -> None:
        super()._import_state(state)
        self.__dict__["_tol"] = state.get("_tol", 0.0)

    def _export_state(self) -> dict:
        """The public fitted attributes and the private state scikit-learn's KMeans keeps
        (``_n_threads`` for predict, transform and score; ``_n_features_out``...)."""
        state = super()._export_state()
        if self.__dict__.get("_sklearn_fitted") is None:
            state.update(
                _n_threads=_openmp_effective_n_threads(),
                _n_init=self._n_init(warn=False),
                _algorithm="lloyd" if self.n_clusters == 1 else self.algorithm,
                _tol=self.__dict__.get("_tol", 0.0),
                _n_features_out=self._n_features_out,
            )
        return state

    def _lloyd(self, src, centers, tol, device, acc):
        """Iterate Lloyd steps until the squared center shift is at most ``tol``, or until the
        assignment no longer changes (scikit-learn's strict convergence, what ``tol=0`` waits
        for): the same cluster weights as the last step and a shift within the centers'
        rounding (each step sums about a new reference point, so equal labels need not give
        bit-equal centers)."""
        last = None
        for it in range(1, self.max_iter + 1):
            st = run_pass(src, LloydStep(centers, acc, inertia=bool(self.verbose)), device)
            sums, weights = st.sums, st.weights
            same = last is not None and torch.equal(weights, last)
            last = weights
            if bool((weights == 0).any()):
                sums, weights = self._relocate_empty(src, centers, sums, weights, device, acc)
            new = _average(sums, weights)
            shift = float(((new - centers.to(acc)) ** 2).sum())
            rounding = centers.numel() * (8 * torch.finfo(centers.dtype).eps * float(new.abs().max())) ** 2
            strict = same and shift <= rounding
            centers = new.to(centers.dtype)
            if self.verbose:  # scikit-learn's messages (its iterations count from 0)
                print(f"Iteration {it - 1}, inertia {float(st.inertia)}.")
                if strict:
                    print(f"Converged at iteration {it - 1}: strict convergence.")
                elif shift <= tol:
                    print(f"Converged at iteration {it - 1}: center shift {shift} within tolerance {tol}.")
            if strict or shift <= tol:
                break
        return centers, it

    def _relocate_empty(self, src, centers, sums, weights, device, acc):
        """Move each empty cluster onto one of the rows farthest from their centers,
        as scikit-learn does (one extra pass, only when a cluster is empty)."""
        empty = torch.nonzero(weights == 0).ravel()
        labels, d2 = self._assign(src, centers, device, acc, per_row=True)
        if not bool(d2.max() > 0):  # more clusters than distinct rows: nothing to move (as scikit-learn)
            return sums, weights
        far = torch.topk(d2, int(empty.numel())).indices.cpu().numpy()
        order = np.argsort(far)
        rows = take_rows(src, far[order], device)
        sums, weights = sums.clone(), weights.clone()
        for j, i, pos in zip(empty.tolist(), far.tolist(), np.argsort(order).tolist()):
            x = rows.X[pos].to(acc)
            w_i = torch.ones((), dtype=acc, device=device) if rows.w is None else rows.w[pos].to(acc)
            old = int(labels[i])
            sums[old] -= w_i * x
            weights[old] -= w_i
            sums[j], weights[j] = w_i * x, w_i
        return sums, weights

    def _assign(self, src, centers, device, acc, per_row=False, inertia=True):
        """Labels (int32) and weighted inertia for the given centers: one pass.

        ``per_row``: the squared distance of each row instead of their weighted sum;
        ``inertia=False``: the labels alone. The labels (and distances) are written into
        arrays allocated before the pass, on the device when the data is there, else on
        the host; the pass itself stays within the memory budget.
        """
        on_device = getattr(src, "on_device", None) == device
        where = device if on_device else torch.device("cpu")
        n = src.rows_known if not per_row else src.count_rows()  # not counted (a pass) just for this: a list then
        labels = [] if n is None else torch.empty(n, dtype=torch.int32, device=where)
        sq_dist = torch.empty(n, dtype=acc, device=where) if per_row else None
        total = run_pass(src, Assignment(centers, acc, labels, sq_dist, distances=inertia), device)
        labels = torch.cat(labels) if isinstance(labels, list) else labels
        if per_row:
            return labels, sq_dist
        return (labels, total) if inertia else labels

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then the cluster of each row of X (``labels_``).

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        labels : ndarray of shape (n_samples,) (int32), or a Tensor on X's device
        """
        return self._labels_out(self.fit(X, sample_weight=sample_weight).labels_, X)

    def fit_transform(self, X, y=None, sample_weight=None):
        """Fit, then the distance of each row of X to each center.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        X_new : ndarray or Tensor of shape (n_samples, n_clusters)
        """
        return self.fit(X, sample_weight=sample_weight).transform(X)

    @delegable
    def predict(self, X):
        """Index of the closest cluster center for each row.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,) (int32), or an int64 Tensor
        """
        X = self._check_predict(X)
        device = self._device()
        centers = self._param("cluster_centers_", device, self._dtype(X, device))
        labels = self._assign(self._source(X, device), centers, device, accumulator_dtype(device), inertia=False)
        out = self._output(labels, X)
        return out.astype(np.int32) if isinstance(out, np.ndarray) else out

    @delegable
    def transform(self, X):
        """Euclidean distance from each row to each cluster center.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)

        Returns
        -------
        X_new : ndarray or Tensor of shape (n_samples, n_clusters)
        """
        given, X = X, self._check_predict(X)
        device = self._device()
        centers = self._param("cluster_centers_", device, self._dtype(X, device))
        ref = reference(centers)
        per_row = (3 * self.n_clusters + 2 * X.shape[1]) * 8  # distances (r, k), the shifted rows
        out = self._map_rows(X, lambda c: sq_distances(c, centers, ref).sqrt_(), per_row)
        if given is self.cluster_centers_:  # the centers themselves: a zero diagonal, as scikit-learn's
            out[..., range(self.n_clusters), range(self.n_clusters)] = 0
        return out

    @delegable
    def score(self, X, y=None, sample_weight=None):
        """Opposite of the inertia of X on the fitted centers.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        X, _ = self._validate(X, reset=False)
        w = self._sample_weight(sample_weight, X)
        device = self._device()
        centers = self._param("cluster_centers_", device, self._dtype(X, device))
        _, inertia = self._assign(self._source(X, device, w=w), centers, device, accumulator_dtype(device))
        return -float(inertia)


def _average(sums, weights):
    """Centers from their sums and weights, (k, d), (k,) -> (k, d); a cluster left without
    weight (its only rows moved to empty clusters) goes where the heaviest one is, as in
    scikit-learn, never to 0/0."""
    has = weights > 0
    new = sums / torch.where(has, weights, torch.ones_like(weights))[:, None]
    return torch.where(has[:, None], new, new[int(torch.argmax(weights))])
