"""Full-batch L-BFGS with a strong-Wolfe line search (torch.optim.LBFGS underneath)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def minimize_lbfgs(
    loss_and_grad: Callable[[Tensor], tuple[Tensor, Tensor]],
    x0: Tensor,
    *,
    max_iter: int,
    gtol: float,
    history: int = 10,
) -> tuple[Tensor, int, bool]:
    """Minimize a smooth function whose loss and gradient come from one call.

    Parameters
    ----------
    loss_and_grad : callable
        ``x (p,) -> (loss (), grad (p,))``; typically a pass over row chunks.
    x0 : Tensor of shape (p,)
    max_iter : int
        Iteration cap (as in scipy's L-BFGS-B, used by scikit-learn).
    gtol : float
        Stop when the largest absolute gradient entry is at most ``gtol``.

    Returns
    -------
    x : Tensor of shape (p,)
    n_iter : int
    converged : bool
        False when the iteration cap was reached with the gradient still above ``gtol``.
    """
    x = x0.detach().clone().requires_grad_(True)
    opt = torch.optim.LBFGS(
        [x], lr=1, max_iter=max_iter, max_eval=max_iter * 2 + 20, history_size=history,
        tolerance_grad=gtol, tolerance_change=64 * torch.finfo(x.dtype).eps,
        line_search_fn="strong_wolfe",
    )

    def closure() -> Tensor:
        loss, grad = loss_and_grad(x.detach())
        x.grad = grad.detach()
        return loss.detach()

    opt.step(closure)
    n_iter = int(opt.state[x].get("n_iter", 0))
    # stopping early means the gradient or the loss change fell below tolerance
    # (scipy's L-BFGS-B, used by scikit-learn, reports both as convergence)
    converged = n_iter < max_iter or bool(loss_and_grad(x.detach())[1].abs().max() <= gtol)
    return x.detach(), n_iter, converged
