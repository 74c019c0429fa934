"""The one protocol every pass implements: init, update on a chunk, merge two states."""

from __future__ import annotations

from typing import Protocol, TypeVar

import torch
from torch import Tensor

State = TypeVar("State")


class Reduction(Protocol[State]):
    """A pass over row chunks.

    ``update`` must not modify ``state`` in place before its own work is done:
    if it fails (out of memory), the caller retries the chunk in smaller pieces
    from the same ``state``.
    """

    def init(self, n_features: int, device: torch.device) -> State: ...

    def update(self, state: State, X: Tensor, y: Tensor | None, w: Tensor | None) -> State: ...

    def merge(self, a: State, b: State) -> State: ...

    def bytes_per_row(self, n_features: int, itemsize: int) -> int:
        """Working memory one chunk row costs, for the memory planner."""
        ...
