"""Turn a device spec ("auto", "cpu", "cuda:1", "mps", a torch.device) into a torch.device."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

_ACCELERATORS = ("cuda", "mps", "xpu")


def _available(kind: str) -> bool:
    if kind == "cpu":
        return True
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    if kind == "xpu":
        return hasattr(torch, "xpu") and torch.xpu.is_available()
    return False


def accelerator() -> torch.device | None:
    """The accelerator PyTorch sees (CUDA/ROCm first, then MPS, then XPU), or None."""
    for kind in _ACCELERATORS:
        if _available(kind):
            return torch.device(kind, torch.cuda.current_device()) if kind == "cuda" else torch.device(kind)
    return None


def resolve_device(spec: Any = "auto", *, check_available: bool = True) -> torch.device:
    """Resolve a device spec to a concrete :class:`torch.device`.

    Parameters
    ----------
    spec : str or torch.device or None, default="auto"
        ``"auto"`` picks the accelerator PyTorch sees, else the CPU. ``None``
        means the global setting (``gpuml.get_config()["device"]``).
    check_available : bool, default=True
        Raise if the device does not exist on this machine.

    Returns
    -------
    device : torch.device

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if spec is None:
        from .._config import get_config

        spec = get_config()["device"]
    if isinstance(spec, str) and spec == "auto":
        return (accelerator() or torch.device("cpu")) if check_available else torch.device("cpu")
    try:
        dev = spec if isinstance(spec, torch.device) else torch.device(spec)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda', 'cuda:N', 'mps', 'xpu' or a torch.device, got {spec!r}"
        ) from exc
    if dev.type not in ("cpu",) + _ACCELERATORS:
        raise ValueError(f"Unsupported device type {dev.type!r}; gpuml runs on cpu, cuda, mps or xpu.")
    if not check_available:
        return dev
    if not _available(dev.type):
        raise ValueError(
            f"device={spec!r} was requested but PyTorch sees no {dev.type} device "
            f"(torch {torch.__version__}). Use device='auto' or 'cpu'."
        )
    if dev.type == "cuda":
        index = torch.cuda.current_device() if dev.index is None else dev.index
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"device={spec!r}: only {torch.cuda.device_count()} CUDA device(s) are visible."
            )
        dev = torch.device("cuda", index)
    return dev


def explain_device(spec: Any = None) -> tuple[torch.device, str]:
    """The device a spec resolves to, and why, in one plain sentence.

    Examples
    --------
    >>> explain_device("cpu")[1]
    "cpu: asked for explicitly (device='cpu')"
    """
    from .._config import get_config

    given = get_config()["device"] if spec is None else spec
    dev = resolve_device(given)
    if not (isinstance(given, str) and given == "auto"):
        return dev, f"{dev}: asked for explicitly (device={str(given)!r})"
    if dev.type != "cpu":
        name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else dev.type
        return dev, f"{dev}: device='auto' and PyTorch sees {name}"
    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else (
        f"ROCm {torch.version.hip} build" if getattr(torch.version, "hip", None) else "CPU-only build")
    return dev, f"cpu: device='auto' and PyTorch (torch {torch.__version__}, {build}) sees no accelerator"


def supports_float64(device: torch.device) -> bool:
    """Whether the device computes in float64 (Apple's MPS does not)."""
    return device.type != "mps"


def accumulator_dtype(device: torch.device) -> torch.dtype:
    """The dtype of accumulators: float64, except float32 on devices without it (MPS)."""
    return torch.float64 if supports_float64(device) else torch.float32


class _TF32:
    """The cuBLAS matmul precision while gpuml's kernels run, shared by every thread.

    torch's setting is process-wide: torch >= 2.9 has ``torch.backends.cuda.matmul.fp32_precision``
    ("ieee" or "tf32"; mixing it with the legacy ``allow_tf32`` flag is an error there), older
    torch only ``allow_tf32``. The first gpuml block to start saves the user's setting and the
    last to end restores it; in between, TF32 is on only while every running block allows it
    (a block that does not is never computed in TF32: slower at worst, never less exact).
    Only matrix products are set: gpuml runs no convolutions (cuDNN's setting is left alone).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = {True: 0, False: 0}  # running blocks, by their allow_tf32 setting
        self.saved: Any = None

    @staticmethod
    def _get() -> Any:
        m = torch.backends.cuda.matmul
        return m.fp32_precision if hasattr(m, "fp32_precision") else m.allow_tf32

    @staticmethod
    def _set(value: Any) -> None:
        m = torch.backends.cuda.matmul
        if hasattr(m, "fp32_precision"):
            m.fp32_precision = ("tf32" if value else "ieee") if isinstance(value, bool) else value
        else:
            m.allow_tf32 = value

    def enter(self, allow: bool) -> None:
        with self.lock:
            if self.users[True] + self.users[False] == 0:
                self.saved = self._get()
            self.users[allow] += 1
            self._set(self.users[False] == 0)

    def exit(self, allow: bool) -> None:
        with self.lock:
            self.users[allow] -= 1
            if self.users[True] + self.users[False] == 0:
                self._set(self.saved)
                self.saved = None
            else:
                self._set(self.users[False] == 0)


_tf32 = _TF32()


@contextmanager
def compute_context(device: torch.device) -> Iterator[None]:
    """Apply the ``allow_tf32`` setting to matrix products while inside the block.

    torch's flag is process-wide and only changes CUDA kernels; it is set whatever ``device``
    is, counted across threads and nested blocks, and the user's own setting is back when the
    last block ends (see ``_TF32``).
    """
    from .._config import get_config

    allow = bool(get_config()["allow_tf32"])
    _tf32.enter(allow)
    try:
        yield
    finally:
        _tf32.exit(allow)
