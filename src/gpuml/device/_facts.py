"""What `gpuml doctor` reads off the machine: the facts, and the one function that gathers them.

Tests build :class:`Facts` by hand; :func:`gather_facts` reads the real machine.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class GpuProcess:
    """A process holding memory on a GPU (from NVML)."""

    pid: int
    name: str
    used_bytes: int | None = None


@dataclass
class Gpu:
    """One GPU, as NVML and/or torch see it.

    ``nvml_index`` counts every GPU of the machine (NVML ignores ``CUDA_VISIBLE_DEVICES``);
    ``torch_index`` is N in ``cuda:N``, None when torch does not see the GPU. ``processes`` is None
    when unknown (no NVML). ``capability`` is ``(major, minor)``; ``arch`` is ROCm's ``gfx...`` name.
    """

    name: str
    uuid: str | None = None
    nvml_index: int | None = None
    torch_index: int | None = None
    capability: tuple[int, int] | None = None
    arch: str | None = None
    memory_total: int | None = None
    memory_free: int | None = None
    processes: list[GpuProcess] | None = None


@dataclass
class Facts:
    """Everything the checks read; the defaults describe a healthy CPU-only Linux machine."""

    torch_version: str = ""
    cuda_build: str | None = None  # torch.version.cuda
    hip_build: str | None = None  # torch.version.hip
    arch_list: list[str] = field(default_factory=list)  # torch.cuda.get_arch_list()
    system: str = "Linux"  # platform.system()
    machine: str = "x86_64"
    python: str = ""
    cuda_visible_devices: str | None = None
    nvml: Literal["ok", "missing", "error"] = "missing"
    nvml_error: str | None = None  # "NVMLError_LibRmVersionMismatch: ..."
    driver_version: str | None = None
    driver_cuda: str | None = None  # the newest CUDA the driver supports, "12.4"
    proc_driver: str | None = None  # first line of /proc/driver/nvidia/version
    nvidia_smi: str | None = None  # its path
    gpus: list[Gpu] = field(default_factory=list)
    torch_cuda_error: str | None = None  # why torch could not start CUDA
    mps_built: bool = False
    mps_available: bool = False
    mps_memory: int | None = None
    xpu_devices: list[str] = field(default_factory=list)
    cpu_name: str = ""
    cpu_count: int = 1
    cpu_memory_total: int | None = None
    cpu_memory_available: int | None = None
    cpu_load: float | None = None  # 1-minute load average
    wants_bf16: bool = False


def _nvml_gpus(f: Facts) -> list[Gpu]:
    return [g for g in f.gpus if g.nvml_index is not None]


def _torch_gpus(f: Facts) -> list[Gpu]:
    return sorted((g for g in f.gpus if g.torch_index is not None), key=lambda g: g.torch_index)


def visible_gpus(value: str | None, uuids: list[str | None]) -> list[int] | None:
    """NVML indices that ``CUDA_VISIBLE_DEVICES=value`` exposes, as CUDA parses it; None for MIG.

    CUDA reads ids (or ``GPU-`` UUID prefixes) up to the first that is not a GPU of this
    machine: ``""``, ``"-1"`` or ``"foo"`` hide every GPU, ``"0,7"`` on 4 GPUs exposes only 0.

    Examples
    --------
    >>> visible_gpus("1,0", [None, None]), visible_gpus("-1", [None]), visible_gpus("0,7", [None] * 4)
    ([1, 0], [], [0])
    """
    if value is None:
        return list(range(len(uuids)))
    out: list[int] = []
    for token in (t.strip() for t in value.split(",")):
        if token.startswith("MIG-"):
            return None
        if token.startswith("GPU-"):
            hits = [i for i, u in enumerate(uuids) if u and u.lower().startswith(token.lower())]
            index = hits[0] if len(hits) == 1 else None
        else:
            digits = re.match(r"\+?(\d+)", token)
            index = int(digits.group(1)) if digits else None
        if index is None or index >= len(uuids):
            break
        if index in out:  # a repeated id: CUDA exposes nothing
            return []
        out.append(index)
    return out


def _visible(f: Facts) -> list[int] | None:
    nvml = _nvml_gpus(f)
    return visible_gpus(f.cuda_visible_devices, [g.uuid for g in nvml] if nvml else [None] * 64)


# --------------------------------------------------------------------------------- gathering


def gather_facts(*, wants_bf16: bool = False) -> Facts:
    """Read this machine into a :class:`Facts`: platform, torch's build, NVML, then ``torch.cuda``.

    Never raises for a broken setup: errors become facts (``nvml_error``, ``torch_cuda_error``).
    """
    f = Facts(wants_bf16=wants_bf16)
    _gather_platform(f)
    _gather_torch_build(f)
    _gather_nvml(f, _import_pynvml())  # before anything that initializes CUDA
    _gather_torch_devices(f)
    return f


def _try(fn: Callable[..., Any], *args: Any, default: Any = None) -> Any:
    try:
        return fn(*args)
    except Exception:  # a probe that fails is a missing fact, not a crash of the doctor
        return default


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _read(path: str) -> str:
    try:
        with open(path, errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


def _gather_platform(f: Facts) -> None:
    f.system, f.machine, f.python = platform.system(), platform.machine(), platform.python_version()
    f.cuda_visible_devices = os.environ.get("CUDA_VISIBLE_DEVICES")
    f.proc_driver = (_read("/proc/driver/nvidia/version").strip().splitlines() or [None])[0]
    f.nvidia_smi = shutil.which("nvidia-smi")
    f.cpu_count = os.cpu_count() or 1
    names = re.findall(r"^model name\s*:\s*(.+)$", _read("/proc/cpuinfo"), re.M)
    f.cpu_name = names[0].strip() if names else f.machine
    meminfo = {k: int(v) * 1024 for k, v in re.findall(r"^(\w+):\s+(\d+) kB", _read("/proc/meminfo"), re.M)}
    pages = lambda name: _try(lambda: os.sysconf(name) * os.sysconf("SC_PAGE_SIZE")) or None  # noqa: E731
    f.cpu_memory_total = meminfo.get("MemTotal") or pages("SC_PHYS_PAGES")
    f.cpu_memory_available = meminfo.get("MemAvailable") or pages("SC_AVPHYS_PAGES")
    f.cpu_load = _try(lambda: os.getloadavg()[0])


def _gather_torch_build(f: Facts) -> None:
    """What the build is; none of this initializes CUDA."""
    import torch

    f.torch_version, f.cuda_build = torch.__version__, torch.version.cuda
    f.hip_build = getattr(torch.version, "hip", None)
    f.arch_list = list(_try(torch.cuda.get_arch_list, default=[]))
    f.mps_built = bool(_try(torch.backends.mps.is_built, default=False))


def _import_pynvml() -> Any:
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


def _gather_nvml(f: Facts, nvml: Any) -> None:
    """The driver, its CUDA and each GPU, from NVML (``nvml``: the pynvml module, or None)."""
    if nvml is None:
        f.nvml = "missing"
        return
    try:
        nvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibRmVersionMismatch, _DriverNotLoaded, _LibraryNotFound, ...
        f.nvml, f.nvml_error = "error", f"{type(exc).__name__}: {exc}"
        return
    try:
        f.nvml = "ok"
        f.driver_version = _text(_try(nvml.nvmlSystemGetDriverVersion, default="?"))
        cuda = _try(nvml.nvmlSystemGetCudaDriverVersion)  # 12040 for CUDA 12.4
        f.driver_cuda = f"{cuda // 1000}.{cuda % 1000 // 10}" if cuda else None
        f.gpus = [_nvml_gpu(nvml, i) for i in range(nvml.nvmlDeviceGetCount())]
    except Exception as exc:
        f.nvml, f.nvml_error = "error", f"{type(exc).__name__}: {exc}"
    finally:
        _try(nvml.nvmlShutdown)


def _nvml_gpu(nvml: Any, index: int) -> Gpu:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    memory = _try(nvml.nvmlDeviceGetMemoryInfo, handle)
    capability = _try(nvml.nvmlDeviceGetCudaComputeCapability, handle)
    uuid = _try(nvml.nvmlDeviceGetUUID, handle)
    return Gpu(name=_text(_try(nvml.nvmlDeviceGetName, handle, default="?")), nvml_index=index,
               uuid=None if uuid is None else _text(uuid),
               capability=tuple(capability) if capability else None,
               memory_total=getattr(memory, "total", None), memory_free=getattr(memory, "free", None),
               processes=_nvml_processes(nvml, handle))


def _nvml_processes(nvml: Any, handle: Any) -> list[GpuProcess] | None:
    lists = [_try(getter, handle) for getter in
             (nvml.nvmlDeviceGetComputeRunningProcesses, nvml.nvmlDeviceGetGraphicsRunningProcesses)]
    if all(x is None for x in lists):
        return None
    found: dict[int, GpuProcess] = {}
    for proc in (p for x in lists for p in x or []):
        name = _try(nvml.nvmlSystemGetProcessName, proc.pid) or _read(f"/proc/{proc.pid}/comm").strip() or "?"
        found.setdefault(proc.pid, GpuProcess(proc.pid, _text(name), getattr(proc, "usedGpuMemory", None)))
    return list(found.values())


def _gather_torch_devices(f: Facts) -> None:
    """What torch sees; this initializes CUDA, so it runs after NVML. Errors become facts."""
    import torch

    if torch.backends.cuda.is_built():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                count = torch.cuda.device_count() if torch.cuda.is_available() else 0
                seen = [_torch_gpu(torch, i) for i in range(count)]  # initializes CUDA; raises if it cannot
            except Exception as exc:
                seen, f.torch_cuda_error = [], f"{type(exc).__name__}: {exc}".strip()
        failed = [str(w.message) for w in caught if str(w.message).startswith("CUDA initialization")]
        f.torch_cuda_error = f.torch_cuda_error or (failed[0] if failed else None)
        _merge(f, seen)
        for g in _torch_gpus(f):
            if g.memory_free is None:  # no NVML: this creates a CUDA context on the GPU
                g.memory_free = _try(lambda i: int(torch.cuda.mem_get_info(i)[0]), g.torch_index)
    if f.system == "Darwin":
        f.mps_available = bool(_try(torch.backends.mps.is_available, default=False))
        f.mps_memory = _try(lambda: int(torch.mps.recommended_max_memory())) if f.mps_available else None
    xpu = getattr(torch, "xpu", None)
    if xpu is not None and _try(xpu.is_available, default=False):
        f.xpu_devices = [_try(xpu.get_device_name, i, default="?") for i in range(xpu.device_count())]


def _torch_gpu(torch: Any, index: int) -> Gpu:
    p = torch.cuda.get_device_properties(index)
    uuid = _try(getattr, p, "uuid")
    return Gpu(name=p.name, uuid=None if uuid is None else _text(uuid), torch_index=index,
               capability=(p.major, p.minor), memory_total=int(p.total_memory),
               arch=(getattr(p, "gcnArchName", "") or None) if torch.version.hip else None)


def _merge(f: Facts, seen: list[Gpu]) -> None:
    """Match torch's GPUs with NVML's: by UUID, else by position in CUDA_VISIBLE_DEVICES."""
    nvml, visible = _nvml_gpus(f), _visible(f) or []
    key = lambda u: None if u is None else u.lower().removeprefix("gpu-")  # noqa: E731
    by_uuid = {key(g.uuid): g for g in nvml if g.uuid}
    for g in seen:
        match = by_uuid.get(key(g.uuid))
        if match is None and g.torch_index < len(visible) and visible[g.torch_index] < len(nvml):
            candidate = nvml[visible[g.torch_index]]  # same position, unclaimed, same capability
            if candidate.torch_index is None and candidate.capability in (None, g.capability):
                match = candidate
        if match is None:
            f.gpus.append(g)
        else:
            match.torch_index, match.arch = g.torch_index, g.arch
