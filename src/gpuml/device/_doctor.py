"""`gpuml doctor`: is this machine ready for GPU machine learning, and if not, what to do.

Three steps, each testable alone, and no printing here (``gpuml.cli.doctor`` prints):

1. :func:`gather_facts` reads the machine once into a :class:`Facts`: torch's build, environment
   variables, the platform, NVML (``pip install 'gpuml[nvml]'``) and then what ``torch.cuda`` sees.
   NVML is read *before* any ``torch.cuda`` call that initializes CUDA (``is_available()`` itself runs
   ``cuInit``, or NVML when ``PYTORCH_NVML_BASED_CUDA_CHECK=1``, in which case it may say True although
   CUDA cannot start: so the GPUs' properties are read too, and any CUDA error is kept as a fact). With
   NVML, no CUDA context is ever created; without it, a GPU's free memory comes from
   ``torch.cuda.mem_get_info``, which does create one.
2. Each ``check_*`` function is a pure function of the facts returning :class:`Finding` objects, so
   tests inject facts and need no GPU.
3. :func:`report` runs every check into the JSON report below; :func:`device_rows` gives the rows of
   ``gpuml devices``.

JSON report (``gpuml doctor --json``)::

    {
      "status": "ok" | "warn" | "fail",     # the worst level among the findings
      "exit_code": 0 | 1,                   # 1 when any finding is "fail", else 0
      "findings": [                         # in the order of CHECKS
        {"level": "ok" | "warn" | "fail",
         "check": str,                      # the check's name: "torch", "nvml", "driver", ...
         "message": str,                    # one line: what was found
         "fix": str | null}                 # one line: what to do; null when nothing is to be done
      ],
      "facts": {...}                        # dataclasses.asdict(Facts): what the checks read
    }

``gpuml devices --json`` gives ``{"devices": [row, ...]}``, one row per :func:`device_rows`.

Examples
--------
>>> facts = Facts(torch_version="2.5.0", cpu_count=4)
>>> report(facts)["status"]
'ok'
"""

from __future__ import annotations

import dataclasses
import os
import platform
import re
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Level = Literal["ok", "warn", "fail"]
_RANK = {"ok": 0, "warn": 1, "fail": 2}
#: A GPU with less than this fraction of its memory free is "nearly full".
NEARLY_FULL = 0.10
NVML_FIX = "pip install 'gpuml[nvml]'"
_WHEEL = "pip install torch --index-url https://download.pytorch.org/whl/cu{tag}"
#: CUDA versions PyTorch publishes wheels for (download.pytorch.org/whl/cuXYZ).
_WHEEL_CUDA = ("11.8", "12.1", "12.4", "12.6", "12.8", "12.9", "13.0")
#: Jetson / integrated GPUs: SASS built for them runs only on them, and theirs only on them.
_INTEGRATED = {53, 62, 72, 87}
_GIB = 2**30


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


@dataclass
class Finding:
    """One result of a check: level, a short title, optional detail, and a one-line fix."""

    level: Level
    check: str
    title: str
    detail: str = ""
    fix: str | None = None

    @property
    def message(self) -> str:
        return f"{self.title}: {self.detail}" if self.detail else self.title

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "check": self.check, "message": self.message, "fix": self.fix}


# ----------------------------------------------------------------------------------- small helpers


def _version(text: str | None) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text or "")[:2])


def _gib(n: int | None) -> str:
    return "?" if n is None else f"{n / _GIB:.1f}"


def _sm(cc: tuple[int, int]) -> str:
    return f"sm_{cc[0]}{cc[1]}"


def _label(g: Gpu) -> str:
    where = f"cuda:{g.torch_index}" if g.torch_index is not None else f"GPU {g.nvml_index}"
    return f"{where} {g.name}"


def supports(g: Gpu, precision: Literal["tf32", "bf16", "fp8"]) -> bool | None:
    """Whether a GPU computes in ``precision``: TF32 and bf16 need sm_80+, FP8 sm_89+; None if unknown."""
    if g.arch:  # ROCm: every supported AMD GPU has bf16; FP8 from MI300 (gfx94x) and RDNA4 (gfx12)
        return {"bf16": True, "fp8": g.arch.startswith(("gfx94", "gfx95", "gfx12")), "tf32": None}[precision]
    if g.capability is None:
        return None
    return tuple(g.capability) >= ((8, 9) if precision == "fp8" else (8, 0))


