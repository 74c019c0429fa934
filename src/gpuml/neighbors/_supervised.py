"""KNeighborsClassifier and KNeighborsRegressor: votes and averages over the k neighbors."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, MultiOutputMixin, RegressorMixin, _fit_context
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.multiclass import check_classification_targets
from torch import Tensor

from .._sklearn import sklearn_class
from ..base import delegable
from ..data import Source
from ..device import accumulator_dtype
from ._base import NOTES, PARAMS_DOC, NeighborsMixin, read_rows

_COMMON_DOC = """
    Parameters
    ----------
    n_neighbors : int, default=5
    weights : {"uniform", "distance"} or callable, default="uniform"
        "distance" weighs each neighbor by 1 / distance (rows at distance 0 take
        all the weight); a callable maps a distance array to a weight array.
""" + PARAMS_DOC


class _SupervisedNeighbors(NeighborsMixin):
    def __init__(
        self, n_neighbors=5, *, weights="uniform", algorithm="auto", leaf_size=30, p=2,
        metric="minkowski", metric_params=None, n_jobs=None, device=None,
    ):
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.algorithm = algorithm
        self.leaf_size = leaf_size
        self.p = p
        self.metric = metric
        self.metric_params = metric_params
        self.n_jobs = n_jobs
        self.device = device

    def _neighbor_weights(self, X) -> tuple[Tensor, Tensor, object]:
        """(weights (q, k) float64, neighbor indices (q, k)) on the compute device, and the
        validated query (X=None: the indexed rows, each excluded from its own neighbors)."""
        dist, ind, X = self._neighbors(X, None)
        device = dist.device
        acc = accumulator_dtype(device)
        dist = dist.to(acc)
        if self.weights in (None, "uniform"):
            w = torch.ones_like(dist)
        elif self.weights == "distance":
            zero = dist == 0
            w = torch.where(zero.any(1, keepdim=True), zero.to(acc), 1.0 / dist.clamp_min(1e-300))
        else:
            w = torch.as_tensor(np.asarray(self.weights(dist.cpu().numpy())), dtype=acc, device=device)
        return w, ind, X


class KNeighborsClassifier(_SupervisedNeighbors, ClassifierMixin, BaseEstimator):
    _parameter_constraints = {**sklearn_class("KNeighborsClassifier")._parameter_constraints,
                              "device": [None, str, torch.device]}
    __doc__ = (
        """Classifier voting among the k nearest neighbors, on any PyTorch device.

    scikit-learn's :class:`sklearn.neighbors.KNeighborsClassifier`, on the exact
    brute-force search of :class:`gpuml.neighbors.NearestNeighbors`. Multi-output y
    is supported.
"""
        + _COMMON_DOC
        + """
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,) or list of such arrays
    effective_metric_ : str
    effective_metric_params_ : dict
    n_features_in_ : int
    n_samples_fit_ : int
    outputs_2d_ : bool

