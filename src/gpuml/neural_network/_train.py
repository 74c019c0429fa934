"""The training machinery: where the rows live, micro-batched gradients with
out-of-memory recovery, the ``batch_size="max"`` search, epochs and L-BFGS.

- **Where the rows live.** A tensor already on the device stays there. Host data
  (NumPy, pandas, CPU tensors) is copied to an accelerator once when it takes at
  most half the memory budget; otherwise each batch's rows are gathered on the host
  and copied per step (through pinned memory on CUDA). On the CPU the host arrays
  are used in place.
- **Micro-batches.** A batch whose activations do not fit the memory budget is
  computed as micro-batches whose loss and gradient sums are added up before the
  one update: the same step, less memory. An out-of-memory error during a step
  (``torch.OutOfMemoryError``, or ``MemoryError`` on the CPU) halves the
  micro-batch and redoes that step; the smaller size is kept from then on.
- **No host synchronization per step**: batch indices, weight sums, the loss
  accumulator and the learning rates need none; the loss is read once per epoch.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import shuffle
from torch import Tensor

from ..data import plan_rows
from ..device import DeviceMemoryError, attempt, release_cached, retry_smaller
from ._network import Network, forward, grad_chunk

Ids = slice | Tensor
#: scipy's L-BFGS-B default relative tolerance on the loss change (scikit-learn's solver).
_FTOL = 2.220446049250313e-09
#: The largest batch found by the search is shrunk by this factor (allocator slack, other work).
SAFETY_MARGIN = 0.9


def _len(ids: Ids) -> int:
    return ids.stop - ids.start if isinstance(ids, slice) else len(ids)


def _sub(ids: Ids, s: int, e: int) -> Ids:
    return slice(ids.start + s, ids.start + e) if isinstance(ids, slice) else ids[s:e]


class TrainData:
    """Rows X (n, d), targets Y (n, n_outputs) and weights w (n,) and how a batch reaches the device.

    The tensors live on the device (resident) or on the CPU (copied per batch); ``rows``
    selects a subset (the training or validation part of an early-stopping split).
    """

    def __init__(self, X: Tensor, Y: Tensor, w: Tensor | None, device: torch.device,
                 rows: np.ndarray | None = None):
        self.X, self.Y, self.w, self.device = X, Y, w, device
        self.rows = None if rows is None else torch.as_tensor(rows, dtype=torch.long, device=X.device)
        self.n = int(X.shape[0]) if rows is None else len(rows)
        self.pin = device.type == "cuda" and X.device.type == "cpu"

    def subset(self, rows: np.ndarray) -> TrainData:
        return TrainData(self.X, self.Y, self.w, self.device, rows)

    def order(self, perm: np.ndarray) -> Tensor:
        """An epoch's row order (positions 0..n-1) on the rows' device: one copy per epoch."""
        return torch.from_numpy(np.ascontiguousarray(perm, dtype=np.int64)).to(self.X.device)

    def _take(self, a: Tensor, ids: Ids, dtype: torch.dtype) -> Tensor:
        if self.rows is not None:
            ids = self.rows[ids]
        part = a[ids] if isinstance(ids, slice) else a.index_select(0, ids)
        if self.pin:
            part = part.pin_memory()
        return part.to(self.device, dtype=dtype, non_blocking=self.pin)

    def fetch(self, ids: Ids, x_dtype: torch.dtype, y_dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor | None]:
        """The rows ``ids`` (a slice or positions) on the device."""
        w = None if self.w is None else self._take(self.w, ids, y_dtype)
        return self._take(self.X, ids, x_dtype), self._take(self.Y, ids, y_dtype), w

    def weight_sum(self, ids: Ids, dtype: torch.dtype) -> float | Tensor:
        """Σw of the rows ``ids`` (their number when unweighted), without a host synchronization."""
        if self.w is None:
            return float(_len(ids))
        return self._take(self.w, ids, dtype).sum()

    # the interface the estimator trains through (``_stream.StreamData`` is the other kind)
    def epoch(self, trainer: Trainer, optimizer, batch: int, rs: np.random.RandomState | None,
              total: Tensor) -> int:
        """One epoch of steps (rows shuffled by ``rs`` as scikit-learn does; None: in order); its rows."""
        order = None
        if rs is not None:
            self._perm = shuffle(getattr(self, "_perm", np.arange(self.n)), random_state=rs)
            order = self.order(self._perm)
        trainer.epoch(optimizer, batch, order, total)
        return self.n

    def full_gradient(self, trainer: Trainer) -> Tensor:
        """Loss (and, in ``net.grad``, gradient) of all the rows: L-BFGS's objective."""
        return trainer.gradient(slice(0, self.n))

    def max_batch(self, trainer: Trainer, budget: int) -> int:
        """``batch_size="max"``: found by trial steps."""
        return find_batch_size(trainer, budget)