def _signs(f: Facts) -> str:
    """Evidence of an NVIDIA GPU on this machine, in words ("" when none)."""
    signs = [f"NVML sees {len(_nvml_gpus(f))} GPU(s)"] if _nvml_gpus(f) else []
    signs += ["/proc/driver/nvidia/version exists"] if f.proc_driver else []
    signs += [f"nvidia-smi is at {f.nvidia_smi}"] if f.nvidia_smi else []
    return ", ".join(signs)


def _nvml_gpus(f: Facts) -> list[Gpu]:
    return [g for g in f.gpus if g.nvml_index is not None]


def _torch_gpus(f: Facts) -> list[Gpu]:
    return sorted((g for g in f.gpus if g.torch_index is not None), key=lambda g: g.torch_index)


def _wheel_fix(max_cuda: str | None) -> str:
    """The pip line for the newest CUDA wheel a driver supporting ``max_cuda`` runs."""
    fitting = [v for v in _WHEEL_CUDA if not max_cuda or _version(v) <= _version(max_cuda)]
    tag = (fitting or ["12.6"])[-1].replace(".", "")
    return _WHEEL.format(tag=tag) + " (see https://pytorch.org/get-started/locally/)"


def visible_gpus(value: str | None, uuids: list[str | None]) -> list[int] | None:
    """NVML indices that ``CUDA_VISIBLE_DEVICES=value`` exposes, as CUDA parses it; None for MIG.

    CUDA reads ids (or ``GPU-`` UUID prefixes) until the first one that is not a GPU of this
    machine: ``""``, ``"-1"`` or ``"foo"`` hide every GPU, ``"0,7"`` on 4 GPUs exposes only 0.

    Examples
    --------
    >>> visible_gpus("1,0", [None, None]), visible_gpus("-1", [None]), visible_gpus("0,7", [None] * 4)
    ([1, 0], [], [0])
    """
    if value is None:
        return list(range(len(uuids)))
    out: list[int] = []
    for token in value.split(","):
        token = token.strip()
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


def _targets(f: Facts) -> list[Gpu]:
    """The GPUs work would run on: those torch sees, else those CUDA_VISIBLE_DEVICES exposes."""
    if _torch_gpus(f):
        return _torch_gpus(f)
    visible = _visible(f)
    nvml = _nvml_gpus(f)
    return nvml if visible is None else [nvml[i] for i in visible if i < len(nvml)]


# ---------------------------------------------------------------------------------------- checks


def check_torch(f: Facts) -> list[Finding]:
    """The torch build: CUDA, ROCm or CPU-only, and a CPU-only build on a machine with an NVIDIA GPU."""
    head = f"PyTorch {f.torch_version}"
    if f.cuda_build or f.hip_build:
        build = f"CUDA {f.cuda_build}" if f.cuda_build else f"ROCm {f.hip_build}"
        return [Finding("ok", "torch", f"{head}, {build} build", "kernels for " + (" ".join(f.arch_list) or "?"))]
    signs = _signs(f)
    if signs:
        return [Finding("fail", "torch", f"CPU-only {head} on a machine with an NVIDIA GPU", signs,
                        _wheel_fix(f.driver_cuda))]
    extra = " (with MPS)" if f.mps_built else ""
    return [Finding("ok", "torch", f"{head}, CPU-only build{extra}", "no NVIDIA GPU found on this machine")]


def _nvml_error_kind(error: str) -> str:
    low = error.lower()
    if "mismatch" in low:
        return "mismatch"
    if "driverNotLoaded".lower() in low.replace(" ", "") or "driver not loaded" in low:
        return "not-loaded"
    if "librarynotfound" in low.replace(" ", "").replace("_", "") or "library not found" in low:
        return "no-library"
    return "other"


