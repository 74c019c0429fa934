"""What MLPClassifier and MLPRegressor share: parameters, fit, partial_fit, the forward pass.

The bookkeeping follows scikit-learn's ``BaseMultilayerPerceptron`` line by line
(initialization drawn from ``RandomState(random_state)``, shuffles, early-stopping
split, ``_update_no_improvement_count``, learning-rate schedules, warnings), so a
fixed seed gives scikit-learn's draws and, in float64, its weights to rounding.
The numeric work is in ``_network`` (the math), ``_optim`` (the update rules),
``_train`` (data placement, micro-batches, out-of-memory recovery, the batch-size search)
and ``_stream`` (training from a ``gpuml.data`` source: in memory, or streamed in chunks).
"""

from __future__ import annotations

import time
import warnings
from numbers import Integral
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch import Tensor

from .._support import Support
from ..base import GpumlEstimator, numpy_dtype
from ..data import Source, plan_rows
from ..device import (
    accumulator_dtype,
    compute_context,
    memory_budget,
    resident_budget,
    resolve_device,
    supports_float64,
)
from ._network import Layout, Network, forward, to_module
from ._optim import SGD, Adam
from ._stream import StreamData, from_source
from ._train import TrainData, Trainer, Validation, place, run_lbfgs

_STOCHASTIC = ("sgd", "adam")
#: scikit-learn's private fitted state of an MLP beside the public attributes (and ``_optimizer``).
_PRIVATE = ("_label_binarizer", "_best_coefs", "_best_intercepts", "_no_improvement_count")


def _to_sklearn_optimizer(opt: Any, coefs: list, intercepts: list) -> Any:
    """gpuml's SGD or Adam as scikit-learn's optimizer object, with the same state."""
    from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer

    params = list(coefs) + list(intercepts)
    dtype = params[0].dtype

    def split(t: Any) -> list:
        if t is None:
            return [np.zeros_like(a) for a in params]
        flat = t.detach().cpu().numpy().astype(dtype, copy=False)
        out, pos = [], 0
        for a in params:
            out.append(flat[pos:pos + a.size].reshape(a.shape).copy())
            pos += a.size
        return out

    common = dict(learning_rate_init=opt.learning_rate_init, learning_rate=opt.learning_rate)
    if isinstance(opt, SGD):
        sk = SGDOptimizer.__new__(SGDOptimizer)
        sk.__dict__.update(common, lr_schedule=opt.lr_schedule, momentum=opt.momentum, nesterov=opt.nesterov,
                           power_t=opt.power_t, velocities=split(getattr(opt, "velocity", None)))
    else:
        sk = AdamOptimizer.__new__(AdamOptimizer)
        sk.__dict__.update(common, beta_1=opt.beta_1, beta_2=opt.beta_2, epsilon=opt.epsilon, t=opt.t,
                           ms=split(getattr(opt, "ms", None)), vs=split(getattr(opt, "vs", None)))
    return sk


def _from_sklearn_optimizer(sk: Any) -> Any:
    """scikit-learn's SGDOptimizer or AdamOptimizer as gpuml's, with the same state."""
    flat = lambda arrays: torch.from_numpy(np.concatenate([np.ravel(a) for a in arrays]))  # noqa: E731
    if hasattr(sk, "velocities"):
        opt = SGD(sk.learning_rate_init, sk.lr_schedule, sk.momentum, sk.nesterov, sk.power_t)
        opt.velocity = flat(sk.velocities)
    else:
        opt = Adam(sk.learning_rate_init, sk.beta_1, sk.beta_2, sk.epsilon)
        opt.t, opt.ms, opt.vs = sk.t, flat(sk.ms), flat(sk.vs)
    opt.learning_rate = float(sk.learning_rate)
    return opt


def lowp_dtype(device: torch.device) -> torch.dtype | None:
    """The reduced-precision activation dtype of ``precision="auto"`` on ``device``, or None.

    bfloat16 on CUDA devices that support it natively (``torch.cuda.is_bf16_supported``
    without emulation, asked of this device: compute capability 8.0 or later, or ROCm);
    elsewhere float32 throughout.
    """
    if device.type != "cuda":
        return None
    if getattr(torch.version, "hip", None) or torch.cuda.get_device_properties(device).major >= 8:
        return torch.bfloat16
    return None


