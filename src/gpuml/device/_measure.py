"""Measured rates of a device: one home for the micro-benchmarks that ``device="auto"``
calibrates with and that the benchmark suite reports as the machine's ceilings."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch


def sync(device: torch.device | str) -> None:
    """Wait for the device's queued work (before every clock read); "auto": every accelerator."""
    if device == "auto":
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    elif dev.type == "mps":
        torch.mps.synchronize()
    elif dev.type == "xpu":
        torch.xpu.synchronize(dev)


def best_time(fn: Callable[[], Any], device: torch.device | str, repeats: int = 3) -> float:
    """The fastest of ``repeats`` timed calls after one warm-up (for ceilings: the best the
    hardware did, as STREAM reports)."""
    fn()
    sync(device)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - t)
    return best


def matmul_rate(device: torch.device, dtype: torch.dtype, n: int, tf32: bool = False) -> float:
    """FLOP/s of an n x n matrix product."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        t = best_time(lambda: a @ b, device)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old
    return 2 * n**3 / t


def copy_bandwidth(device: torch.device, nbytes: int) -> float:
    """Bytes/s of a large device-to-device copy (counting the read and the write)."""
    src = torch.empty(nbytes // 4, dtype=torch.float32, device=device).fill_(1.0)
    dst = torch.empty_like(src)
    return 2 * nbytes / best_time(lambda: dst.copy_(src), device)


def h2d_bandwidth(device: torch.device, nbytes: int) -> float:
    """Bytes/s of a pinned host-to-device copy."""
    host = torch.empty(nbytes // 4, dtype=torch.float32).pin_memory()
    dev = torch.empty(nbytes // 4, dtype=torch.float32, device=device)
    return nbytes / best_time(lambda: dev.copy_(host, non_blocking=True), device)


def op_time(device: torch.device, repeats: int = 200) -> float:
    """Seconds per launch of a tiny kernel: the fixed cost every tensor operation pays."""
    x = torch.ones(16, device=device)
    for _ in range(20):
        x.add_(1)
    sync(device)
    t = time.perf_counter()
    for _ in range(repeats):
        x.add_(1)
    sync(device)
    return (time.perf_counter() - t) / repeats