def check_nvml(f: Facts) -> list[Finding]:
    """NVML: installed, started, and the driver it reports (or why it failed: a version mismatch...)."""
    signs = _signs(f)
    if f.nvml == "missing":
        level: Level = "warn" if signs else "ok"
        why = f" although {signs}" if signs else " (needed only on NVIDIA machines)"
        return [Finding(level, "nvml", "nvidia-ml-py is not installed: no driver, memory or process facts" + why,
                        fix=NVML_FIX)]
    if f.nvml == "error":
        error = f.nvml_error or "unknown error"
        kind = _nvml_error_kind(error)
        if kind == "mismatch":
            return [Finding("fail", "nvml", "NVIDIA driver/library version mismatch", error,
                            "reboot (the driver was upgraded but the old kernel module is still loaded)")]
        if kind == "not-loaded":
            return [Finding("fail" if signs else "warn", "nvml", "the NVIDIA kernel driver is not loaded", error,
                            "sudo modprobe nvidia, or reinstall the driver (dmesg | grep -i nvrm says why)")]
        if kind == "no-library" and not signs:
            return [Finding("ok", "nvml", "no NVIDIA driver installed (libnvidia-ml not found)")]
        return [Finding("warn", "nvml", "NVML failed", error, "run nvidia-smi; reinstall the driver if it fails")]
    n = len(_nvml_gpus(f))
    return [Finding("ok", "nvml", f"NVIDIA driver {f.driver_version}, supports CUDA up to {f.driver_cuda}",
                    f"NVML sees {n} GPU(s)")]


def check_driver(f: Facts) -> list[Finding]:
    """The driver against the build: a driver older than torch's CUDA cannot run it."""
    if not (f.cuda_build and f.driver_cuda):
        return []
    need, have = _version(f.cuda_build), _version(f.driver_cuda)
    title = f"the driver supports CUDA up to {f.driver_cuda}, PyTorch is built for CUDA {f.cuda_build}"
    if have >= need:
        return [Finding("ok", "driver", title)]
    fix = f"upgrade the NVIDIA driver to one for CUDA {f.cuda_build}+, or {_wheel_fix(f.driver_cuda)}"
    if have[:1] < need[:1] or f.torch_cuda_error:
        return [Finding("fail", "driver", "NVIDIA driver too old for this PyTorch", title, fix)]
    return [Finding("warn", "driver", "NVIDIA driver older than this PyTorch's CUDA",
                    title + "; it runs through CUDA minor-version compatibility, without PTX JIT", fix)]


def check_visible_devices(f: Facts) -> list[Finding]:
    """CUDA_VISIBLE_DEVICES: unset, a subset, or hiding every GPU ("", "-1", ids that do not exist)."""
    value, nvml = f.cuda_visible_devices, _nvml_gpus(f)
    if value is None:
        return [Finding("ok", "visible-devices", "CUDA_VISIBLE_DEVICES is not set: every GPU is visible")]
    shown, visible = f"CUDA_VISIBLE_DEVICES={value!r}", _visible(f)
    if visible is None:
        return [Finding("ok", "visible-devices", f"{shown} selects MIG instances")]
    fix = "unset CUDA_VISIBLE_DEVICES, or list GPUs to use: " + (
        f"ids 0 to {len(nvml) - 1}" if nvml else "ids 0, 1, ...") + " or UUIDs from nvidia-smi -L"
    if not visible:
        if nvml or _signs(f):
            return [Finding("fail", "visible-devices", f"{shown} hides every GPU", _signs(f), fix)]
        return [Finding("ok", "visible-devices", f"{shown} hides every GPU (there is none here)")]
    if nvml and len(visible) < len(value.split(",")):
        return [Finding("warn", "visible-devices", f"{shown} names GPUs that do not exist",
                        f"CUDA stops at the first bad id, so only NVML GPU(s) {visible} are visible", fix)]
    of = f" of {len(nvml)}" if nvml else ""
    return [Finding("ok", "visible-devices", f"{shown}: {len(visible)}{of} GPU(s) visible")]


def _cuda_error_fix(error: str) -> str:
    low = error.lower()
    if "too old" in low or "insufficient" in low:
        return "upgrade the NVIDIA driver, or install a PyTorch built for an older CUDA"
    if "mismatch" in low or "803" in low or "unsupported display driver" in low:
        return "reboot (the driver was upgraded but the old kernel module is still loaded)"
    if "forward compatibility" in low or "804" in low:
        return "remove the cuda-compat libraries from LD_LIBRARY_PATH (this GPU cannot use them)"
    if "no cuda-capable device" in low or "no nvidia driver" in low:
        return "check CUDA_VISIBLE_DEVICES, /dev/nvidia* permissions, and docker run --gpus all"
    return "run nvidia-smi; reinstall the NVIDIA driver if it fails"


