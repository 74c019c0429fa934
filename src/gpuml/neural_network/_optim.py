"""scikit-learn's stochastic optimizers (``sklearn/neural_network/_stochastic_optimizers.py``)
on a flat parameter tensor: the same update rules, learning-rate schedules and
stopping decisions, a few fused kernels per step and no host synchronization.

The state tensors move to the CPU when pickled and back to the parameters' device
when next used, so a fitted model pickles anywhere and ``partial_fit`` continues.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


class _Optimizer:
    state_names: tuple[str, ...] = ()

    def __init__(self, learning_rate_init: float):
        self.learning_rate_init = float(learning_rate_init)
        self.learning_rate = float(learning_rate_init)

    def _state(self, theta: Tensor) -> list[Tensor]:
        """The state tensors, created (zeros) or moved beside ``theta`` as needed."""
        out = []
        for name in self.state_names:
            t = getattr(self, name, None)
            if t is None or t.shape != theta.shape:
                t = torch.zeros_like(theta)
            elif t.device != theta.device or t.dtype != theta.dtype:
                t = t.to(device=theta.device, dtype=theta.dtype)
            setattr(self, name, t)
            out.append(t)
        return out

    def step(self, theta: Tensor, grad: Tensor) -> None:
        raise NotImplementedError

    def iteration_ends(self, time_step: int) -> None:
        """Called at the end of each epoch with the number of samples seen (``t_``)."""

    def trigger_stopping(self, msg: str, verbose: bool) -> bool:
        """Whether to stop after ``n_iter_no_change`` epochs without improvement."""
        if verbose:
            print(msg + " Stopping.")
        return True

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for name in self.state_names:
            if isinstance(state.get(name), Tensor):
                state[name] = state[name].detach().cpu()
        return state


class SGD(_Optimizer):
    """Stochastic gradient descent with momentum (classical or Nesterov's), as scikit-learn's.

    ``v <- momentum v - lr g``; the step is ``v`` (classical) or ``momentum v - lr g``
    (Nesterov). ``learning_rate``: "constant", "invscaling" (``lr_init / (t + 1)^power_t``
    after each epoch, t the samples seen) or "adaptive" (divided by 5 when the loss
    stalls, stopping below 1e-6).
    """

    state_names = ("velocity",)

    def __init__(self, learning_rate_init: float = 0.1, lr_schedule: str = "constant",
                 momentum: float = 0.9, nesterov: bool = True, power_t: float = 0.5):
        super().__init__(learning_rate_init)
        self.lr_schedule = lr_schedule
        self.momentum = float(momentum)
        self.nesterov = nesterov
        self.power_t = float(power_t)

    def step(self, theta: Tensor, grad: Tensor) -> None:
        (v,) = self._state(theta)
        v.mul_(self.momentum).add_(grad, alpha=-self.learning_rate)
        if self.nesterov:
            theta.add_(v * self.momentum - self.learning_rate * grad)
        else:
            theta.add_(v)

    def iteration_ends(self, time_step: int) -> None:
        if self.lr_schedule == "invscaling":
            self.learning_rate = self.learning_rate_init / (time_step + 1) ** self.power_t

    def trigger_stopping(self, msg: str, verbose: bool) -> bool:
        if self.lr_schedule != "adaptive":
            return super().trigger_stopping(msg, verbose)
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(f"{msg} Setting learning rate to {self.learning_rate:f}")
        return False


class Adam(_Optimizer):
    """Adam with scikit-learn's form of the bias correction.

    ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g²``,
    ``lr_t = lr_init sqrt(1 - b2^t) / (1 - b1^t)``, ``θ <- θ - lr_t m / (sqrt(v) + eps)``.
    """

    state_names = ("ms", "vs")

    def __init__(self, learning_rate_init: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8):
        super().__init__(learning_rate_init)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.t = 0

    def step(self, theta: Tensor, grad: Tensor) -> None:
        m, v = self._state(theta)
        self.t += 1
        m.mul_(self.beta_1).add_(grad, alpha=1 - self.beta_1)
        v.mul_(self.beta_2).addcmul_(grad, grad, value=1 - self.beta_2)
        self.learning_rate = (self.learning_rate_init * math.sqrt(1 - self.beta_2**self.t)
                              / (1 - self.beta_1**self.t))
        theta.addcdiv_(m, v.sqrt().add_(self.epsilon), value=-self.learning_rate)
