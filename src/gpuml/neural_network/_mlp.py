"""MLPClassifier and MLPRegressor: scikit-learn's multi-layer perceptrons on any PyTorch device."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d
from torch import Tensor

from .._sklearn import sklearn_class
from ..base import delegable
from ..data import Source
from ._base import BaseMLP
from ._docs import ATTRIBUTES, NOTES, PARAMETERS
from ._stream import unique_targets


class MLPClassifier(ClassifierMixin, BaseMLP):
    _parameter_constraints: dict = {**sklearn_class("MLPClassifier")._parameter_constraints,
                                    **BaseMLP._GPUML_CONSTRAINTS}
    __doc__ = f"""Multi-layer perceptron classifier (log-loss) on any PyTorch device.

    scikit-learn's :class:`sklearn.neural_network.MLPClassifier`: the same
    parameters, loss (softmax cross-entropy for several classes, logistic for two
    classes and for multilabel targets), penalty, initialization, update rules and
    stopping rules, trained by a PyTorch loop on ``device``.

    Parameters
    ----------
{PARAMETERS}
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
{ATTRIBUTES}
{NOTES}
    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.preprocessing import StandardScaler
    >>> from gpuml.neural_network import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = MLPClassifier((16,), learning_rate_init=0.01, max_iter=300, random_state=0, device="cpu")
    >>> clf = clf.fit(X, y)
    >>> clf.predict(X[:2]), clf.predict_proba(X[:1]).shape, clf.score(X, y) > 0.95
    (array([0, 0]), (1, 3), True)
    >>> clf.to_torch()
    Sequential(
      (0): Linear(in_features=4, out_features=16, bias=True)
      (1): ReLU()
      (2): Linear(in_features=16, out_features=3, bias=True)
      (3): Softmax(dim=1)
    )
    """

    def __init__(
        self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
        batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
        shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
        nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
        epsilon=1e-8, n_iter_no_change=10, max_fun=15000, device=None, precision="auto",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.device = device
        self.precision = precision

    def _loss_kind(self) -> str:
        return "log_loss" if self.out_activation_ == "softmax" else "binary_log_loss"

    def _targets(self, y, incremental: bool) -> np.ndarray:
        """Labels -> indicator matrix (n, n_outputs) of bool, defining or checking ``classes_``."""
        if isinstance(y, Tensor):
            y = y.detach().cpu().numpy()
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in the previous "
                        f"call to fit. Previously got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                    f"'y' has {classes}."
                )
        return self._label_binarizer.transform(y).astype(bool)

    def _encode(self, y: np.ndarray) -> np.ndarray:
        """A streamed chunk's labels -> indicator (r, n_outputs), refusing labels outside ``classes_``."""
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        if y.ndim != 1 or self._label_binarizer.y_type_.startswith("multilabel"):
            return self._label_binarizer.transform(y)
        # LabelBinarizer.transform's result, without its per-call overhead (this runs per chunk)
        classes = self.classes_  # sorted
        codes = np.minimum(np.searchsorted(classes, y), len(classes) - 1)
        unseen = classes[codes] != y
        if unseen.any():
            raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {classes}. "
                             f"'y' has {np.unique(y[unseen])}.")
        if self._stream_outputs(None) == 1:  # one or two classes: the indicator of classes_[1]
            return (codes == 1)[:, None]
        Y = np.zeros((len(y), len(classes)), dtype=bool)
        Y[np.arange(len(y)), codes] = True
        return Y

    def _stream_outputs(self, source) -> int:
        lb = self._label_binarizer
        return len(lb.classes_) if lb.y_type_.startswith("multilabel") or len(lb.classes_) > 2 else 1

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Fit the network to X and the labels y.

        Parameters
        ----------
        X : array-like, Tensor or gpuml.data source of shape (n_samples, n_features)
            A source (with a target) is trained on in memory when it fits, else streamed:
            see the Notes.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a label-indicator matrix (multilabel); None when X is a source.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : MLPClassifier
        """
        if self._delegated_early(X, y, sample_weight=sample_weight):
            return self
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None, classes=None):
        """One epoch over X and y, continuing from the current weights and optimizer.

        Parameters
        ----------
        X : array-like, Tensor or gpuml.data source of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            None when X is a source. A streamed source's labels are checked against
            ``classes_`` chunk by chunk, as they are read.
        sample_weight : array-like of shape (n_samples,), default=None
        classes : array-like of shape (n_classes,), default=None
            Every class of all calls: required on the first call only.

        Returns
        -------
        self : MLPClassifier
        """
        if self._partial_fell_back(X, y, sample_weight=sample_weight, classes=classes):
            return self
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            y_host = y.detach().cpu().numpy() if isinstance(y, Tensor) else y
            if isinstance(X, Source):  # a label-indicator matrix: its width is the number of labels
                y_host = unique_targets(X, self._device()) if X.y_ndim == 2 else None
            if y_host is not None and type_of_target(y_host).startswith("multilabel"):
                self._label_binarizer.fit(y_host)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight, incremental=True)

    @delegable
    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray or Tensor of shape (n_samples, n_classes)
            (n_samples, n_labels) for multilabel targets.
        """
        check_is_fitted(self)
        P = self._forward_output(X)
        if self.n_outputs_ != 1:
            return P
        if isinstance(P, Tensor):
            return torch.cat([1 - P, P], 1)
        return np.hstack([1 - P, P])

    @delegable
    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray or Tensor of shape (n_samples, n_classes)
        """
        proba = self.predict_proba(X)
        return proba.log() if isinstance(proba, Tensor) else np.log(proba, out=proba)

    @delegable
    def predict(self, X):
        """The most probable class of each row (labels above 0.5 for multilabel targets).

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_labels)
            A tensor on X's device when X is a tensor and the classes are numbers.
        """
        check_is_fitted(self)
        P = self._forward_output(X)
        P = P.detach().cpu().numpy() if isinstance(P, Tensor) else P
        if self.n_outputs_ == 1:
            P = P.ravel()
        return self._labels_out(self._label_binarizer.inverse_transform(P), X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, BaseMLP):
    __doc__ = f"""Multi-layer perceptron regressor (half squared error or Poisson) on any PyTorch device.

    scikit-learn's :class:`sklearn.neural_network.MLPRegressor`: the same
    parameters, losses, penalty, initialization, update rules and stopping rules,
    trained by a PyTorch loop on ``device``.

    Parameters
    ----------
    loss : {{"squared_error", "poisson"}}, default="squared_error"
        Half squared error with an identity output, or half Poisson deviance with an
        exponential output (log link; y >= 0).
{PARAMETERS}
    Attributes
    ----------
{ATTRIBUTES}
{NOTES}
    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.preprocessing import StandardScaler
    >>> from gpuml.neural_network import MLPRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> reg = MLPRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=300,
    ...                    random_state=0, device="cpu").fit(X, y / 100)
    >>> reg.predict(X[:3]).shape, reg.score(X, y / 100) > 0.5
    ((3,), True)
    """

    _parameter_constraints: dict = {**sklearn_class("MLPRegressor")._parameter_constraints,
                                    **BaseMLP._GPUML_CONSTRAINTS}

    def __init__(
        self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
        alpha=0.0001, batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
        max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
        momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9,
        beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000, device=None, precision="auto",
    ):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.device = device
        self.precision = precision

    def _loss_kind(self) -> str:
        return self.loss

    def _targets(self, y, incremental: bool):
        """y -> (n, n_outputs) float targets (NumPy, or a tensor where y is one)."""
        if not isinstance(y, Tensor) and y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and bool((y < 0).any()):
            raise ValueError("loss='poisson' requires y >= 0.")
        return y.reshape(len(y), -1)

    def _encode(self, y: np.ndarray) -> np.ndarray:
        """A streamed chunk's targets -> (r, n_outputs)."""
        return self._targets(y, True)

    def _stream_outputs(self, source) -> int:
        return source.n_targets

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Fit the network to X and y.

        Parameters
        ----------
        X : array-like, Tensor or gpuml.data source of shape (n_samples, n_features)
            A source (with a target) is trained on in memory when it fits, else streamed:
            see the Notes.
        y : array-like or Tensor of shape (n_samples,) or (n_samples, n_outputs)
            None when X is a source.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : MLPRegressor
        """
        if self._delegated_early(X, y, sample_weight=sample_weight):
            return self
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """One epoch over X and y, continuing from the current weights and optimizer.

        Parameters
        ----------
        X : array-like, Tensor or gpuml.data source of shape (n_samples, n_features)
        y : array-like or Tensor of shape (n_samples,) or (n_samples, n_outputs)
            None when X is a source.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : MLPRegressor
        """
        if self._partial_fell_back(X, y, sample_weight=sample_weight):
            return self
        return self._fit(X, y, sample_weight, incremental=True)

    @delegable
    def predict(self, X):
        """Predicted values.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray or Tensor of shape (n_samples,) or (n_samples, n_outputs)
        """
        check_is_fitted(self)
        P = self._forward_output(X)
        return P.reshape(-1) if P.shape[1] == 1 else P