def check_cuda_init(f: Facts) -> list[Finding]:
    """Whether torch starts CUDA (or ROCm) and sees the GPUs NVML says are visible."""
    if not (f.cuda_build or f.hip_build):
        return []
    if f.torch_cuda_error and (_signs(f) or "no nvidia driver" not in f.torch_cuda_error.lower()):
        return [Finding("fail", "cuda-init", "PyTorch cannot start CUDA", f.torch_cuda_error,
                        _cuda_error_fix(f.torch_cuda_error))]
    seen, visible = _torch_gpus(f), _visible(f)
    if seen:
        return [Finding("ok", "cuda-init", f"PyTorch sees {len(seen)} GPU(s)")]
    if _nvml_gpus(f) and visible:
        return [Finding("fail", "cuda-init", "PyTorch sees no GPU although NVML shows some",
                        f"visible NVML GPU(s) {visible}",
                        "python -c 'import torch; torch.cuda.init()' prints CUDA's own error")]
    return [Finding("ok", "cuda-init", "PyTorch sees no GPU")]


def check_gpus(f: Facts) -> list[Finding]:
    """One line per GPU: capability, memory, precisions, processes."""
    out = []
    for g in f.gpus:
        cc = _sm(g.capability) if g.capability else (g.arch or "?")
        precisions = [p for p in ("tf32", "bf16", "fp8") if supports(g, p)]  # type: ignore[arg-type]
        procs = "? processes" if g.processes is None else f"{len(g.processes)} process(es)"
        hidden = "" if g.torch_index is not None or not (f.cuda_build or f.hip_build) else ", not visible to PyTorch"
        out.append(Finding("ok", "gpu", _label(g),
                           f"{cc}, {_gib(g.memory_free)} of {_gib(g.memory_total)} GiB free, "
                           f"{' '.join(precisions) or 'no tf32/bf16/fp8'}, {procs}{hidden}"))
    return out


def arch_support(capability: tuple[int, int], arch_list: list[str], cuda: str | None = None) -> str:
    """How a build's arch list covers a GPU: "native" (SASS), "ptx" (JIT from PTX) or "none".

    SASS for sm_XY runs on the same major with minor >= Y (``sm_90a``: on 9.0 only; Jetson
    parts only on themselves, before CUDA 13.2); PTX ``compute_XY`` JIT-compiles on XY and above.

    Examples
    --------
    >>> arch_support((8, 9), ["sm_80", "sm_90"]), arch_support((10, 0), ["sm_90", "compute_90"])
    ('native', 'ptx')
    """
    cc = 10 * capability[0] + capability[1]
    result = "none"
    for entry in arch_list:
        kind, _, code = entry.partition("_")
        digits = re.match(r"(\d+)([a-z]?)", code)
        if not digits:
            continue
        sm, suffix = int(digits.group(1)), digits.group(2)
        if suffix == "a" and sm != cc:
            continue
        if kind == "compute" and cc >= sm:
            result = "ptx"
        elif kind == "sm" and sm // 10 == cc // 10 and cc >= sm:
            unified = _version(cuda) >= (13, 2) and cc in (72, 87)
            if sm == cc or not ({sm, cc} & _INTEGRATED) or unified:
                return "native"
    return result


def check_arch(f: Facts) -> list[Finding]:
    """Each GPU's architecture against the build's arch list (CUDA builds only)."""
    if not f.cuda_build or not f.arch_list:
        return []
    out: list[Finding] = []
    for cc in sorted({tuple(g.capability) for g in _targets(f) if g.capability}):
        names = ", ".join(_label(g) for g in _targets(f) if g.capability and tuple(g.capability) == cc)
        support, arches = arch_support(cc, f.arch_list, f.cuda_build), " ".join(f.arch_list)
        fix = _wheel_fix("12.6") if cc < (7, 5) else _wheel_fix(f.driver_cuda)
        if support == "native":
            out.append(Finding("ok", "arch", f"{_sm(cc)} is in this PyTorch build", names))
        elif support == "ptx":
            out.append(Finding("warn", "arch", f"{_sm(cc)} has no native kernels in this build, only PTX",
                               f"{names}; built for {arches}: slow JIT at first use, some ops may fail", fix))
        else:
            out.append(Finding("fail", "arch", f"this PyTorch has no kernels for {_sm(cc)}",
                               f"{names}; built for {arches}", fix))
    return out