def place(X: Tensor, Y: Tensor, w: Tensor | None, device: torch.device, compute: torch.dtype,
          budget: int) -> tuple[Tensor, Tensor, Tensor | None, int]:
    """Keep the rows on the device when they are there or fit half of ``budget`` (the resident
    budget), else on the host. Returns X, Y, w and the bytes this copied onto an accelerator.
    """
    if device.type == "cpu" or X.device == device:
        return X.to(device), Y.to(device), None if w is None else w.to(device), 0
    itemsize = torch.empty((), dtype=compute).element_size()
    nbytes = X.shape[0] * X.shape[1] * itemsize + Y.numel() * Y.element_size() + (0 if w is None else w.numel() * 8)
    if nbytes <= budget // 2:
        moved = X.to(device, dtype=compute), Y.to(device), None if w is None else w.to(device)
        return (*moved, nbytes)
    return X.cpu(), Y.cpu(), None if w is None else w.cpu(), 0


class Trainer:
    """Gradients of batches on ``net``: micro-batched to ``rows`` rows, retried smaller on OOM."""

    def __init__(self, net: Network, data: TrainData, alpha: float, rows: int, verbose: bool = False):
        self.net, self.data, self.alpha, self.rows, self.verbose = net, data, float(alpha), max(1, rows), verbose

    def gradient(self, ids: Ids) -> Tensor:
        """Loss of the batch ``ids`` (penalty included); its gradient is left in ``net.grad``."""
        return self.retry(self._gradient, ids)

    def retry(self, work: Callable[[Ids], Tensor], ids: Ids, undo: Callable[[], None] | None = None) -> Tensor:
        """``work(ids)``, redone in micro-batches of half the rows after an out-of-memory error
        (``gpuml.device.retry_smaller``: the failed attempt is freed first, then ``undo`` restores
        what it changed); the smaller size is kept from then on."""

        def shrink(rows: int) -> None:
            if undo is not None:
                undo()
            self.net.release()
            if self.verbose:
                print(f"Out of memory with {self.rows} rows at once: continuing with micro-batches of {rows}.")
            self.rows = rows

        one_row = (f"One row of this network needs about {self.net.bytes_per_row():,} bytes of working "
                   f"memory on {self.net.device}, and even that could not be allocated")
        return retry_smaller(lambda _rows: work(ids), min(self.rows, _len(ids)), self.net.device,
                             one_row=one_row, cleanup=shrink)[0]

    def _gradient(self, ids: Ids) -> Tensor:
        self.begin()
        return self.finish(self.sums(ids), self.data.weight_sum(ids, self.net.master))

    def begin(self) -> None:
        """Start a batch: zero the gradient sums (and refresh the low-precision weights)."""
        self.net.grad.zero_()
        if self.net.lowp:
            self.net.theta_c.copy_(self.net.theta)

    def sums(self, ids: Ids) -> Tensor:
        """Add the rows ``ids`` of ``data`` into the gradient sums, in micro-batches; their loss sum."""
        n = _len(ids)
        loss = None
        for s in range(0, n, self.rows):
            X, Y, w = self.data.fetch(_sub(ids, s, min(s + self.rows, n)), self.net.compute, self.net.master)
            part = grad_chunk(self.net, X, Y, w)
            loss = part if loss is None else loss.add_(part)
        return loss

    def finish(self, loss: Tensor, sw: float | Tensor) -> Tensor:
        """End a batch of weight sum ``sw`` and loss sum ``loss``: add the penalty, normalize;
        the batch's mean loss (the gradient is in ``net.grad``)."""
        net = self.net
        coefs = net.theta[:net.layout.n_coef]
        penalty = torch.dot(coefs, coefs).mul_(0.5 * self.alpha)
        net.grad[:net.layout.n_coef].add_(coefs, alpha=self.alpha)
        net.grad.div_(sw)
        return loss.add_(penalty).div_(sw)

    def epoch(self, optimizer, batch_size: int, order: Tensor | None, total: Tensor) -> None:
        """One pass over the rows in batches of ``batch_size``: a gradient and an update per batch.

        Adds Σ(batch loss × batch rows) into ``total`` (a device scalar; no synchronization).
        """
        n = self.data.n
        for s in range(0, n, batch_size):
            e = min(s + batch_size, n)
            loss = self.gradient(slice(s, e) if order is None else order[s:e])
            optimizer.step(self.net.theta, self.net.grad)
            total.add_(loss, alpha=e - s)


# -- batch_size="max" ------------------------------------------------------------------

