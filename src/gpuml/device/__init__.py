"""Where work runs: device resolution, float64 support, memory budget."""

from ._memory import free_bytes, memory_budget, resident_budget
from ._resolve import (
    accelerator,
    accumulator_dtype,
    compute_context,
    explain_device,
    resolve_device,
    supports_float64,
)

__all__ = [
    "accelerator",
    "accumulator_dtype",
    "compute_context",
    "explain_device",
    "free_bytes",
    "memory_budget",
    "resident_budget",
    "resolve_device",
    "supports_float64",
]
