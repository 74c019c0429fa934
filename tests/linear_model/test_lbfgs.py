"""The L-BFGS driver: scipy's L-BFGS-B with scikit-learn's options, its warning and its n_iter."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy.optimize import minimize, rosen, rosen_der
from sklearn.exceptions import ConvergenceWarning

from gpuml.linear_model._lbfgs import minimize_lbfgs

SKLEARN_OPTIONS = {"maxls": 50, "ftol": 64 * np.finfo(float).eps}


def _rosen(x):
    """Rosenbrock's function on tensors (through scipy's NumPy version, exactly)."""
    z = x.cpu().numpy()
    return torch.tensor(rosen(z)), torch.from_numpy(rosen_der(z))


def _scipy(x0, max_iter, tol):
    return minimize(lambda z: (rosen(z), rosen_der(z)), x0, method="L-BFGS-B", jac=True,
                    options={"maxiter": max_iter, "gtol": tol, **SKLEARN_OPTIONS})


def test_same_iterates_and_iteration_count_as_scikit_learns_call():
    x0 = np.array([-1.2, 1.0, 0.5, -0.3])
    ref = _scipy(x0, 200, 1e-8)
    assert ref.status == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        x, n_iter = minimize_lbfgs(_rosen, torch.from_numpy(x0), max_iter=200, tol=1e-8)
    assert n_iter == ref.nit
    np.testing.assert_array_equal(x.numpy(), ref.x)  # the same function: the same floats


def test_iteration_cap_warns_as_scikit_learn_and_counts_true_iterations():
    x0 = np.array([-1.2, 1.0])
    with pytest.warns(ConvergenceWarning, match=r"after 5 iteration\(s\) \(status=1\)[\s\S]*max_iter=5"):
        x, n_iter = minimize_lbfgs(_rosen, torch.from_numpy(x0), max_iter=5, tol=1e-8)
    assert n_iter == 5
    np.testing.assert_array_equal(x.numpy(), _scipy(x0, 5, 1e-8).x)


def test_a_rough_first_run_is_finished_and_judged_on_the_exact_function():
    # the rough function is off by 1e-3 in its gradient: its own optimum is not the exact one
    def rough(x):
        f, g = _rosen(x)
        return f + 1e-3 * x.sum(), g + 1e-3

    x0 = torch.tensor([-1.2, 1.0], dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        x, n_iter = minimize_lbfgs(_rosen, x0, max_iter=200, tol=1e-8, rough=rough)
    np.testing.assert_allclose(x.numpy(), [1.0, 1.0], atol=1e-7)  # Rosenbrock's optimum (measured 2e-8)
    alone, _ = minimize_lbfgs(rough, x0, max_iter=200, tol=1e-8)
    assert np.abs(alone.numpy() - 1).max() > 1e-4  # where the rough function alone ends
    with pytest.warns(ConvergenceWarning, match="max_iter=30"):  # both runs share the cap
        _, n_iter = minimize_lbfgs(_rosen, x0, max_iter=30, tol=1e-8, rough=rough)
    assert n_iter == 30


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_loss_is_an_error_not_a_convergence(bad):
    # scipy's line search takes a NaN or inf loss for "CONVERGENCE" (status 0) at a wrong point
    calls = [0]

    def f(x):
        calls[0] += 1
        loss, grad = _rosen(x)
        return (torch.tensor(bad), grad) if calls[0] >= 3 else (loss, grad)

    with pytest.raises(ValueError, match="not finite"):
        minimize_lbfgs(f, torch.tensor([-1.2, 1.0], dtype=torch.float64), max_iter=100, tol=1e-8)


def test_a_non_finite_gradient_is_an_error():
    def f(x):
        loss, grad = _rosen(x)
        return loss, grad * float("nan")

    with pytest.raises(ValueError, match="not finite"):
        minimize_lbfgs(f, torch.tensor([-1.2, 1.0], dtype=torch.float64), max_iter=100, tol=1e-8)