def search_rows(fits: Callable[[int], bool], start: int, cap: int, *, margin: float = SAFETY_MARGIN,
                max_trials: int = 12) -> int:
    """The largest number of rows in [1, cap] for which ``fits`` holds, times ``margin``.

    Doubles from ``start`` while it fits (halves while it does not), then bisects until
    the bracket is within 1/8; an out-of-memory error in ``fits`` counts as "does not fit".
    The cap itself, when it fits, is returned as is.

    Examples
    --------
    >>> search_rows(lambda r: r <= 1000, start=100, cap=10**6)
    900
    >>> search_rows(lambda r: r <= 1000, start=100, cap=500)
    500
    """
    lo, hi = 0, cap + 1  # fits(lo) holds (or lo = 0); fits(hi) does not
    r = max(1, min(start, cap))
    for _ in range(max_trials):
        fit, error = attempt(fits, r)  # an out-of-memory error is freed, and counts as "does not fit"
        ok = error is None and bool(fit)
        if ok:
            lo = r
            if r == cap:
                return cap
            r = min(cap, 2 * r) if hi > cap else (lo + hi) // 2
        else:
            hi = r
            if r == 1:
                break
            r = max(1, r // 2) if lo == 0 else (lo + hi) // 2
        if lo and hi - lo <= max(1, lo // 8):
            break
    if lo == 0:
        raise DeviceMemoryError("not even one row of a training step fits in the device's memory")
    return max(1, int(lo * margin))


def step_peak_bytes(trainer: Trainer, rows: int, budget: int) -> int:
    """Working memory of one gradient step on ``rows`` rows as a single micro-batch.

    Measured by a trial step on CUDA. Elsewhere the planner's estimate, with a trial
    step (to meet a real out-of-memory error) only when the estimate is within ``budget``.
    """
    net = trainer.net
    cuda = net.device.type == "cuda"
    estimate = rows * net.bytes_per_row()
    if not cuda and estimate > budget:
        return estimate
    net.release()
    if cuda:
        torch.cuda.synchronize(net.device)
        torch.cuda.reset_peak_memory_stats(net.device)
        base = torch.cuda.memory_allocated(net.device)
    saved, trainer.rows = trainer.rows, rows
    try:
        trainer._gradient(slice(0, rows))
    finally:
        trainer.rows = saved
        net.release()
    if not cuda:
        return estimate
    torch.cuda.synchronize(net.device)
    return int(torch.cuda.max_memory_allocated(net.device) - base)


def find_batch_size(trainer: Trainer, budget: int) -> int:
    """The largest batch whose step fits ``budget`` bytes in one piece (capped by the rows),
    found by trial steps from the planner's estimate, with a safety margin."""
    n = trainer.data.n
    start = plan_rows(budget, trainer.net.bytes_per_row(), n)
    rows = search_rows(lambda r: step_peak_bytes(trainer, r, budget) <= budget, start, n)
    trainer.net.grad.zero_()
    release_cached(trainer.net.device)
    return rows


# -- L-BFGS ----------------------------------------------------------------------------

class _NonFinite(Exception):
    """The loss or gradient of an L-BFGS evaluation is inf or NaN."""


class _LineSearchFailed(Exception):
    """An L-BFGS line search used more than ``_MAX_LS`` evaluations."""


#: Loss evaluations one L-BFGS iteration may use (torch's own max_ls default).
_MAX_LS = 25


def run_lbfgs(trainer: Trainer, *, max_iter: int, max_fun: int, tol: float, verbose: bool) -> tuple[int, float]:
    """Full-batch L-BFGS (strong-Wolfe line search) over all rows; returns (iterations, final loss).

    Warns as scikit-learn does when it stops at ``max_iter`` / ``max_fun`` short of ``tol``.
    """
    net = trainer.net
    seen = {"iter": -1, "evals": 0, "loss": float("inf"), "best": None}

    def closure() -> Tensor:
        # torch gives one line search every evaluation left (max_fun): on a flat or overflowing
        # loss that is minutes; scipy's L-BFGS-B (scikit-learn's) stops a line search at 20
        it = opt.state[net.theta].get("n_iter", 0)
        if it != seen["iter"]:
            seen.update(iter=it, evals=0)
        seen["evals"] += 1
        if seen["evals"] > _MAX_LS:
            raise _LineSearchFailed
        loss = trainer.data.full_gradient(trainer)
        if not (bool(torch.isfinite(loss)) and bool(torch.isfinite(net.grad).all())):
            raise _NonFinite
        if float(loss) < seen["loss"]:
            seen.update(loss=float(loss), best=net.theta.detach().clone())
        net.theta.grad = net.grad
        return loss

    opt = torch.optim.LBFGS([net.theta], lr=1, max_iter=max_iter, max_eval=max_fun, tolerance_grad=tol,
                            tolerance_change=_FTOL, history_size=10, line_search_fn="strong_wolfe")
    stuck = False
    try:
        opt.step(closure)
    except _LineSearchFailed:  # the weights are a trial step: back to the best seen
        stuck = True
        with torch.no_grad():
            net.theta.copy_(seen["best"])
    except (_NonFinite, RuntimeError) as exc:  # RuntimeError: a step too large for the weights' dtype
        if isinstance(exc, RuntimeError) and "overflow" not in str(exc):
            raise
        raise ValueError(
            "lbfgs: the loss or its gradient is not finite (overflow). The input data may contain "
            "large values and need to be preprocessed (sklearn.preprocessing.StandardScaler)."
        ) from None
    state = opt.state[net.theta]
    n_iter, n_eval = int(state.get("n_iter", 0)), int(state.get("func_evals", 0))
    net.theta.grad = None
    loss = float(trainer.data.full_gradient(trainer))
    gmax = float(net.grad.abs().max())
    if verbose:
        print(f"L-BFGS: {n_iter} iterations, {n_eval} loss evaluations, loss = {loss:.8f}")
    if stuck and not gmax <= tol:
        warnings.warn(
            f"lbfgs failed to converge after {n_iter} iteration(s): the line search found no step "
            f"that decreases the loss in {_MAX_LS} evaluations (largest gradient entry {gmax:.3g}, "
            f"tol={tol}).\nScale the data (sklearn.preprocessing.StandardScaler).",
            ConvergenceWarning,
            stacklevel=4,
        )
    elif (n_iter >= max_iter or n_eval >= max_fun) and not gmax <= tol:
        what = "iterations" if n_iter >= max_iter else "loss evaluations"
        warnings.warn(
            f"lbfgs failed to converge after {n_iter} iteration(s): it reached the maximum number of "
            f"{what} (max_iter={max_iter}, max_fun={max_fun}) with the largest gradient entry "
            f"{gmax:.3g} above tol={tol}.\nIncrease the number of iterations to improve the convergence, "
            "or scale the data (sklearn.preprocessing.StandardScaler).",
            ConvergenceWarning,
            stacklevel=4,
        )
    return n_iter, loss


# -- validation scores (early stopping) -----------------------------------------------

class Validation:
    """The held-out rows of early stopping and their score (accuracy or R²), on the device.

    R²'s total sum of squares is computed once; each epoch costs one forward pass
    over the rows and one host synchronization.
    """

    def __init__(self, data: TrainData, kind: str, dtype: torch.dtype, acc: torch.dtype, budget: int):
        self.data, self.kind, self.dtype, self.acc = data, kind, dtype, acc
        self.rows = plan_rows(budget, 32 * data.X.shape[1] + 64 * data.Y.shape[1], data.n)
        # the rows' total weight, for accuracy, and R²'s total sum of squares: fixed, so computed once
        self.total = float(data.n) if data.w is None else data.weight_sum(slice(0, data.n), acc)
        if kind == "r2":
            Y = data._take(data.Y, slice(0, data.n), acc)
            w = None if data.w is None else data._take(data.w, slice(0, data.n), acc)
            mean = Y.mean(0) if w is None else (w @ Y) / w.sum()
            dev = (Y - mean).square_()
            self.ss_tot = dev.sum(0) if w is None else w @ dev  # (n_outputs,)

    def score(self, net: Network, single_class: bool = False) -> float:
        Ws, bs = net.W, net.b
        hits = torch.zeros((), dtype=self.acc, device=net.device)
        ss_res = torch.zeros(self.data.Y.shape[1], dtype=self.acc, device=net.device)
        finite = torch.ones((), dtype=torch.bool, device=net.device)
        for s in range(0, self.data.n, self.rows):
            X, Y, w = self.data.fetch(slice(s, min(s + self.rows, self.data.n)), net.master, self.acc)
            P = forward(Ws, bs, X, net.hidden, net.out)  # (r, n_outputs)
            if self.kind == "r2":
                finite &= torch.isfinite(P).all()
                dev = (Y - P.to(self.acc)).square_()
                ss_res += dev.sum(0) if w is None else w @ dev
                continue
            if single_class:
                right = torch.ones(len(P), dtype=self.acc, device=net.device)
            elif net.out == "softmax":
                right = (P.argmax(1) == Y.argmax(1)).to(self.acc)
            else:
                right = ((P > 0.5) == (Y > 0.5)).all(1).to(self.acc)
            hits += right.sum() if w is None else right @ w
        if self.kind == "r2":
            nz_num, nz_den = ss_res != 0, self.ss_tot != 0
            r2 = torch.where(nz_den, 1 - ss_res / torch.where(nz_den, self.ss_tot, 1.0),
                             torch.where(nz_num, 0.0, 1.0))
            out = torch.where(finite, r2.mean(), float("nan"))
            return float(out)
        return float(hits / self.total)
