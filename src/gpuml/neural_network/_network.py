"""The network's math on tensors: flat parameters, forward and backward passes, losses.

scikit-learn's formulas (``sklearn/neural_network/_multilayer_perceptron.py``:
``_forward_pass``, ``_backprop``, ``_compute_loss_grad``; ``_base.py``: the
activations, their derivatives and the losses), written for torch. A micro-batch
adds its *sums* (weighted loss, ``Aᵀ δ``, ``Σ δ``) into the gradient buffers, so a
batch computed as several micro-batches gives the same update as in one piece.

The parameters live in one flat vector laid out as scikit-learn's ``_pack``
(every coefficient matrix, then every intercept), so the optimizers update it with
a handful of kernels and L-BFGS sees it directly.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Layout:
    """Where each layer's coefficients (fan_in, fan_out) and intercepts sit in the flat vector.

    Examples
    --------
    >>> lay = Layout([4, 3, 2])
    >>> lay.size, lay.n_coef
    (23, 18)
    """

    def __init__(self, units: list[int]):
        self.units = list(units)
        self.shapes = list(zip(self.units[:-1], self.units[1:]))
        self.n_coef = sum(i * o for i, o in self.shapes)
        self.size = self.n_coef + sum(self.units[1:])

    def views(self, flat: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """The coefficient matrices (fan_in, fan_out) and intercepts (fan_out,) as views of ``flat``."""
        Ws, bs, pos = [], [], 0
        for i, o in self.shapes:
            Ws.append(flat[pos:pos + i * o].view(i, o))
            pos += i * o
        for _, o in self.shapes:
            bs.append(flat[pos:pos + o])
            pos += o
        return Ws, bs


def activate_(name: str, Z: Tensor) -> Tensor:
    """Apply an activation in place (scikit-learn's ``ACTIVATIONS``) and return ``Z``."""
    if name == "relu":
        Z.clamp_min_(0)
    elif name == "tanh":
        Z.tanh_()
    elif name == "logistic":
        Z.sigmoid_()
    elif name == "softmax":  # as scikit-learn: shift by the row max, exp, normalize
        Z.sub_(Z.amax(1, keepdim=True)).exp_()
        Z.div_(Z.sum(1, keepdim=True))
    elif name == "exp":
        Z.exp_()
    elif name != "identity":
        raise ValueError(f"unknown activation {name!r}")
    return Z


def derivative_(name: str, A: Tensor, delta: Tensor) -> None:
    """Multiply ``delta`` in place by the activation's derivative, from its output ``A``."""
    if name == "relu":
        delta.mul_(A > 0)
    elif name == "tanh":
        delta.mul_(1 - A * A)
    elif name == "logistic":
        delta.mul_(A).mul_(1 - A)


def loss_sum(kind: str, Y: Tensor, P: Tensor, w: Tensor | None) -> Tensor:
    """The (weighted) sum over rows of scikit-learn's per-row loss; divide by Σw for its value.

    kind: "squared_error" (half squared error averaged over outputs), "poisson" (half
    Poisson deviance), "log_loss" (softmax output) or "binary_log_loss" (logistic output;
    binary and multilabel). Probabilities are clipped to [eps, 1 - eps] as in scikit-learn.
    """
    if kind == "squared_error":
        per = (Y - P).square_().sum(1).mul_(0.5 / P.shape[1])  # (r,)
    elif kind == "poisson":
        per = (torch.xlogy(Y, Y / P) - Y + P).sum(1)
    else:
        eps = torch.finfo(P.dtype).eps
        Pc = P.clamp(eps, 1 - eps)
        if kind == "log_loss":
            per = -(Y * Pc.log()).sum(1)
        else:
            per = -(Y * Pc.log() + (1 - Y) * (-Pc).log1p_()).sum(1)
    return per.sum() if w is None else per @ w


class Network:
    """Flat parameters, gradient buffers and reusable activation buffers for training.

    Parameters
    ----------
    layout : Layout
    hidden, out : str
        The hidden and output activations (``out``: identity, exp, logistic, softmax).
    loss : str
        See :func:`loss_sum`.
    master : torch.dtype
        The parameters' and gradients' dtype (float32 or float64).
    compute : torch.dtype
        The activations' dtype: ``master``, or bfloat16 for mixed precision (the
        matrix products then run on a bfloat16 copy of the parameters, the output
        layer, the loss and every gradient sum stay in ``master``).
    device : torch.device
    """

    def __init__(self, layout: Layout, hidden: str, out: str, loss: str, master: torch.dtype,
                 compute: torch.dtype, device: torch.device):
        self.layout, self.hidden, self.out, self.loss = layout, hidden, out, loss
        self.master, self.compute, self.device = master, compute, device
        self.theta = torch.zeros(layout.size, dtype=master, device=device)
        self.grad = torch.zeros_like(self.theta)
        self.W, self.b = layout.views(self.theta)
        self.gW, self.gb = layout.views(self.grad)
        self.lowp = compute != master
        self.theta_c = torch.zeros(layout.size, dtype=compute, device=device) if self.lowp else self.theta
        self.Wc, self.bc = layout.views(self.theta_c)
        self._rows = 0
        self._acts: list[Tensor] = []
        self._deltas: list[Tensor] = []

    @property
    def n_layers(self) -> int:
        return len(self.layout.shapes)

    def buffers(self, rows: int) -> tuple[list[Tensor], list[Tensor]]:
        """Activation (rows, units) and hidden-delta buffers, grown when needed, as views of ``rows`` rows."""
        if rows > self._rows:
            self.release()
            units = self.layout.units[1:]
            self._acts = [torch.empty(rows, u, dtype=self.compute, device=self.device) for u in units]
            self._deltas = [torch.empty(rows, u, dtype=self.compute, device=self.device) for u in units[:-1]]
            self._rows = rows
        return [a[:rows] for a in self._acts], [d[:rows] for d in self._deltas]

    def release(self) -> None:
        """Drop the activation buffers (after an out-of-memory error, before smaller ones)."""
        self._acts, self._deltas, self._rows = [], [], 0

    def bytes_per_row(self) -> int:
        """Working memory of one row of a micro-batch (input copy, activations, deltas, temporaries)."""
        units = self.layout.units
        c = torch.empty((), dtype=self.compute).element_size()
        m = torch.empty((), dtype=self.master).element_size()
        widest = max(units[1:])
        return (c * (units[0] + 2 * sum(units[1:-1]) + units[-1] + widest)
                + m * (4 * units[-1] + 2) + 8)

    def state_bytes(self, copies: int) -> int:
        """Bytes of the parameters, gradient and ``copies`` more parameter-sized buffers."""
        m = torch.empty((), dtype=self.master).element_size()
        c = torch.empty((), dtype=self.compute).element_size() if self.lowp else 0
        return self.layout.size * ((2 + copies) * m + c)


def grad_chunk(net: Network, X: Tensor, Y: Tensor, w: Tensor | None) -> Tensor:
    """Forward and backward pass over one micro-batch.

    Adds ``Aᵀ δ`` and ``Σ δ`` of every layer into ``net.gW`` / ``net.gb`` (not yet
    normalized, no penalty) and returns the micro-batch's (weighted) loss sum.

    Parameters
    ----------
    net : Network
    X : Tensor of shape (r, n_features), dtype ``net.compute``
    Y : Tensor of shape (r, n_outputs), dtype ``net.master``
    w : Tensor of shape (r,) or None
    """
    acts, deltas = net.buffers(X.shape[0])
    A = X
    last = net.n_layers - 1
    for i in range(net.n_layers):
        A = torch.addmm(net.bc[i], A, net.Wc[i], out=acts[i])  # (r, units[i + 1])
        if i < last:
            activate_(net.hidden, A)
    P = activate_(net.out, A.to(net.master) if net.lowp else A)  # (r, n_outputs)
    loss = loss_sum(net.loss, Y, P, w)
    delta = P.sub_(Y)  # d loss / d z of the output layer (canonical link)
    if w is not None:
        delta.mul_(w[:, None])
    for i in range(last, -1, -1):
        A_prev = X if i == 0 else acts[i - 1]  # (r, units[i])
        dc = delta.to(net.compute) if net.lowp else delta
        if net.lowp:
            net.gW[i].add_(A_prev.T @ dc)
        else:
            net.gW[i].addmm_(A_prev.T, dc)  # (units[i], units[i + 1])
        net.gb[i].add_(delta.sum(0, dtype=net.master))
        if i > 0:
            delta = torch.mm(dc, net.Wc[i].T, out=deltas[i - 1])  # (r, units[i])
            derivative_(net.hidden, acts[i - 1], delta)
    return loss


def forward(Ws: list[Tensor], bs: list[Tensor], X: Tensor, hidden: str, out: str) -> Tensor:
    """The network's output for rows X (n, n_features) -> (n, n_outputs), as ``_forward_pass_fast``."""
    A = X
    for i, (W, b) in enumerate(zip(Ws, bs)):
        A = torch.addmm(b, A, W)
        activate_(hidden if i < len(Ws) - 1 else out, A)
    return A


class Exp(nn.Module):
    """The exponential, as a module (the output of the Poisson loss's log link)."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.exp(x)


_MODULES = {"relu": nn.ReLU, "tanh": nn.Tanh, "logistic": nn.Sigmoid, "identity": nn.Identity}


def to_module(coefs: list, intercepts: list, hidden: str, out: str, device: torch.device,
              dtype: torch.dtype) -> nn.Sequential:
    """An ``nn.Sequential`` of Linear layers and activations carrying copies of the weights."""
    layers: list[nn.Module] = []
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        lin = nn.Linear(W.shape[0], W.shape[1], device=device, dtype=dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.as_tensor(W).T)
            lin.bias.copy_(torch.as_tensor(b))
        layers.append(lin)
        if i < len(coefs) - 1:
            layers.append(_MODULES[hidden]())
    if out == "softmax":
        layers.append(nn.Softmax(dim=1))
    elif out == "logistic":
        layers.append(nn.Sigmoid())
    elif out == "exp":
        layers.append(Exp())
    return nn.Sequential(*layers)