def check_memory(f: Facts) -> list[Finding]:
    """A GPU nearly full (less than NEARLY_FULL free), with the processes holding it."""
    out = []
    for g in _targets(f):
        if not g.memory_total or g.memory_free is None or g.memory_free >= NEARLY_FULL * g.memory_total:
            continue
        if g.processes:
            who = ", ".join(f"pid {p.pid} {p.name} ({_gib(p.used_bytes)} GiB)" for p in g.processes)
        else:
            who = "no process listed (processes outside this container?)" if g.processes == [] else (
                "processes unknown without NVML")
        where = f"--device cuda:N or CUDA_VISIBLE_DEVICES" if len(f.gpus) > 1 else "a later run"
        out.append(Finding("warn", "memory", f"{_label(g)} is nearly full: {_gib(g.memory_free)} of "
                           f"{_gib(g.memory_total)} GiB free", who,
                           f"stop those processes, or pick another GPU ({where})"))
    return out


def check_bf16(f: Facts) -> list[Finding]:
    """bf16 asked for (``--bf16``): every GPU in use must have it (sm_80+)."""
    if not f.wants_bf16:
        return []
    targets = _targets(f)
    if not targets:
        return [Finding("ok", "bf16", "bf16 asked for: no GPU, the CPU computes bf16 (fast only with AMX/AVX512-BF16)")]
    lacking = [g for g in targets if supports(g, "bf16") is False]
    if not lacking:
        return [Finding("ok", "bf16", "bf16 asked for: every GPU has it")]
    names = ", ".join(f"{_label(g)} ({_sm(g.capability) if g.capability else '?'})" for g in lacking)
    return [Finding("fail", "bf16", "bf16 asked for on GPU(s) without it (bf16 needs sm_80+)", names,
                    "use float32 or float16 there, or hide them with CUDA_VISIBLE_DEVICES")]


def check_mps(f: Facts) -> list[Finding]:
    """Apple's MPS on macOS."""
    if f.system != "Darwin":
        return []
    if f.mps_available:
        return [Finding("ok", "mps", "Apple MPS is available", "float32 only: MPS has no float64")]
    if f.mps_built:
        return [Finding("warn", "mps", "PyTorch has MPS but macOS does not offer it",
                        fix="MPS needs macOS 12.3+ and a Metal GPU (Apple silicon or AMD)")]
    return [Finding("warn", "mps", "this PyTorch has no MPS support", f"Python runs on {f.machine}",
                    fix="on Apple silicon, install an arm64 Python, then pip install torch")]


def check_device(f: Facts) -> list[Finding]:
    """Where gpuml's device="auto" would run, and whether the CPU fallback is healthy."""
    gpus = _torch_gpus(f)
    if gpus and not f.torch_cuda_error:
        return [Finding("ok", "device", f"gpuml will run on {_label(gpus[0])}")]
    if f.mps_available or f.xpu_devices:
        return [Finding("ok", "device", "gpuml will run on " + ("mps" if f.mps_available else "xpu:0"))]
    title = f"gpuml will run on the CPU: {f.cpu_count} core(s), {_gib(f.cpu_memory_available)} GiB available"
    if f.cpu_memory_available is not None and f.cpu_memory_available < _GIB:
        return [Finding("warn", "device", title, "less than 1 GiB of memory available",
                        "close other programs or set gpuml.set_config(memory_limit=...)")]
    return [Finding("ok", "device", title)]


#: Every check, in report order.
CHECKS: tuple[Callable[[Facts], list[Finding]], ...] = (
    check_torch, check_nvml, check_driver, check_visible_devices, check_cuda_init, check_gpus, check_arch,
    check_memory, check_bf16, check_mps, check_device,
)


# ---------------------------------------------------------------------------------------- report


def run_checks(f: Facts, checks: tuple[Callable[[Facts], list[Finding]], ...] = CHECKS) -> list[Finding]:
    """Every check's findings, in order."""
    return [finding for check in checks for finding in check(f)]


def status(findings: list[Finding]) -> Level:
    """The worst level among ``findings`` ("ok" when there are none)."""
    return max((x.level for x in findings), key=_RANK.__getitem__, default="ok")


def report(f: Facts) -> dict[str, Any]:
    """The doctor's report as the JSON-ready dict documented in the module docstring."""
    findings = run_checks(f)
    worst = status(findings)
    return {"status": worst, "exit_code": 1 if worst == "fail" else 0,
            "findings": [x.to_dict() for x in findings], "facts": dataclasses.asdict(f)}


