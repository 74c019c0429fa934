"""How many bytes one pass may use on a device (the memory budget), and the out-of-memory retry.

CUDA-only calls (``mem_get_info``) stay here, behind ``free_bytes``. The CPU twin is the
tightest of the host's available memory (``/proc/meminfo``), what the process's memory cgroup
(v2 or v1, the process's own and its ancestors') still allows, and what ``RLIMIT_AS`` leaves
of the address space: a container's limit, not the host's free memory, is what the kernel's
out-of-memory killer enforces.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from typing import Any, TypeVar

import torch

T = TypeVar("T")

#: Fraction of the free memory a pass may use when no memory_limit is set.
SAFE_FRACTION = 0.5
#: On the CPU, chunks that stay near the caches (and below malloc's mmap threshold, so
#: their buffers are reused rather than page-faulted afresh) are several times faster.
CPU_CHUNK_CAP = 32 * 2**20
#: On the CPU, the most data a multi-pass algorithm keeps as its own copy by default. A copy
#: there buys little (a memory-mapped file is re-read from the page cache, the same memory)
#: and costs a second copy of the data while it is assembled.
CPU_RESIDENT_CAP = 256 * 2**20
#: Limits at or above this are "no limit" (cgroup v1 writes 2**63 rounded down to a page).
_UNLIMITED = 1 << 60


def _read(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return None


def _stat(text: str | None, key: str) -> int:
    for line in (text or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0


def _ancestors(mount: str, path: str) -> list[str]:
    """``mount/path`` and each folder above it up to ``mount`` (limits of parents apply too)."""
    parts = [p for p in path.strip("/").split("/") if p]
    return [os.path.join(mount, *parts[:i]) for i in range(len(parts), -1, -1)]


def cgroup_available(root: str = "/") -> int | None:
    """Bytes the memory cgroups of this process still allow it, or None when none limits it.

    Reads ``/proc/self/cgroup`` under ``root``; for cgroup v2 (``0::/path``) ``memory.max`` and
    ``memory.high`` against ``memory.current``, for v1 (``N:memory:/path``)
    ``memory.limit_in_bytes`` against ``memory.usage_in_bytes``, in the process's cgroup and
    every one above it (the tightest wins). The page cache the kernel can reclaim
    (``inactive_file`` in ``memory.stat``) does not count as used, as in ``docker stats``.

    Parameters
    ----------
    root : str, default="/"
        The file system root to read from (tests point it at a fake tree).

    Returns
    -------
    available : int or None
    """
    text = _read(os.path.join(root, "proc/self/cgroup"))
    if text is None:
        return None
    fs = os.path.join(root, "sys/fs/cgroup")
    best: int | None = None
    for line in text.splitlines():
        hid, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hid == "0" and controllers == "":  # v2: mounted at /sys/fs/cgroup (or .../unified, hybrid)
            mounts, limits, usage, cache = [fs, os.path.join(fs, "unified")], ("memory.max", "memory.high"), \
                "memory.current", "inactive_file"
        elif "memory" in controllers.split(","):
            mounts, limits, usage, cache = [os.path.join(fs, "memory")], ("memory.limit_in_bytes",), \
                "memory.usage_in_bytes", "total_inactive_file"
        else:
            continue
        for mount in mounts:
            for folder in _ancestors(mount, path):
                for name in limits:
                    limit = (_read(os.path.join(folder, name)) or "").strip()
                    if not limit.isdigit() or int(limit) >= _UNLIMITED:
                        continue  # absent, "max" or unlimited
                    used = int((_read(os.path.join(folder, usage)) or "0").strip() or 0)
                    used -= _stat(_read(os.path.join(folder, "memory.stat")), cache)
                    left = max(0, int(limit) - max(0, used))
                    best = left if best is None else min(best, left)
    return best


def address_space_available() -> int | None:
    """Bytes of address space ``RLIMIT_AS`` leaves this process (None when unlimited).

    Every allocation, and every memory map of a file, counts against it.
    """
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    size = 0
    for line in (_read("/proc/self/status") or "").splitlines():
        if line.startswith("VmSize:"):
            size = int(line.split()[1]) * 1024
    return max(0, soft - size)


def _host_available() -> int:
    text = _read("/proc/meminfo")
    for line in (text or "").splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def free_bytes(device: torch.device) -> int:
    """Measured free memory of ``device`` in bytes (on the CPU: the tightest of the host's
    available memory, the cgroup's limit and ``RLIMIT_AS``)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "xpu" and hasattr(torch.xpu, "mem_get_info"):
        return int(torch.xpu.mem_get_info(device)[0])
    if device.type == "mps" and hasattr(torch.mps, "recommended_max_memory"):
        return int(torch.mps.recommended_max_memory() - torch.mps.current_allocated_memory())
    limits = [_host_available(), cgroup_available(), address_space_available()]
    return min(x for x in limits if x is not None)


def _limit() -> int | None:
    from .._config import get_config

    return get_config()["memory_limit"]


def resident_budget(device: torch.device) -> int:
    """Bytes of data a multi-pass algorithm may keep on ``device`` rather than re-read.

    The ``memory_limit`` setting when given, else ``SAFE_FRACTION`` of the free memory
    (on the CPU at most ``CPU_RESIDENT_CAP``).
    """
    limit = _limit()
    if limit is not None:
        return limit
    budget = int(free_bytes(device) * SAFE_FRACTION)
    return min(budget, CPU_RESIDENT_CAP) if device.type == "cpu" else budget


def memory_budget(device: torch.device) -> int:
    """Bytes of working memory one pass may use on ``device``.

    The ``memory_limit`` setting when given, else ``SAFE_FRACTION`` of the measured
    free memory (capped at ``CPU_CHUNK_CAP`` on the CPU).
    """
    limit = _limit()
    if limit is not None:
        return limit
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


def attempt(fn: Callable[..., T], *args: Any) -> tuple[T | None, str | None]:
    """``(fn(*args), None)``, or ``(None, message)`` when ``fn`` ran out of memory.

    Only the error's message outlives the ``except`` block: the failed call's frames (and
    the tensors their variables held) are freed before this returns, not kept alive by the
    traceback while the caller retries. Other errors propagate.
    """
    try:
        return fn(*args), None
    except (RuntimeError, MemoryError) as exc:
        if not is_out_of_memory(exc):
            raise
        message = f"{type(exc).__name__}: {exc}"
    return None, message


def retry_smaller(run: Callable[[int], T], rows: int, device: torch.device, *, one_row: str,
                  cleanup: Callable[[int], None] | None = None) -> tuple[T, int]:
    """``run(rows)``, halving ``rows`` after each out-of-memory error; the result and the rows used.

    Every driver of chunked work (passes, the MLP's steps) retries through this one loop:
    the failed attempt is freed (its frames, then ``cleanup(rows_next)``, then the allocator's
    cache) before the next one starts.

    Parameters
    ----------
    run : callable
        Does the work on ``rows`` rows; must leave no partial effect when it raises.
    rows : int
        Rows of the first attempt.
    device : torch.device
    one_row : str
        The start of the ``DeviceMemoryError`` message when even one row fails.
    cleanup : callable, default=None
        Called with the next attempt's rows after a failure (drop buffers, undo sums, log).

    Examples
    --------
    >>> def run(r):
    ...     if r > 3:
    ...         raise MemoryError("out of memory")
    ...     return r * 10
    >>> retry_smaller(run, 16, torch.device("cpu"), one_row="no row fits")
    (20, 2)
    """
    while True:
        result, error = attempt(run, rows)
        if error is None:
            return result, rows  # type: ignore[return-value]
        if rows <= 1:
            raise DeviceMemoryError(f"{one_row} ({error})")
        rows //= 2
        if cleanup is not None:
            cleanup(rows)
        release_cached(device)
