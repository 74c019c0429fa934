"""Sources of row chunks. Today: in-memory arrays (NumPy on the host, torch anywhere)."""

from __future__ import annotations

import warnings
from typing import Iterator

import numpy as np
import torch
from torch import Tensor

Array = np.ndarray | Tensor


def _rows(a: Array | None, start: int, stop: int, device: torch.device, dtype: torch.dtype | None) -> Tensor | None:
    if a is None:
        return None
    part = a[start:stop]
    if isinstance(part, np.ndarray):
        part = np.ascontiguousarray(part)
        if not part.flags.writeable:  # read-only memmaps: we only read, so share them
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                part = torch.from_numpy(part)
        else:
            part = torch.from_numpy(part)  # no copy
    return part.to(device=device, dtype=dtype or part.dtype, non_blocking=True)


class ArraySource:
    """Rows of an in-memory X (and optional y, sample weights), served in chunks.

    A tensor already on the target device is sliced without a copy; a NumPy
    array is copied to the device one chunk at a time.

    Parameters
    ----------
    X : ndarray or Tensor of shape (n_samples, n_features)
    y : ndarray or Tensor of shape (n_samples,) or (n_samples, n_targets), default=None
    w : ndarray or Tensor of shape (n_samples,), default=None
    dtype : torch.dtype, default=None
        dtype of X's chunks on the device; None keeps X's.

    Examples
    --------
    >>> import numpy as np, torch
    >>> src = ArraySource(np.arange(10.0).reshape(5, 2))
    >>> [c[0].shape[0] for c in src.chunks(2, torch.device("cpu"))]
    [2, 2, 1]
    """

    def __init__(self, X: Array, y: Array | None = None, w: Array | None = None, dtype: torch.dtype | None = None):
        self.X, self.y, self.w, self.dtype = X, y, w, dtype

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def itemsize(self) -> int:
        if self.dtype is not None:
            return torch.empty((), dtype=self.dtype).element_size()
        return self.X.element_size() if isinstance(self.X, Tensor) else self.X.itemsize

    def slice(self, start: int, stop: int, device: torch.device) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """Rows ``start:stop`` as (X, y, w) on ``device``."""
        return (
            _rows(self.X, start, stop, device, self.dtype),
            _rows(self.y, start, stop, device, None),
            _rows(self.w, start, stop, device, None),
        )

    def chunks(self, rows: int, device: torch.device, start: int = 0) -> Iterator[tuple[Tensor, Tensor | None, Tensor | None]]:
        """Chunks of at most ``rows`` rows, from row ``start`` on."""
        for s in range(start, self.n_rows, rows):
            yield self.slice(s, min(s + rows, self.n_rows), device)

    def resident(self, device: torch.device, budget: int) -> "ArraySource":
        """This source with its arrays moved to ``device`` once, if they fit in ``budget``.

        Iterative algorithms (KMeans, L-BFGS) then pay the host-to-device copy once.
        """
        nbytes = self.n_rows * self.n_features * self.itemsize
        on_device = isinstance(self.X, Tensor) and self.X.device == device
        if on_device or nbytes > budget:
            return self
        X, y, w = self.slice(0, self.n_rows, device)
        return ArraySource(X, y, w)
