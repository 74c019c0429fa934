"""LogisticRegression: L-BFGS whose loss and gradient are one pass over row chunks."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Hidden, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from torch import Tensor

from .._sklearn import sklearn_class
from .._support import Support, one_of, when
from ..base import GpumlEstimator, delegable, numpy_dtype, to_numpy
from ..data import Source, WithTargets, read_targets, run_pass
from ..device import accumulator_dtype
from ..ops import AbsColumnMeans, LabelTotals, LogisticLoss
from ._base import linear_scores
from ._lbfgs import minimize_lbfgs

#: The solvers gpuml runs: scikit-learn's L-BFGS, iteration for iteration (the same options,
#: n_iter_ and ConvergenceWarning). newton-cg, newton-cholesky, sag and saga converge to the same
#: optimum, but a max_iter, tol or warm start stops them elsewhere than L-BFGS (their own n_iter_
#: and warnings): they run on scikit-learn; liblinear penalizes the intercept (another problem).
_SOLVERS = ("lbfgs",)


def _penalty(p: dict) -> str | None:
    """The penalty scikit-learn (>= 1.8) fits with these parameters: "l2", "l1",
    "elasticnet" or None (no penalty)."""
    if p["penalty"] != "deprecated":
        return p["penalty"]
    if p["C"] == np.inf:
        return None
    r = p["l1_ratio"]
    return "l2" if r is None or r == 0 else "l1" if r == 1 else "elasticnet"


def _l2_only(p: dict) -> bool:
    pen = _penalty(p)
    return pen is None or (pen == "l2" and (p["l1_ratio"] is None or p["l1_ratio"] == 0))



#: Whether the installed scikit-learn has deprecated ``penalty`` (1.8+: its default is "deprecated").
_SK_DEPRECATES_PENALTY = (
    inspect.signature(sklearn_class("LogisticRegression").__init__).parameters["penalty"].default == "deprecated")

class LogisticRegression(GpumlEstimator, ClassifierMixin, BaseEstimator):
    """Logistic regression (binary and multinomial, L2 or no penalty) on any PyTorch device.

    scikit-learn's :class:`sklearn.linear_model.LogisticRegression` with its
    "lbfgs" solver: it minimizes the same objective,
    ``mean_s(loss) + ||W||² / (2 C Σs)`` (sample weights s include class weights),
    by scipy's L-BFGS-B with scikit-learn's options, whose loss and gradient are one
    pass over row chunks (float64 sums): convergence, ``n_iter_`` and the
    ConvergenceWarning are scikit-learn's. On float32 data the products ``X @ W`` run in
    float32 while their rounding is well below ``tol`` (not for offset or badly scaled
    features), and the last iterations, which decide convergence, in float64 (also every
    pass where float32 products overflow). Two classes fit one coefficient row; more fit
    the multinomial model.

    Parameters
    ----------
    penalty : {"l2", None}, default="deprecated"
        As in scikit-learn 1.8+: leave it and use ``C=np.inf`` for no penalty.
    C : float, default=1.0
        Inverse regularization strength; ``np.inf`` means no penalty.
    l1_ratio : float, default=0.0
        0 (pure L2) runs on gpuml; an L1 or elastic-net penalty on scikit-learn (see Notes).
    dual : bool, default=False
        True (liblinear's dual formulation) runs on scikit-learn.
    tol : float, default=1e-4
        Stop when the largest gradient entry is at most ``tol`` (or, as in scipy, when the
        loss stops decreasing by more than 64 float64 epsilons, relatively).
    fit_intercept : bool, default=True
    intercept_scaling : float, default=1
        Kept for compatibility (used by scikit-learn's liblinear only).
    class_weight : dict or "balanced", default=None
    random_state : int, RandomState instance or None, default=None
        Kept for compatibility (the solver is deterministic).
    solver : {"lbfgs", "newton-cg", "newton-cholesky", "sag", "saga", "liblinear"}, default="lbfgs"
        "lbfgs" runs on gpuml; the others on scikit-learn (see Notes).
    max_iter : int, default=100
    verbose : int, default=0
    warm_start : bool, default=False
        Start from the previous fit's coefficients.
    n_jobs : int, default=None
        Kept for compatibility; parallelism comes from the device.
    device : str or torch.device, default=None
        Where to compute; None follows ``gpuml.get_config()["device"]`` ("auto").

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
    intercept_ : ndarray of shape (1,) or (n_classes,)
    n_iter_ : ndarray of shape (1,)
    n_features_in_ : int

    Notes
    -----
    gpuml computes natively: dense input; the L2 penalty (``l1_ratio=0``) or none
    (``C=np.inf``, ``penalty=None``), also through the deprecated ``penalty="l2"`` (with
    scikit-learn's warnings); ``dual=False``; ``solver="lbfgs"``; ``class_weight``,
    ``sample_weight``, ``warm_start``. Runs on scikit-learn instead (``device="auto"`` or
    ``gpuml.accel``; an :class:`gpuml.UnsupportedError` with an explicit device or fallback
    off): an L1 or elastic-net penalty, ``dual=True``, the solvers "newton-cg",
    "newton-cholesky", "sag", "saga" (they reach the same optimum, but where a ``max_iter``,
    ``tol`` or warm start stops them, and their ``n_iter_`` and warnings, are their own) and
    "liblinear" (it penalizes the intercept), and sparse input.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from gpuml.linear_model import LogisticRegression
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=500, device="cpu").fit(X, y)
    >>> clf.predict(X[:2]), round(clf.score(X, y), 2)
    (array([0, 0]), 0.97)
    """

    _parameter_constraints = {**sklearn_class("LogisticRegression")._parameter_constraints,
                              "device": [None, str, torch.device]}
    if not _SK_DEPRECATES_PENALTY:  # scikit-learn < 1.8: gpuml's default "deprecated" means l1_ratio's
        _parameter_constraints["penalty"] = [*_parameter_constraints["penalty"], Hidden(StrOptions({"deprecated"}))]

    #: gpuml minimizes the L2 (or unpenalized) objective by L-BFGS; the solvers that converge to
    #: the same optimum are accepted. L1 / elastic-net, dual=True and liblinear (whose objective
    #: penalizes the intercept) run on scikit-learn.
    _support = Support(
        when(_l2_only, lambda p: f"penalty={_penalty(p)!r} (l1_ratio={p['l1_ratio']!r}; gpuml "
                                 "supports the L2 penalty, l1_ratio=0, or none, C=np.inf)"),
        one_of("dual", False),
        one_of("solver", *_SOLVERS),
    )

    def __init__(
        self, penalty="deprecated", *, C=1.0, l1_ratio=0.0, dual=False, tol=1e-4, fit_intercept=True,
        intercept_scaling=1, class_weight=None, random_state=None, solver="lbfgs", max_iter=100,
        verbose=0, warm_start=False, n_jobs=None, device=None,
    ):
        self.penalty = penalty
        self.C = C
        self.l1_ratio = l1_ratio
        self.dual = dual
        self.tol = tol
        self.fit_intercept = fit_intercept
        self.intercept_scaling = intercept_scaling
        self.class_weight = class_weight
        self.random_state = random_state
        self.solver = solver
        self.max_iter = max_iter
        self.verbose = verbose
        self.warm_start = warm_start
        self.n_jobs = n_jobs
        self.device = device

    _delegates_to_sklearn = True

    def _work(self, n: int, d: int) -> tuple[float, float]:
        k = getattr(self, "_n_classes_seen", 2)
        k = 1 if k == 2 else k
        return 4.0 * n * d * k, 1.2 * min(self.max_iter, 60)

    def _inverse_strength(self) -> float:
        """C as scikit-learn fits it (np.inf: no penalty), with scikit-learn's warnings (in its
        order) about the deprecated ``penalty``, ``l1_ratio`` and ``n_jobs``."""
        pen = _penalty(self.get_params(deep=False))
        if not _SK_DEPRECATES_PENALTY:
            pass  # this scikit-learn has not deprecated penalty (< 1.8): none of 1.8's warnings
        elif self.penalty == "deprecated":
            if self.l1_ratio is None:
                warnings.warn("'l1_ratio=None' was deprecated in version 1.8 and will trigger an error "
                              "in 1.10. Use 0<=l1_ratio<=1 instead.", FutureWarning, stacklevel=3)
        else:
            warnings.warn(
                "'penalty' was deprecated in version 1.8 and will be removed in 1.10. To avoid this "
                "warning, leave 'penalty' set to its default value and use 'l1_ratio' or 'C' instead. "
                "Use l1_ratio=0 instead of penalty='l2', l1_ratio=1 instead of penalty='l1', l1_ratio "
                "set to a float between 0 and 1 instead of penalty='elasticnet', and C=np.inf instead "
                "of penalty=None.", FutureWarning, stacklevel=3)
        if pen != "elasticnet" and self.l1_ratio is not None and 0 < self.l1_ratio < 1:
            warnings.warn(f"l1_ratio parameter is only used when penalty is 'elasticnet'. Got (penalty={pen})",
                          stacklevel=3)
        if self.penalty == "l2" and self.l1_ratio != 0:
            warnings.warn(f"Inconsistent values: penalty={self.penalty} with l1_ratio={self.l1_ratio}. "
                          "penalty is deprecated. Please use l1_ratio only.", stacklevel=3)
        if self.penalty is None and self.C != 1.0:
            warnings.warn("Setting penalty=None will ignore the C and l1_ratio parameters", stacklevel=3)
        if self.n_jobs is not None:
            warnings.warn("'n_jobs' has no effect since 1.8 and will be removed in 1.10. You provided "
                          f"'n_jobs={self.n_jobs}', please leave it unspecified.", FutureWarning, stacklevel=3)
        return np.inf if pen is None else float(self.C)

    def _import_state(self, state: dict) -> None:
        """scikit-learn's fitted state; a ``sparsify()``'d ``coef_`` is made dense again."""
        super()._import_state(state)
        coef = self.__dict__.get("coef_")
        if coef is not None and hasattr(coef, "toarray"):
            self.coef_ = coef.toarray()

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Fit the model by L-BFGS.

        Parameters
        ----------
        X : array-like, Tensor or gpuml.data source of shape (n_samples, n_features)
        y : array-like or Tensor of shape (n_samples,)
            Targets; None when X is a source created with a target.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : LogisticRegression
        """
        self.__dict__.pop("_n_classes_seen", None)  # the cost model's K: never the previous fit's
        if type(X) is np.ndarray and y is not None:  # an early decision (before validation) needs it
            try:
                self._n_classes_seen = len(np.unique(np.asarray(y)))
            except (TypeError, ValueError):
                pass  # labels validation will reject; the model assumes two classes meanwhile
        if self._delegated_early(X, y, sample_weight=sample_weight):
            return self
        C = self._inverse_strength()
        X, y = self._validate(X, y, reset=True)
        w = self._sample_weight(sample_weight, X)
        if isinstance(X, Source):
            y = read_targets(X)  # the labels (n values) are read once to find the classes
        if isinstance(y, Tensor):
            classes, codes = torch.unique(y, return_inverse=True)
            classes = to_numpy(classes)
        else:
            check_classification_targets(y)
            classes, codes = np.unique(y, return_inverse=True)
        if len(classes) == 0:  # a source with no rows (arrays are refused by validation)
            raise ValueError(f"Found array with 0 sample(s) (shape=(0, {self.n_features_in_})) while a "
                             "minimum of 1 is required by LogisticRegression.")
        if len(classes) < 2:
            raise ValueError(
                "This solver needs samples of at least 2 classes in the data, but the data "
                f"contains only one class: {classes[0]!r}"
            )
        self._n_classes_seen = len(classes)
        device = self._decide(X)
        if self.engine_ == "sklearn":
            return self._fit_sklearn(X, y, sample_weight=sample_weight)
        acc = accumulator_dtype(device)
        codes = torch.as_tensor(codes, device=device if isinstance(y, Tensor) else "cpu")
        d = X.shape[1]
        K = 1 if len(classes) == 2 else len(classes)
        if isinstance(X, Source):
            src = self._source(WithTargets(X, codes), device, resident=True)
        else:
            src = self._source(X, device, y=codes, w=w, resident=True)
        # weighted count of each class: one pass for a source (its weights come with its rows),
        # none over X for labels and weights in memory
        totals = LabelTotals(len(classes), acc)
        if isinstance(X, Source):
            totals = run_pass(src, totals, device)
        else:
            totals = totals.update(totals.init(d, device), None, codes.to(device),
                                   None if w is None else torch.as_tensor(w, device=device))
        cw = self._class_weights(classes, totals, device, acc)
        sw_sum = float(totals.sum() if cw is None else (totals * cw).sum())  # Σ sample x class weight
        l2 = 0.0 if np.isinf(C) else 1.0 / (C * sw_sum)
        p = d + int(self.fit_intercept)
        np_dtype = numpy_dtype(X)
        narrow = np_dtype != np.float64 and acc == torch.float64  # float32 X on a float64 device
        if narrow:  # float32 products first only if their rounding is well below tol (not offset or scaled data)
            sums = run_pass(src, AbsColumnMeans(acc), device)  # (d + 1,)
            narrow = 10 * torch.finfo(torch.float32).eps * float((sums[:-1] / sums[-1]).max()) <= self.tol
        cast: list[torch.dtype | None] = [None]  # the dtype of X @ W in the rough passes

        def unpack(theta: Tensor) -> tuple[Tensor, Tensor]:
            T = theta.reshape(K, p)
            b = T[:, d] if self.fit_intercept else torch.zeros(K, dtype=acc, device=device)
            return T[:, :d], b

        def evaluate(theta: Tensor, dtype: torch.dtype | None) -> tuple[Tensor, Tensor]:
            W, b = unpack(theta)
            st = run_pass(src, LogisticLoss(W, b, cw), device, dtype=dtype)
            loss = st.loss / sw_sum + 0.5 * l2 * (W * W).sum()
            gW = st.grad_W / sw_sum + l2 * W
            grad = torch.cat([gW, st.grad_b[:, None] / sw_sum], 1) if self.fit_intercept else gW
            return loss, grad.reshape(-1)

        def rough(theta: Tensor) -> tuple[Tensor, Tensor]:
            """X @ W in float32 (fast); where those products overflow (data near 1e37), this
            evaluation and every later one in float64."""
            loss, grad = evaluate(theta, cast[0])
            if cast[0] is None and not bool(torch.isfinite(grad).all() & loss.isfinite()):
                cast[0] = acc
                loss, grad = evaluate(theta, acc)
            return loss, grad

        theta0 = torch.zeros(K * p, dtype=acc, device=device)
        if self.warm_start and hasattr(self, "coef_") and self.coef_.shape == (K, d):
            start = np.hstack([self.coef_, self.intercept_[:, None]]) if self.fit_intercept else self.coef_
            theta0 = torch.as_tensor(start, dtype=acc, device=device).reshape(-1)
        # float32 X: L-BFGS on float32 products first, judged and finished on float64 ones
        theta, n_iter = minimize_lbfgs(lambda t: evaluate(t, acc), theta0, max_iter=self.max_iter, tol=self.tol,
                                       rough=rough if narrow else None)
        W, b = unpack(theta)
        self._reset_cache()
        self.classes_ = classes
        self.coef_ = to_numpy(W).astype(np_dtype)
        self.intercept_ = to_numpy(b).astype(np_dtype)
        self.n_iter_ = np.array([n_iter], dtype=np.int32)
        return self

    def _class_weights(self, classes: np.ndarray, totals: Tensor, device, acc) -> Tensor | None:
        """One weight per class from ``class_weight``, as scikit-learn >= 1.6 computes them:
        "balanced" is ``Σs / (n_classes * Σ_class s)`` over the sample weights ``s``
        (``totals``: the weighted count of each class); a dict goes through
        :func:`sklearn.utils.class_weight.compute_class_weight` (its checks and errors)."""
        if self.class_weight is None:
            return None
        if self.class_weight == "balanced":
            return totals.sum() / (len(classes) * totals)
        cw = compute_class_weight(self.class_weight, classes=classes, y=classes)
        return torch.as_tensor(cw, dtype=acc, device=device)

    @delegable
    def decision_function(self, X):
        """Signed distance to the decision boundary (the logits).

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray or Tensor of shape (n_samples,) for two classes, else (n_samples, n_classes)
        """
        return linear_scores(self, X, one_column_as_vector=True)

    @delegable
    def predict_proba(self, X):
        """Class probabilities (sigmoid for two classes, softmax otherwise).

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray or Tensor of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        z = torch.as_tensor(self.decision_function(X))
        if z.ndim == 1:
            p1 = torch.sigmoid(z)
            proba = torch.stack([1 - p1, p1], 1)
        else:
            proba = torch.softmax(z, 1)
        return proba if isinstance(X, Tensor) else proba.numpy()

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
        check_is_fitted(self)
        z = torch.as_tensor(self.decision_function(X))
        if z.ndim == 1:
            logp = torch.stack([torch.nn.functional.logsigmoid(-z), torch.nn.functional.logsigmoid(z)], 1)
        else:
            logp = torch.log_softmax(z, 1)
        return logp if isinstance(X, Tensor) else logp.numpy()

    @delegable
    def predict(self, X):
        """Predict the class of each row.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,), or a Tensor on X's device for numeric classes
        """
        check_is_fitted(self)
        z = torch.as_tensor(self.decision_function(X))
        idx = (z > 0).long() if z.ndim == 1 else z.argmax(1)
        return self._labels_out(self.classes_[idx.cpu().numpy()], X)
