"""scipy's L-BFGS-B driven by a loss-and-gradient computed on a device, judged as scikit-learn judges it.

The parameter vector is small (classes x features): it crosses host <-> device once per
evaluation in float64, which costs nothing next to the pass over the rows that computes the
loss (and already ends in a device sync for its scalar). Kept out of ``ops`` because scipy's
optimizer works on NumPy arrays.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits
from torch import Tensor


def minimize_lbfgs(
    loss_and_grad: Callable[[Tensor], tuple[Tensor, Tensor]],
    x0: Tensor,
    *,
    max_iter: int,
    tol: float,
    rough: Callable[[Tensor], tuple[Tensor, Tensor]] | None = None,
    stacklevel: int = 2,
) -> tuple[Tensor, int]:
    """Minimize a smooth function by L-BFGS-B with scikit-learn's "lbfgs" settings.

    ``scipy.optimize.minimize(method="L-BFGS-B", jac=True)`` with ``maxiter=max_iter``,
    ``maxls=50``, ``gtol=tol`` and ``ftol=64 * eps``, as
    :func:`sklearn.linear_model._logistic._logistic_regression_path`; a result whose status is
    not 0 (iteration cap, line-search failure, ...) gives scikit-learn's ConvergenceWarning.

    Parameters
    ----------
    loss_and_grad : callable
        ``x (p,) -> (loss (), grad (p,))`` on ``x0``'s device and dtype; typically a pass over
        row chunks. Its values must be finite.
    x0 : Tensor of shape (p,)
    max_iter : int
        Iteration cap of both runs together (0 runs one, as scipy does for scikit-learn).
    tol : float
        Stop when the largest absolute gradient entry is at most ``tol``.
    rough : callable, default=None
        A cheaper, less accurate ``loss_and_grad`` (float32 products): L-BFGS runs on it
        first, then on ``loss_and_grad`` from where that stopped, so that convergence (and the
        warning) is judged on ``loss_and_grad`` alone. The ``ftol`` test of a rough loss can
        pass on its rounding noise, far from the optimum; the second run costs one exact
        evaluation when the first one converged.
    stacklevel : int, default=2
        Of the ConvergenceWarning, counted from the caller.

    Returns
    -------
    x : Tensor of shape (p,), on x0's device and dtype
    n_iter : int
        Iterations run (scipy's ``nit``, both runs, at most ``max_iter``).

    Raises
    ------
    ValueError
        When the loss or its gradient is not finite at a point the optimizer asks for
        (scipy's line search would take such a value for convergence).

    Examples
    --------
    >>> import torch
    >>> f = lambda x: (((x - 3) ** 2).sum(), 2 * (x - 3))
    >>> x, n_iter = minimize_lbfgs(f, torch.zeros(2, dtype=torch.float64), max_iter=50, tol=1e-8)
    >>> [round(v, 8) for v in x.tolist()], n_iter
    ([3.0, 3.0], 2)
    """
    device, dtype = x0.device, x0.dtype

    def host(f: Callable[[Tensor], tuple[Tensor, Tensor]]) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
        def fun(x: np.ndarray) -> tuple[float, np.ndarray]:  # (p,) float64 on the host
            loss, grad = f(torch.tensor(x, dtype=dtype, device=device))
            value, g = float(loss), grad.detach().to("cpu", torch.float64).numpy()
            if not (np.isfinite(value) and np.isfinite(g).all()):
                raise ValueError(
                    f"The logistic loss or its gradient is not finite (loss={value}) during L-BFGS, even "
                    "in float64: the features are too large in magnitude for this problem. Scale them "
                    "(e.g. sklearn.preprocessing.StandardScaler)."
                )
            return value, g

        return fun

    def run(f: Callable[[Tensor], tuple[Tensor, Tensor]], x: np.ndarray, cap: int):
        # L-BFGS-B's BLAS calls are on vectors of p entries: OpenBLAS threads only spin
        # after them, against the torch threads of the passes (30% slower on 2 CPU cores)
        with threadpool_limits(limits=1, user_api="blas"):
            return minimize(host(f), x, method="L-BFGS-B", jac=True,
                            options={"maxiter": cap, "maxls": 50, "gtol": tol, "ftol": 64 * np.finfo(float).eps})

    x, n_iter = x0.detach().to("cpu", torch.float64).numpy(), 0
    if rough is not None and max_iter > 1:  # the second run keeps at least one iteration
        first = run(rough, x, max_iter - 1)
        x, n_iter = first.x, int(first.nit)
    res = run(loss_and_grad, x, max_iter - n_iter)
    n_iter = min(n_iter + int(res.nit), max_iter)
    if res.status != 0:  # scikit-learn's _check_optimize_result, word for word
        msg = f"lbfgs failed to converge after {n_iter} iteration(s) (status={res.status}):\n{res.message}\n"
        if n_iter == max_iter:
            msg += f"\nIncrease the number of iterations to improve the convergence (max_iter={max_iter})."
        msg += ("\nYou might also want to scale the data as shown in:\n"
                "    https://scikit-learn.org/stable/modules/preprocessing.html")
        warnings.warn(msg, ConvergenceWarning, stacklevel=stacklevel + 1)
    return torch.as_tensor(res.x, dtype=dtype, device=device), n_iter
