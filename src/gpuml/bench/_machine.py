"""The machine and its measured ceilings: matrix-product rate, memory and transfer bandwidth, disk reads.

Every case's floor is derived from these, measured in the same run as the case
(nanoGPT's ``estimate_mfu`` compares against a datasheet; we measure instead, since
shared machines rarely reach their datasheet).
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from typing import Any

import numpy as np
import torch

from ..device._measure import copy_bandwidth, h2d_bandwidth, matmul_rate


def drop_cache(path: str) -> None:
    """Ask the kernel to forget a file's cached pages (no root needed for one's own file)."""
    if hasattr(os, "posix_fadvise"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def read_rate(path: str, block: int = 16 << 20) -> float:
    """Bytes/s of reading ``path`` sequentially after dropping its cached pages."""
    drop_cache(path)
    size = os.path.getsize(path)
    buf = bytearray(block)
    t = time.perf_counter()
    with open(path, "rb", buffering=0) as fh:
        while fh.readinto(buf):
            pass
    return size / (time.perf_counter() - t)


def disk_read_rate(folder: str, nbytes: int) -> float:
    """Read rate of a freshly written file of ``nbytes`` in ``folder``."""
    fd, path = tempfile.mkstemp(dir=folder, suffix=".bin")
    try:
        with os.fdopen(fd, "wb") as fh:
            chunk = np.random.default_rng(0).bytes(1 << 20)
            for _ in range(max(1, nbytes >> 20)):
                fh.write(chunk)
        return read_rate(path)
    finally:
        os.unlink(path)


def ceilings(devices: list[torch.device], scratch: str, sizes: dict) -> dict[str, dict[str, float]]:
    """Measured rates per device: matmul FLOP/s (fp32, fp64; tf32 and bf16 on CUDA),
    copy bandwidth, pinned host-to-device bandwidth (CUDA), and the disk read rate."""
    out: dict[str, dict[str, float]] = {}
    for dev in devices:
        n = sizes["matmul_n_gpu" if dev.type != "cpu" else "matmul_n_cpu"]
        r = {"matmul_fp32": matmul_rate(dev, torch.float32, n)}
        if dev.type != "mps":
            r["matmul_fp64"] = matmul_rate(dev, torch.float64, n // 2)
        if dev.type == "cuda":
            r["matmul_tf32"] = matmul_rate(dev, torch.float32, n, tf32=True)
            r["matmul_bf16"] = matmul_rate(dev, torch.bfloat16, n)
            r["h2d_pinned"] = h2d_bandwidth(dev, sizes["copy_bytes"])
        r["copy"] = copy_bandwidth(dev, sizes["copy_bytes"])
        out[str(dev)] = r
    out["disk"] = {"read": disk_read_rate(scratch, sizes["disk_bytes"])}
    return out


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    import sklearn

    from .. import __version__

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(), "torch": torch.__version__, "sklearn": sklearn.__version__,
        "numpy": np.__version__, "gpuml": __version__, "gpus": [], "date": time.strftime("%Y-%m-%d"),
    }
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            info["gpus"].append({"name": p.name, "memory": p.total_memory, "capability": f"{p.major}.{p.minor}"})
        try:
            from ..device._facts import gather_facts

            info["driver"] = gather_facts().driver_version
        except Exception:  # the report must not fail for a missing detail
            info["driver"] = None
        info["cuda"] = torch.version.cuda
    return info