""" + NOTES + """
    Examples
    --------
    >>> from gpuml.neighbors import KNeighborsClassifier
    >>> X = [[0.0], [1.0], [2.0], [3.0]]
    >>> clf = KNeighborsClassifier(n_neighbors=3, device="cpu").fit(X, [0, 0, 1, 1])
    >>> clf.predict([[1.1]]), clf.predict_proba([[0.9]])
    (array([0]), array([[0.66666667, 0.33333333]]))
    """
    )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Index X with its class labels y.

        Parameters
        ----------
        X : array-like, Tensor or gpuml.data source of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets; None when X is a source created with a target.

        Returns
        -------
        self : KNeighborsClassifier
        """
        X, given = self._index_input(X)
        if self._delegated_early(X, y):
            return self
        X, y = self._validate(X, y, reset=True, multi_output=True)
        self._decide(X)
        if self.engine_ == "sklearn":
            return self._fit_sklearn(X, y)
        X, y = read_rows(X) if isinstance(X, Source) else (X, y)  # a file: rows and targets in one read
        y = y.cpu().numpy() if isinstance(y, Tensor) else np.asarray(y)
        check_classification_targets(y)
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn("A column-vector y was passed when a 1d array was expected. Please change the shape "
                          "of y to (n_samples,), for example using ravel().", DataConversionWarning, stacklevel=2)
        self.outputs_2d_ = bool(y.ndim == 2 and y.shape[1] > 1)
        y2 = y.reshape(len(y), -1)
        classes, codes = zip(*(np.unique(y2[:, j], return_inverse=True) for j in range(y2.shape[1])))
        self.classes_ = list(classes) if self.outputs_2d_ else classes[0]
        self._y = np.stack(codes, 1) if self.outputs_2d_ else codes[0]
        self._fit_index(X, given)
        return self

    @delegable
    def predict_proba(self, X):
        """Class probabilities: the weighted share of each class among the k neighbors.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_queries, n_features)

        Returns
        -------
        p : ndarray of shape (n_queries, n_classes), or a list of them (one per output)
        """
        probas, X = self._probas(X)
        out = [self._output(p, X) for p in probas]
        return out if self.outputs_2d_ else out[0]

    def _probas(self, X):
        w, ind, X = self._neighbor_weights(X)
        if bool((w == 0).all(1).any()):  # scikit-learn's check and words (its regressor gives NaN)
            raise ValueError(
                "All neighbors of some sample is getting zero weights. Please modify 'weights' to avoid "
                "this case if you are using a user-defined function."
            )
        device = w.device
        y = self._param("_y", device, torch.int64)
        y = y[:, None] if y.ndim == 1 else y  # (n, n_outputs)
        classes = self.classes_ if self.outputs_2d_ else [self.classes_]
        probas = []
        for j, cls in enumerate(classes):
            labels = y[:, j][ind]  # (q, k)
            p = torch.zeros(ind.shape[0], len(cls), dtype=w.dtype, device=device).scatter_add_(1, labels, w)
            norm = p.sum(1, keepdim=True)
            probas.append((p / torch.where(norm == 0, torch.ones_like(norm), norm)).to(self._dtype(X, device)))
        return probas, X

    @delegable
    def predict(self, X):
        """Predict the class of each query row.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_queries, n_features)

        Returns
        -------
        y : ndarray of shape (n_queries,) or (n_queries, n_outputs)
        """
        probas, X = self._probas(X)
        classes = self.classes_ if self.outputs_2d_ else [self.classes_]
        preds = [cls[p.argmax(1).cpu().numpy()] for p, cls in zip(probas, classes)]
        return self._labels_out(np.stack(preds, 1) if self.outputs_2d_ else preds[0], X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class KNeighborsRegressor(_SupervisedNeighbors, MultiOutputMixin, RegressorMixin, BaseEstimator):
    _parameter_constraints = {**sklearn_class("KNeighborsRegressor")._parameter_constraints,
                              "device": [None, str, torch.device]}
    __doc__ = (
        """Regression by the (weighted) mean target of the k nearest neighbors.

    scikit-learn's :class:`sklearn.neighbors.KNeighborsRegressor`, on the exact
    brute-force search of :class:`gpuml.neighbors.NearestNeighbors`.
"""
        + _COMMON_DOC
        + """
    Attributes
    ----------
    effective_metric_ : str
    effective_metric_params_ : dict
    n_features_in_ : int
    n_samples_fit_ : int

""" + NOTES + """
    Examples
    --------
    >>> from gpuml.neighbors import KNeighborsRegressor
    >>> X = [[0.0], [1.0], [2.0], [3.0]]
    >>> KNeighborsRegressor(n_neighbors=2, device="cpu").fit(X, [0, 0, 1, 1]).predict([[1.5]])
    array([0.5])
    """
    )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Index X with its targets y.

        Parameters
        ----------
        X : array-like, Tensor or gpuml.data source of shape (n_samples, n_features)
        y : array-like or Tensor of shape (n_samples,) or (n_samples, n_targets)
            Targets; None when X is a source created with a target.

        Returns
        -------
        self : KNeighborsRegressor
        """
        X, given = self._index_input(X)
        if self._delegated_early(X, y):
            return self
        X, y = self._validate(X, y, reset=True, y_numeric=True, multi_output=True)
        self._decide(X)
        if self.engine_ == "sklearn":
            return self._fit_sklearn(X, y)
        if isinstance(X, Source):  # a file: rows and targets in one read
            X, y = read_rows(X)
            y = y.astype(np.float64)
        self._y = y
        self._fit_index(X, given)
        return self

    @delegable
    def predict(self, X):
        """Predict the weighted mean target of the k nearest neighbors.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_queries, n_features)

        Returns
        -------
        y : ndarray or Tensor of shape (n_queries,) or (n_queries, n_targets)
        """
        w, ind, X = self._neighbor_weights(X)
        y = self._y if isinstance(self._y, Tensor) else torch.from_numpy(np.asarray(self._y))
        y = y.to(device=w.device, dtype=w.dtype)
        neigh = y[ind]  # (q, k) or (q, k, t)
        wk = w if neigh.ndim == 2 else w[:, :, None]
        pred = (neigh * wk).sum(1) / wk.sum(1)
        return self._output(pred.to(self._dtype(X, w.device)), X)  # in X's precision
