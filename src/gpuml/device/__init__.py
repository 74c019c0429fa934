"""Where work runs: device resolution, float64 support, memory budget."""

from ._memory import (
    CPU_CHUNK_CAP,
    CPU_RESIDENT_CAP,
    DeviceMemoryError,
    address_space_available,
    attempt,
    cgroup_available,
    free_bytes,
    is_out_of_memory,
    memory_budget,
    release_cached,
    resident_budget,
    retry_smaller,
)
from ._resolve import (
    accelerator,
    accumulator_dtype,
    compute_context,
    explain_device,
    resolve_device,
    supports_float64,
)

__all__ = [
    "CPU_CHUNK_CAP",
    "CPU_RESIDENT_CAP",
    "DeviceMemoryError",
    "accelerator",
    "accumulator_dtype",
    "address_space_available",
    "attempt",
    "cgroup_available",
    "compute_context",
    "explain_device",
    "free_bytes",
    "is_out_of_memory",
    "memory_budget",
    "release_cached",
    "resident_budget",
    "resolve_device",
    "retry_smaller",
    "supports_float64",
]