def device_rows(f: Facts) -> list[dict[str, Any]]:
    """The rows of ``gpuml devices``: the CPU, then each GPU, MPS and XPU device.

    Each row: ``device`` ("cpu", "cuda:0", "mps", "xpu:0", or None for a GPU torch does not
    see), ``name``, ``memory_free`` and ``memory_total`` (bytes or None), ``capability``,
    ``precisions`` (list), ``use`` (current use, in words) and ``note``.
    """
    load = "" if f.cpu_load is None else f"load {f.cpu_load:.1f} on "
    rows = [dict(device="cpu", name=f.cpu_name or f.machine, memory_free=f.cpu_memory_available,
                 memory_total=f.cpu_memory_total, capability=f.machine, precisions=["fp64", "fp32", "bf16"],
                 use=f"{load}{f.cpu_count} core(s)", note="")]
    for g in sorted(f.gpus, key=lambda g: (g.torch_index is None, g.torch_index or 0, g.nvml_index or 0)):
        used = None if g.processes is None else sum(p.used_bytes or 0 for p in g.processes)
        use = "?" if g.processes is None else f"{len(g.processes)} process(es), {_gib(used)} GiB"
        rows.append(dict(device=None if g.torch_index is None else f"cuda:{g.torch_index}", name=g.name,
                         memory_free=g.memory_free, memory_total=g.memory_total,
                         capability=_sm(g.capability) if g.capability else (g.arch or ""),
                         precisions=["fp64", "fp32"] + [p for p in ("tf32", "bf16", "fp8") if supports(g, p)],
                         use=use, note="" if g.torch_index is not None else "not visible to PyTorch"))
    if f.mps_available:
        rows.append(dict(device="mps", name="Apple MPS", memory_free=None, memory_total=f.mps_memory,
                         capability="", precisions=["fp32", "fp16", "bf16"], use="", note="no float64"))
    rows += [dict(device=f"xpu:{i}", name=name, memory_free=None, memory_total=None, capability="",
                  precisions=[], use="", note="") for i, name in enumerate(f.xpu_devices)]
    return rows


# -------------------------------------------------------------------------------------- gathering


def gather_facts(*, wants_bf16: bool = False) -> Facts:
    """Read this machine into a :class:`Facts`: platform, torch's build, NVML, then ``torch.cuda``.

    Never raises for a broken setup: errors become facts (``nvml_error``, ``torch_cuda_error``).
    NVML is read before ``torch.cuda`` can initialize CUDA, and without creating a CUDA context.
    """
    f = Facts(wants_bf16=wants_bf16)
    _gather_platform(f)
    _gather_torch_build(f)
    _gather_nvml(f, _import_pynvml())
    _gather_torch_devices(f)
    return f