def _as_tensor(a: Any) -> Tensor:
    """A host array or a tensor as a tensor (host arrays without a copy)."""
    if isinstance(a, Tensor):
        return a.detach()
    with warnings.catch_warnings():  # read-only arrays: never written to
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(np.asarray(a))


class BaseMLP(GpumlEstimator, BaseEstimator):
    """Base class of the multi-layer perceptrons; use MLPClassifier or MLPRegressor."""

    _support = Support()  # every parameter value; dense input (sparse runs on scikit-learn)

    #: gpuml-only parameters and values beside scikit-learn's constraints (each class sets its own)
    _GPUML_CONSTRAINTS: dict = {
        "batch_size": [StrOptions({"auto", "max"}), Interval(Integral, 1, None, closed="left")],
        "device": [None, str, torch.device],
        "precision": [StrOptions({"auto", "float32", "float64"})],
    }

    # -- fitted state shared with scikit-learn --------------------------------------------
    def _export_state(self) -> dict:
        """The public attributes and scikit-learn's private training state: the label binarizer,
        the best weights of early stopping, the no-improvement count and the optimizer as
        scikit-learn's own (its moments split per layer), so that scikit-learn's
        ``partial_fit`` continues where gpuml's stopped."""
        state = super()._export_state()
        if self.__dict__.get("_sklearn_fitted") is not None:
            return state
        for name in _PRIVATE:
            if name in self.__dict__:
                state[name] = self.__dict__[name]
        opt = self.__dict__.get("_optimizer")
        if opt is not None and "coefs_" in self.__dict__:
            state["_optimizer"] = _to_sklearn_optimizer(opt, self.coefs_, self.intercepts_)
        if self.solver == "lbfgs" and "coefs_" in self.__dict__:  # the layout of scikit-learn's flat vector
            shapes, coef, icpt, start = [c.shape for c in self.coefs_], [], [], 0
            for shape in shapes:
                coef.append((start, start + shape[0] * shape[1], shape))
                start += shape[0] * shape[1]
            for shape in shapes:
                icpt.append((start, start + shape[1]))
                start += shape[1]
            state["_coef_indptr"], state["_intercept_indptr"] = coef, icpt
        return state

    def _import_state(self, state: dict) -> None:
        """scikit-learn's fitted state, its optimizer as gpuml's (the moments as one flat vector)."""
        super()._import_state(state)
        for name in (*_PRIVATE, "_optimizer"):
            self.__dict__.pop(name, None)
            if name in state:
                self.__dict__[name] = state[name]
        opt = self.__dict__.get("_optimizer")
        if opt is not None and not isinstance(opt, (SGD, Adam)):
            self._optimizer = _from_sklearn_optimizer(opt)

    def _partial_fell_back(self, X: Any, y: Any, **fit_params: Any) -> bool:
        """``partial_fit`` of a call gpuml does not compute (``_support``): scikit-learn's
        ``partial_fit``, continuing from this estimator's state, when fallback may run it (True);
        an UnsupportedError when it may not; False when gpuml computes it."""
        reason = self._unsupported(X)
        if reason is None:
            return False
        if not self._may_fall_back():
            self._refuse(reason)
        est = self.__dict__.get("_sklearn_fitted")
        if est is None:
            est = self.as_sklearn()
        est.set_params(**self._sklearn_params())
        fit_params = {k: (v.detach().cpu().numpy() if isinstance(v, Tensor) else v)
                      for k, v in fit_params.items() if v is not None}  # 1.6's partial_fit has no sample_weight
        est.partial_fit(X, y.detach().cpu().numpy() if isinstance(y, Tensor) else y, **fit_params)
        self._import_state(vars(est))
        self._sklearn_fitted = est  # predictions on NumPy data go to it too (``delegable``)
        self.device_, self.engine_ = "cpu", "sklearn"
        self.engine_reason_ = f"cpu/sklearn: gpuml does not compute {reason}"
        return True

    # -- subclass hooks ---------------------------------------------------------------
    def _loss_kind(self) -> str:
        raise NotImplementedError

    def _targets(self, y: Any, incremental: bool) -> Any:
        """y -> the 2-D targets (n, n_outputs) the network fits (NumPy or a tensor)."""
        raise NotImplementedError

    # -- helpers ----------------------------------------------------------------------
    def _hidden_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        if np.any(np.array(sizes) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        return [int(s) for s in sizes]

    def _precisions(self, device: torch.device, data: np.dtype | None = None) -> tuple[torch.dtype, torch.dtype]:
        """(parameters' dtype, activations' dtype) for training: "auto" trains float64 data in
        float64 on the CPU (scikit-learn's arithmetic; an accelerator's speed is float32's)."""
        low = lowp_dtype(device) if self.precision == "auto" else None
        auto64 = self.precision == "auto" and low is None and device.type == "cpu" and data == np.float64
        if self.precision == "float64" or auto64:
            if not supports_float64(device):
                raise TypeError(f"{device.type} has no float64; use precision='float32' or 'auto'.")
            return torch.float64, torch.float64
        return torch.float32, low or torch.float32

    def _check_solver(self) -> bool:
        if self.solver not in _STOCHASTIC:
            raise AttributeError(
                f"partial_fit is only available for stochastic optimizers. {self.solver} is not stochastic."
            )
        return True

    def _initialize(self, units: list[int], rs: np.random.RandomState, dtype: np.dtype) -> None:
        """First fit: scikit-learn's attributes and its Glorot-uniform draws, in its order."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = units[-1]
        self.n_layers_ = len(units)
        if not is_classifier(self):
            self.out_activation_ = "exp" if self._loss_kind() == "poisson" else "identity"
        elif self._label_binarizer.y_type_ == "multiclass":
            self.out_activation_ = "softmax"
        else:
            self.out_activation_ = "logistic"
        factor = 2.0 if self.activation == "logistic" else 6.0
        self.coefs_, self.intercepts_ = [], []
        for fan_in, fan_out in zip(units[:-1], units[1:]):
            bound = np.sqrt(factor / (fan_in + fan_out))
            self.coefs_.append(rs.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype, copy=False))
            self.intercepts_.append(rs.uniform(-bound, bound, fan_out).astype(dtype, copy=False))
        self._best_coefs = [c.copy() for c in self.coefs_]
        self._best_intercepts = [b.copy() for b in self.intercepts_]
        if self.solver in _STOCHASTIC:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _pack(self, coefs: list, intercepts: list, like: Tensor) -> Tensor:
        flat = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in list(coefs) + list(intercepts)])
        return torch.as_tensor(flat, dtype=like.dtype).to(like.device)

    def _unpack(self, theta: Tensor, layout: Layout, dtype: np.dtype) -> tuple[list, list]:
        Ws, bs = layout.views(theta.detach().cpu())
        return [W.numpy().astype(dtype) for W in Ws], [b.numpy().astype(dtype) for b in bs]

    # -- fit --------------------------------------------------------------------------
    def _record_engine(self) -> None:
        """A fit on gpuml: predictions no longer go to a scikit-learn fit; ``device_``,
        ``engine_`` and ``engine_reason_`` say where it runs."""
        self.__dict__.pop("_sklearn_fitted", None)
        if self.__dict__.get("engine_") == "sklearn":
            self.__dict__.pop("device_", None)  # the last fit's "cpu" is no choice of device
        spec = self._device_spec()
        dev = self._device()
        auto = isinstance(spec, str) and spec == "auto"
        why = "device='auto'" if auto else f"asked for explicitly (device={str(spec)!r})"
        self.device_, self.engine_, self.engine_reason_ = str(dev), "gpuml", f"{dev}/gpuml: {why}"

    def _fit(self, X: Any, y: Any, sample_weight: Any = None, incremental: bool = False):
        hidden = self._hidden_sizes()
        self._record_engine()
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        if isinstance(X, np.memmap):
            X = np.asarray(X)  # a plain view: training needs random access to rows
        if isinstance(X, Source):
            X, _ = self._validate(X, y, reset=first_pass)  # a target, the number of features
            self._sample_weight(sample_weight, X)  # weights come from the source: an error if given
            X, y, w = from_source(self, X, self._device(), incremental)  # in memory, or a StreamData
        else:
            X, y = self._validate(X, y, reset=first_pass, multi_output=True, y_numeric=not is_classifier(self))
            w = self._sample_weight(sample_weight, X)
        stream = X if isinstance(X, StreamData) else None
        if stream is None:
            Y = self._targets(y, incremental)
            n, d = X.shape
            self.n_outputs_ = int(Y.shape[1])
        else:
            Y, n, d = None, stream.n, stream.n_features
            self.n_outputs_ = stream.n_outputs
        units = [d, *hidden, self.n_outputs_]
        rs = check_random_state(self.random_state)
        np_dtype = numpy_dtype(X)
        if first_pass:
            self._initialize(units, rs, np_dtype)
        elif [c.shape for c in self.coefs_] != list(zip(units[:-1], units[1:])):
            raise ValueError(
                f"The network's layer sizes {units} differ from the fitted ones "
                f"{[self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]}; "
                "fit again with warm_start=False."
            )
        device = self._device()
        master, compute = self._precisions(device, np_dtype)
        layout = Layout(units)
        with torch.no_grad(), compute_context(device):
            budget = memory_budget(device)  # measured before the network and the data take their share
            net = Network(layout, self.activation, self.out_activation_, self._loss_kind(), master, compute, device)
            net.theta.copy_(self._pack(self.coefs_, self.intercepts_, net.theta))
            if stream is None:
                Xt, Yt, wt, moved = place(_as_tensor(X), _as_tensor(Y), None if w is None else _as_tensor(w),
                                          device, compute, resident_budget(device))
                data, share = TrainData(Xt, Yt, wt, device), budget
            else:  # half of the budget goes to the chunks being read, copied and trained on
                data, moved, share = stream, 0, budget // 4
            copies = 3 if self.solver in _STOCHASTIC else 24  # optimizer state, best weights / L-BFGS history
            fixed = 0 if device.type == "cpu" else moved + net.state_bytes(copies)
            act_budget = max(share - fixed, net.bytes_per_row())
            if self.solver in _STOCHASTIC:
                self._fit_stochastic(net, data, Y, n, rs, incremental, act_budget)
            else:
                trainer = Trainer(net, data, self.alpha, plan_rows(act_budget, net.bytes_per_row(), n),
                                  bool(self.verbose))
                self.batch_size_ = n
                self.n_iter_, self.loss_ = run_lbfgs(trainer, max_iter=self.max_iter, max_fun=self.max_fun,
                                                     tol=self.tol, verbose=bool(self.verbose))
            self._reset_cache()
            self.coefs_, self.intercepts_ = self._unpack(net.theta, layout, np_dtype)
        if not all(np.isfinite(a).all() for a in self.coefs_ + self.intercepts_):
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may"
                " contain large values and need to be preprocessed."
            )
        return self

    def _make_optimizer(self):
        if self.solver == "sgd":
            return SGD(self.learning_rate_init, self.learning_rate, self.momentum, self.nesterovs_momentum,
                       self.power_t)
        return Adam(self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon)

    def _fit_stochastic(self, net: Network, data: TrainData, Y: Any, n: int, rs: np.random.RandomState,
                        incremental: bool, budget: int) -> None:
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = self._make_optimizer()
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        acc = accumulator_dtype(net.device)
        val = None
        if early_stopping:
            stratify = None
            if is_classifier(self) and self.n_outputs_ == 1:  # as scikit-learn: binary targets only
                stratify = Y.cpu().numpy() if isinstance(Y, Tensor) else Y
            train_idx, val_idx = train_test_split(np.arange(n), random_state=rs,
                                                  test_size=self.validation_fraction, stratify=stratify)
            if len(val_idx) < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' "
                    "or the size of your dataset."
                )
            kind = "accuracy" if is_classifier(self) else "r2"
            val = Validation(data.subset(val_idx), kind, net.master, acc, budget)
            data = data.subset(train_idx)
            if self.best_validation_score_ is None:  # warm start after a fit without early stopping
                self.validation_scores_, self.best_validation_score_, self.best_loss_ = [], -np.inf, None
        n_train = data.n
        trainer = Trainer(net, data, self.alpha, 1, bool(self.verbose))
        batch = self._batch_size(trainer, n_train, incremental, budget)
        # "max" found a batch that fits in one piece; others are micro-batched to the budget
        trainer.rows = batch if self.batch_size == "max" else plan_rows(budget, net.bytes_per_row(), batch)
        best = self._pack(self._best_coefs, self._best_intercepts, net.theta) if early_stopping else None
        single_class = is_classifier(self) and len(self.classes_) == 1
        total = torch.zeros((), dtype=acc, device=net.device)
        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                start = time.perf_counter()
                total.zero_()
                n_train = data.epoch(trainer, self._optimizer, batch, rs if self.shuffle else None, total)
                self.n_iter_ += 1
                self.loss_ = float(total) / n_train
                self.t_ += n_train
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    rate = n_train / max(time.perf_counter() - start, 1e-9)
                    print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}, {rate:,.0f} samples/s")
                self._update_no_improvement_count(net, val, best, single_class)
                self._optimizer.iteration_ends(self.t_)
                if self._no_improvement_count > self.n_iter_no_change:
                    what = "Validation score" if early_stopping else "Training loss"
                    msg = (f"{what} did not improve more than tol={self.tol:f} for "
                           f"{self.n_iter_no_change} consecutive epochs.")
                    if self._optimizer.trigger_stopping(msg, self.verbose):
                        break
                    self._no_improvement_count = 0
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(
                        f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                        "optimization hasn't converged yet.",
                        ConvergenceWarning,
                        stacklevel=3,
                    )
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=3)
        if early_stopping:
            net.theta.copy_(best)
            self._best_coefs, self._best_intercepts = self._unpack(best, net.layout, self.coefs_[0].dtype)

    def _batch_size(self, trainer: Trainer, n: int, incremental: bool, budget: int) -> int:
        if self.batch_size == "auto":
            batch = min(200, n)
        elif self.batch_size == "max":
            known = getattr(self, "batch_size_", None) if incremental else None
            batch = min(known, n) if known else trainer.data.max_batch(trainer, budget)
        else:
            if self.batch_size > n:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
                    stacklevel=4,
                )
            batch = int(np.clip(self.batch_size, 1, n))
        self.batch_size_ = batch
        return batch

    def _update_no_improvement_count(self, net: Network, val: Validation | None, best: Tensor | None,
                                     single_class: bool) -> None:
        if val is not None:
            score = val.score(net, single_class)
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                best.copy_(net.theta)
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    # -- predict ----------------------------------------------------------------------
    def _device_params(self, device: torch.device, dtype: torch.dtype) -> tuple[list[Tensor], list[Tensor]]:
        cache = self.__dict__.setdefault("_dev_cache", {})
        key = ("mlp", str(device), dtype)
        if key not in cache:
            cache[key] = ([torch.as_tensor(W, dtype=dtype).to(device) for W in self.coefs_],
                          [torch.as_tensor(b, dtype=dtype).to(device) for b in self.intercepts_])
        return cache[key]

    def _forward_output(self, X: Any) -> Any:
        """The network's output (n, n_outputs) for X, in X's type and float dtype."""
        X = self._check_predict(X)
        device = self._device()
        dtype = self._dtype(X, device)
        Ws, bs = self._device_params(device, dtype)
        units = [self.n_features_in_] + [W.shape[1] for W in Ws]
        per_row = torch.empty((), dtype=dtype).element_size() * (units[0] + 3 * max(units[1:]))
        return self._map_rows(X, lambda c: forward(Ws, bs, c, self.activation, self.out_activation_), per_row)

    def to_torch(self, device: Any = None) -> torch.nn.Sequential:
        """The trained network as a ``torch.nn.Sequential`` (weights copied).

        Linear layers with the hidden activation between them and the output
        activation last (softmax, sigmoid, exp or none): its output for a batch is
        what ``predict_proba`` and ``predict`` are computed from (for a binary
        classifier, the probability of ``classes_[1]``, shape (n, 1)).

        Parameters
        ----------
        device : str or torch.device, default=None
            Where to put the module; None: the estimator's device.

        Returns
        -------
        module : torch.nn.Sequential
            In the dtype of ``coefs_`` (float32 on devices without float64).
        """
        check_is_fitted(self)
        dev = self._device() if device is None else resolve_device(device)
        dtype = torch.from_numpy(np.empty(0, dtype=self.coefs_[0].dtype)).dtype
        if dtype == torch.float64 and not supports_float64(dev):
            dtype = torch.float32
        return to_module(self.coefs_, self.intercepts_, self.activation, self.out_activation_, dev, dtype)
