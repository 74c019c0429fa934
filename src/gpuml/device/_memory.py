"""How many bytes one pass may use on a device: the memory budget.

CUDA-only calls (``mem_get_info``) stay here, behind ``free_bytes``; the CPU twin
reads ``/proc/meminfo`` (or ``os.sysconf``) so tests exercise the same planner.
"""

from __future__ import annotations

import gc
import os

import torch

#: Fraction of the free memory a pass may use when no memory_limit is set.
SAFE_FRACTION = 0.5
#: On the CPU, chunks that stay near the caches (and below malloc's mmap threshold, so
#: their buffers are reused rather than page-faulted afresh) are several times faster.
CPU_CHUNK_CAP = 32 * 2**20


def free_bytes(device: torch.device) -> int:
    """Measured free memory of ``device`` in bytes."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "xpu" and hasattr(torch.xpu, "mem_get_info"):
        return int(torch.xpu.mem_get_info(device)[0])
    if device.type == "mps" and hasattr(torch.mps, "recommended_max_memory"):
        return int(torch.mps.recommended_max_memory() - torch.mps.current_allocated_memory())
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def resident_budget(device: torch.device) -> int:
    """Bytes of data a multi-pass algorithm may keep on ``device`` rather than re-read.

    The ``memory_limit`` setting when given, else ``SAFE_FRACTION`` of the free memory.
    """
    from .._config import get_config

    limit = get_config()["memory_limit"]
    return int(limit) if limit is not None else int(free_bytes(device) * SAFE_FRACTION)


def memory_budget(device: torch.device) -> int:
    """Bytes of working memory one pass may use on ``device``.

    The ``memory_limit`` setting when given, else ``SAFE_FRACTION`` of the measured
    free memory (capped at ``CPU_CHUNK_CAP`` on the CPU).
    """
    from .._config import get_config

    limit = get_config()["memory_limit"]
    if limit is not None:
        return int(limit)
    budget = int(free_bytes(device) * SAFE_FRACTION)
    if device.type == "cpu":
        budget = min(budget, CPU_CHUNK_CAP)
    return max(budget, 1 << 20)


class DeviceMemoryError(MemoryError):
    """Not even one row of a pass fits in the device's memory."""


def is_out_of_memory(exc: BaseException) -> bool:
    """An allocation failure worth retrying with fewer rows (CUDA's, or MemoryError on the CPU)."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return not isinstance(exc, DeviceMemoryError)
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def release_cached(device: torch.device) -> None:
    """Give back what a failed chunk held: Python garbage and the CUDA allocator's cache."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