def _try(fn: Callable[[], Any], default: Any = None) -> Any:
    try:
        return fn()
    except Exception:  # a probe that fails is a missing fact, not a crash of the doctor
        return default


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _read(path: str) -> str | None:
    try:
        with open(path, errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def _gather_platform(f: Facts) -> None:
    f.system, f.machine, f.python = platform.system(), platform.machine(), platform.python_version()
    f.cuda_visible_devices = os.environ.get("CUDA_VISIBLE_DEVICES")
    f.proc_driver = ((_read("/proc/driver/nvidia/version") or "").strip().splitlines() or [None])[0]
    f.nvidia_smi = shutil.which("nvidia-smi")
    f.cpu_count = os.cpu_count() or 1
    names = re.findall(r"^model name\s*:\s*(.+)$", _read("/proc/cpuinfo") or "", re.M)
    f.cpu_name = names[0].strip() if names else platform.machine()
    meminfo = dict(re.findall(r"^(\w+):\s+(\d+) kB", _read("/proc/meminfo") or "", re.M))
    if "MemTotal" in meminfo:
        f.cpu_memory_total = int(meminfo["MemTotal"]) * 1024
        f.cpu_memory_available = int(meminfo.get("MemAvailable", 0)) * 1024 or None
    else:
        page = _try(lambda: os.sysconf("SC_PAGE_SIZE"))
        f.cpu_memory_total = _try(lambda: os.sysconf("SC_PHYS_PAGES") * page)
        f.cpu_memory_available = _try(lambda: os.sysconf("SC_AVPHYS_PAGES") * page)
    f.cpu_load = _try(lambda: os.getloadavg()[0])


def _gather_torch_build(f: Facts) -> None:
    """What the build is: none of this initializes CUDA."""
    import torch

    f.torch_version = torch.__version__
    f.cuda_build = torch.version.cuda
    f.hip_build = getattr(torch.version, "hip", None)
    f.arch_list = list(_try(torch.cuda.get_arch_list, []))
    f.mps_built = bool(_try(torch.backends.mps.is_built, False))


def _import_pynvml() -> Any:
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


def _gather_nvml(f: Facts, nvml: Any) -> None:
    """Driver, its CUDA, and each GPU from NVML (``nvml`` is the pynvml module, or None)."""
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
        f.driver_version = _try(lambda: _text(nvml.nvmlSystemGetDriverVersion()))
        cuda = _try(nvml.nvmlSystemGetCudaDriverVersion)  # 12040 for CUDA 12.4
        f.driver_cuda = f"{cuda // 1000}.{cuda % 1000 // 10}" if cuda else None
        f.gpus = [_nvml_gpu(nvml, i) for i in range(nvml.nvmlDeviceGetCount())]
    except Exception as exc:
        f.nvml, f.nvml_error = "error", f"{type(exc).__name__}: {exc}"
    finally:
        _try(nvml.nvmlShutdown)


def _nvml_gpu(nvml: Any, index: int) -> Gpu:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    memory = _try(lambda: nvml.nvmlDeviceGetMemoryInfo(handle))
    capability = _try(lambda: nvml.nvmlDeviceGetCudaComputeCapability(handle))
    return Gpu(name=_text(_try(lambda: nvml.nvmlDeviceGetName(handle), "?")),
               uuid=_try(lambda: _text(nvml.nvmlDeviceGetUUID(handle))), nvml_index=index,
               capability=tuple(capability) if capability else None,
               memory_total=getattr(memory, "total", None), memory_free=getattr(memory, "free", None),
               processes=_nvml_processes(nvml, handle))


def _nvml_processes(nvml: Any, handle: Any) -> list[GpuProcess] | None:
    found: dict[int, GpuProcess] = {}
    lists = [_try(lambda: getter(handle)) for getter in
             (nvml.nvmlDeviceGetComputeRunningProcesses, nvml.nvmlDeviceGetGraphicsRunningProcesses)]
    if all(x is None for x in lists):
        return None
    for proc in (p for x in lists for p in x or []):
        name = _try(lambda: _text(nvml.nvmlSystemGetProcessName(proc.pid))) or (
            _read(f"/proc/{proc.pid}/comm") or "?").strip()
        found.setdefault(proc.pid, GpuProcess(proc.pid, name, getattr(proc, "usedGpuMemory", None)))
    return list(found.values())


def _uuid_key(uuid: Any) -> str | None:
    return None if uuid is None else _text(uuid).lower().removeprefix("gpu-")


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
        for g in f.gpus:
            if g.torch_index is not None and g.memory_free is None:  # no NVML: this creates a context
                g.memory_free = _try(lambda g=g: int(torch.cuda.mem_get_info(g.torch_index)[0]))
    if f.system == "Darwin":
        f.mps_available = bool(_try(torch.backends.mps.is_available, False))
        if f.mps_available:
            f.mps_memory = _try(lambda: int(torch.mps.recommended_max_memory()))
    xpu = getattr(torch, "xpu", None)
    if xpu is not None and _try(xpu.is_available, False):
        f.xpu_devices = [_try(lambda i=i: xpu.get_device_name(i), "?") for i in range(xpu.device_count())]


def _torch_gpu(torch: Any, index: int) -> Gpu:
    p = torch.cuda.get_device_properties(index)
    return Gpu(name=p.name, uuid=_try(lambda: _text(p.uuid)), torch_index=index,
               capability=(p.major, p.minor), memory_total=int(p.total_memory),
               arch=(getattr(p, "gcnArchName", None) or None) if torch.version.hip else None)


def _merge(f: Facts, seen: list[Gpu]) -> None:
    """Match torch's GPUs with NVML's: by UUID, else in CUDA_VISIBLE_DEVICES order."""
    nvml, visible = _nvml_gpus(f), _visible(f) or []
    by_uuid = {_uuid_key(g.uuid): g for g in nvml if g.uuid}
    for g in seen:
        match = by_uuid.get(_uuid_key(g.uuid))
        if match is None and not by_uuid and g.torch_index < len(visible) and visible[g.torch_index] < len(nvml):
            match = nvml[visible[g.torch_index]]
        if match is None:
            f.gpus.append(g)
        else:
            match.torch_index, match.arch = g.torch_index, g.arch
