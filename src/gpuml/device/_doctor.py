"""`gpuml doctor`: is this machine ready for GPU machine learning, and if not, what to do.

Three steps, each testable alone, and no printing here (``gpuml.cli.doctor`` prints):

1. :func:`gather_facts` reads the machine once into a :class:`Facts`: the platform, torch's build,
   NVML (``pip install 'gpuml[nvml]'``), then what ``torch.cuda`` sees. NVML goes first and creates
   no CUDA context. ``torch.cuda.is_available()`` runs ``cuInit`` (or, with
   ``PYTORCH_NVML_BASED_CUDA_CHECK=1``, only counts GPUs through NVML, so it can be True when CUDA
   cannot start): so the GPUs' properties are read as well, and a CUDA error is kept as a fact.
   Without NVML, a GPU's free memory comes from ``torch.cuda.mem_get_info``, which creates a context.
2. Each ``check_*`` function is a pure function of the facts returning :class:`Finding` objects, so
   tests inject facts and need no GPU.
3. :func:`report` runs :data:`CHECKS` into the JSON report below; :func:`device_rows` gives the
   rows of ``gpuml devices``.

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

``gpuml devices --json`` gives ``{"devices": [row, ...]}`` with the rows of :func:`device_rows`.

Examples
--------
>>> report(Facts(torch_version="2.5.0", cpu_count=4))["status"]
'ok'
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ._facts import Facts, Gpu, GpuProcess, _nvml_gpus, _torch_gpus, _visible, gather_facts, visible_gpus  # noqa: F401

Level = Literal["ok", "warn", "fail"]
_RANK = {"ok": 0, "warn": 1, "fail": 2}
#: A GPU with less than this fraction of its memory free is "nearly full".
NEARLY_FULL = 0.10
NVML_FIX = "pip install 'gpuml[nvml]'"
REBOOT_FIX = "reboot (the driver was upgraded but the old kernel module is still loaded)"
#: CUDA versions PyTorch publishes wheels for (https://download.pytorch.org/whl/cuXYZ).
_WHEEL_CUDA = ("11.8", "12.1", "12.4", "12.6", "12.8", "12.9", "13.0")
#: Jetson / integrated GPUs: SASS built for them runs only on them, and theirs only on them.
_INTEGRATED = {53, 62, 72, 87}
_GIB = 2**30


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


# ----------------------------------------------------------------------------------- helpers


def _version(text: str | None) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text or "")[:2])


def _gib(n: int | None) -> str:
    return "?" if n is None else f"{n / _GIB:.1f}"


def _sm(cc: tuple[int, int] | None) -> str:
    return "?" if cc is None else f"sm_{cc[0]}{cc[1]}"


def _label(g: Gpu) -> str:
    return (f"cuda:{g.torch_index}" if g.torch_index is not None else f"GPU {g.nvml_index}") + f" {g.name}"


def supports(g: Gpu, precision: Literal["tf32", "bf16", "fp8"]) -> bool | None:
    """Whether a GPU computes in ``precision``: TF32 and bf16 need sm_80+, FP8 sm_89+; None if unknown."""
    if g.arch:  # ROCm: every supported AMD GPU has bf16; FP8 from MI300 (gfx94x) and RDNA4 (gfx12)
        return {"bf16": True, "fp8": g.arch.startswith(("gfx94", "gfx95", "gfx12")), "tf32": None}[precision]
    if g.capability is None:
        return None
    return tuple(g.capability) >= ((8, 9) if precision == "fp8" else (8, 0))


def _precisions(g: Gpu) -> list[str]:
    return [p for p in ("tf32", "bf16", "fp8") if supports(g, p)]  # type: ignore[arg-type]


def _signs(f: Facts) -> str:
    """Evidence of an NVIDIA GPU on this machine, in words ("" when none)."""
    signs = [f"NVML sees {len(_nvml_gpus(f))} GPU(s)"] if _nvml_gpus(f) else []
    signs += ["/proc/driver/nvidia/version exists"] if f.proc_driver else []
    signs += [f"nvidia-smi is at {f.nvidia_smi}"] if f.nvidia_smi else []
    return ", ".join(signs)


def _wheel_fix(max_cuda: str | None) -> str:
    """The pip line for the newest PyTorch CUDA wheel a driver supporting ``max_cuda`` runs."""
    fitting = [v for v in _WHEEL_CUDA if not max_cuda or _version(v) <= _version(max_cuda)]
    tag = (fitting or ["12.6"])[-1].replace(".", "")
    return f"pip install torch --index-url https://download.pytorch.org/whl/cu{tag}"


def _targets(f: Facts) -> list[Gpu]:
    """The GPUs work would run on: those torch sees, else those CUDA_VISIBLE_DEVICES exposes."""
    nvml, visible = _nvml_gpus(f), _visible(f)
    return _torch_gpus(f) or (nvml if visible is None else [nvml[i] for i in visible if i < len(nvml)])


# ------------------------------------------------------------------------------------ checks


def check_torch(f: Facts) -> list[Finding]:
    """The torch build: CUDA, ROCm or CPU-only, and a CPU-only build on a machine with an NVIDIA GPU."""
    head = f"PyTorch {f.torch_version}"
    if f.cuda_build or f.hip_build:
        build = f"CUDA {f.cuda_build}" if f.cuda_build else f"ROCm {f.hip_build}"
        kernels = "kernels for " + (" ".join(f.arch_list) or "?")
        return [Finding("ok", "torch", f"{head}, {build} build", kernels)]
    if _signs(f):
        return [Finding("fail", "torch", f"CPU-only {head} on a machine with an NVIDIA GPU", _signs(f),
                        _wheel_fix(f.driver_cuda))]
    mps = " (with MPS)" if f.mps_built else ""
    return [Finding("ok", "torch", f"{head}, CPU-only build{mps}", "no NVIDIA GPU found on this machine")]


def check_nvml(f: Facts) -> list[Finding]:
    """NVML: installed, started, the driver it reports, or why it failed (a version mismatch...)."""
    signs = _signs(f)
    if f.nvml == "missing":
        why = f" although {signs}" if signs else " (needed only on NVIDIA machines)"
        title = "nvidia-ml-py is not installed: no driver, memory or process facts" + why
        return [Finding("warn" if signs else "ok", "nvml", title, fix=NVML_FIX)]
    if f.nvml == "error":
        error = f.nvml_error or "unknown error"
        squashed = error.lower().replace(" ", "").replace("_", "")
        if "mismatch" in squashed:
            return [Finding("fail", "nvml", "NVIDIA driver/library version mismatch", error, REBOOT_FIX)]
        if "drivernotloaded" in squashed:
            fix = "sudo modprobe nvidia, or reinstall the driver (dmesg | grep NVRM says why)"
            level: Level = "fail" if signs else "warn"
            return [Finding(level, "nvml", "the NVIDIA kernel driver is not loaded", error, fix)]
        if "librarynotfound" in squashed and not signs:
            return [Finding("ok", "nvml", "no NVIDIA driver installed (libnvidia-ml not found)")]
        return [Finding("warn", "nvml", "NVML failed", error,
                        "run nvidia-smi; reinstall the driver if that fails")]
    return [Finding("ok", "nvml", f"NVIDIA driver {f.driver_version}, supports CUDA up to {f.driver_cuda}",
                    f"NVML sees {len(_nvml_gpus(f))} GPU(s)")]


def check_driver(f: Facts) -> list[Finding]:
    """The driver against the build: a driver older than torch's CUDA major cannot run it."""
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
                    title + " (runs by CUDA minor-version compatibility, without PTX JIT)", fix)]


def check_visible_devices(f: Facts) -> list[Finding]:
    """CUDA_VISIBLE_DEVICES: unset, a subset, or hiding every GPU ("", "-1", ids that do not exist)."""
    value, nvml = f.cuda_visible_devices, _nvml_gpus(f)
    if value is None:
        return [Finding("ok", "visible-devices", "CUDA_VISIBLE_DEVICES is not set: every GPU is visible")]
    shown, visible = f"CUDA_VISIBLE_DEVICES={value!r}", _visible(f)
    if visible is None:
        return [Finding("ok", "visible-devices", f"{shown} selects MIG instances")]
    ids = f"ids 0 to {len(nvml) - 1}" if nvml else "ids 0, 1, ..."
    fix = f"unset CUDA_VISIBLE_DEVICES, or list the GPUs to use ({ids} or UUIDs from nvidia-smi -L)"
    if not visible:
        if _signs(f):
            return [Finding("fail", "visible-devices", f"{shown} hides every GPU", _signs(f), fix)]
        return [Finding("ok", "visible-devices", f"{shown} hides every GPU (there is none here)")]
    if nvml and len(visible) < len(value.split(",")):
        return [Finding("warn", "visible-devices", f"{shown} names GPUs that do not exist",
                        f"CUDA stops at the first bad id: only NVML GPU(s) {visible} are visible", fix)]
    return [Finding("ok", "visible-devices", f"{shown}: {len(visible)}{f' of {len(nvml)}' if nvml else ''} "
                    "GPU(s) visible")]


def _cuda_error_fix(error: str) -> str:
    low = error.lower()
    if "too old" in low or "insufficient" in low:
        return "upgrade the NVIDIA driver, or install a PyTorch built for an older CUDA"
    if "mismatch" in low or "unsupported display driver" in low:
        return REBOOT_FIX
    if "forward compatibility" in low:
        return "remove the cuda-compat libraries from LD_LIBRARY_PATH (this GPU cannot use them)"
    if "no cuda-capable device" in low or "no nvidia driver" in low:
        return "check CUDA_VISIBLE_DEVICES, /dev/nvidia* permissions, and docker run --gpus all"
    return "run nvidia-smi; reinstall the NVIDIA driver if it fails"


def check_cuda_init(f: Facts) -> list[Finding]:
    """Whether torch starts CUDA (or ROCm) and sees the GPUs that NVML says are visible."""
    if not (f.cuda_build or f.hip_build):
        return []
    no_driver = "no nvidia driver" in (f.torch_cuda_error or "").lower() and not _signs(f)
    if f.torch_cuda_error and not no_driver:
        return [Finding("fail", "cuda-init", "PyTorch cannot start CUDA", f.torch_cuda_error,
                        _cuda_error_fix(f.torch_cuda_error))]
    if _torch_gpus(f):
        return [Finding("ok", "cuda-init", f"PyTorch sees {len(_torch_gpus(f))} GPU(s)")]
    if _nvml_gpus(f) and _visible(f):
        return [Finding("fail", "cuda-init", "PyTorch sees no GPU although NVML shows some",
                        f"visible NVML GPU(s) {_visible(f)}",
                        "python -c 'import torch; torch.cuda.init()' prints CUDA's own error")]
    return [Finding("ok", "cuda-init", "PyTorch sees no GPU")]


def check_gpus(f: Facts) -> list[Finding]:
    """One line per GPU: capability, memory, precisions, processes."""
    out = []
    for g in f.gpus:
        procs = "? processes" if g.processes is None else f"{len(g.processes)} process(es)"
        hidden = ", not visible to PyTorch" if g.torch_index is None and (f.cuda_build or f.hip_build) else ""
        precisions = " ".join(_precisions(g)) or "no tf32/bf16/fp8"
        out.append(Finding("ok", "gpu", _label(g), f"{g.arch or _sm(g.capability)}, {_gib(g.memory_free)} of "
                           f"{_gib(g.memory_total)} GiB free, {precisions}, {procs}{hidden}"))
    return out


def arch_support(capability: tuple[int, int], arch_list: list[str], cuda: str | None = None) -> str:
    """How a build's arch list covers a GPU: "native" (SASS), "ptx" (JIT from PTX) or "none".

    SASS for sm_XY runs on the same major with minor >= Y (``sm_90a`` on 9.0 only; Jetson parts'
    only on themselves before CUDA 13.2); PTX ``compute_XY`` JIT-compiles on XY and above.

    Examples
    --------
    >>> arch_support((8, 9), ["sm_80", "sm_90"]), arch_support((10, 0), ["sm_90", "compute_90"])
    ('native', 'ptx')
    """
    cc, result = 10 * capability[0] + capability[1], "none"
    for kind, code in (entry.partition("_")[::2] for entry in arch_list):
        digits = re.match(r"(\d+)([a-z]?)", code)
        if not digits or (digits.group(2) == "a" and int(digits.group(1)) != cc):
            continue
        sm = int(digits.group(1))
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
    out, arches = [], " ".join(f.arch_list)
    for cc in sorted({tuple(g.capability) for g in _targets(f) if g.capability}):
        names = ", ".join(_label(g) for g in _targets(f) if g.capability and tuple(g.capability) == cc)
        support = arch_support(cc, f.arch_list, f.cuda_build)
        fix = _wheel_fix("12.6" if cc < (7, 5) else f.driver_cuda)  # cu128+ wheels start at sm_75
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
    """A GPU nearly full (less than NEARLY_FULL of it free), with the processes holding it."""
    out = []
    for g in _targets(f):
        if not g.memory_total or g.memory_free is None or g.memory_free >= NEARLY_FULL * g.memory_total:
            continue
        who = ", ".join(f"pid {p.pid} {p.name} ({_gib(p.used_bytes)} GiB)" for p in g.processes or [])
        if not who:  # NVML lists no process when they run in another container (PID namespace)
            who = "processes unknown without NVML" if g.processes is None else "no process listed"
        fix = "stop those processes, or use another GPU (device='cuda:N' or CUDA_VISIBLE_DEVICES)"
        out.append(Finding("warn", "memory", f"{_label(g)} is nearly full: {_gib(g.memory_free)} of "
                           f"{_gib(g.memory_total)} GiB free", who, fix))
    return out


def check_bf16(f: Facts) -> list[Finding]:
    """bf16 asked for (``--bf16``): every GPU in use must have it (sm_80+)."""
    if not f.wants_bf16:
        return []
    if not _targets(f):
        return [Finding("ok", "bf16", "bf16 asked for: no GPU; the CPU computes bf16",
                        "fast with AMX or AVX512-BF16")]
    lacking = [g for g in _targets(f) if supports(g, "bf16") is False]
    if not lacking:
        return [Finding("ok", "bf16", "bf16 asked for: every GPU has it")]
    return [Finding("fail", "bf16", "bf16 asked for on GPU(s) without it (bf16 needs sm_80+)",
                    ", ".join(f"{_label(g)} ({_sm(g.capability)})" for g in lacking),
                    "use float32 or float16 there, or hide those GPUs with CUDA_VISIBLE_DEVICES")]


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
    """Where gpuml's device="auto" runs, and whether the CPU fallback is healthy."""
    if _torch_gpus(f) and not f.torch_cuda_error:
        return [Finding("ok", "device", f"gpuml will run on {_label(_torch_gpus(f)[0])}")]
    if f.mps_available or f.xpu_devices:
        return [Finding("ok", "device", "gpuml will run on " + ("mps" if f.mps_available else "xpu:0"))]
    title = f"gpuml will run on the CPU: {f.cpu_count} core(s), {_gib(f.cpu_memory_available)} GiB available"
    if f.cpu_memory_available is not None and f.cpu_memory_available < _GIB:
        return [Finding("warn", "device", title, "less than 1 GiB of memory available",
                        "close other programs, or set gpuml.set_config(memory_limit=...)")]
    return [Finding("ok", "device", title)]


#: Every check, in report order.
CHECKS: tuple[Callable[[Facts], list[Finding]], ...] = (
    check_torch, check_nvml, check_driver, check_visible_devices, check_cuda_init, check_gpus, check_arch,
    check_memory, check_bf16, check_mps, check_device,
)


# ------------------------------------------------------------------------------------ report


def run_checks(f: Facts, checks: tuple[Callable[[Facts], list[Finding]], ...] = CHECKS) -> list[Finding]:
    """Every check's findings, in order."""
    return [finding for check in checks for finding in check(f)]


def status(findings: list[Finding]) -> Level:
    """The worst level among ``findings`` ("ok" when there are none)."""
    return max((x.level for x in findings), key=_RANK.__getitem__, default="ok")


def report(f: Facts) -> dict[str, Any]:
    """The doctor's report: the JSON-ready dict documented in the module docstring."""
    findings = run_checks(f)
    worst = status(findings)
    return {"status": worst, "exit_code": int(worst == "fail"), "findings": [x.to_dict() for x in findings],
            "facts": dataclasses.asdict(f)}


def device_rows(f: Facts) -> list[dict[str, Any]]:
    """The rows of ``gpuml devices``: the CPU, then each GPU, MPS and XPU device.

    Each row: ``device`` ("cpu", "cuda:0", "mps", "xpu:0", or None for a GPU torch does not see),
    ``name``, ``memory_free`` and ``memory_total`` (bytes or None), ``capability``, ``precisions``
    (list of names), ``use`` (current use, in words) and ``note``.
    """
    load = "" if f.cpu_load is None else f"load {f.cpu_load:.1f} on "
    rows = [dict(device="cpu", name=f.cpu_name or f.machine, memory_free=f.cpu_memory_available,
                 memory_total=f.cpu_memory_total, capability=f.machine, precisions=["fp64", "fp32", "bf16"],
                 use=f"{load}{f.cpu_count} core(s)", note="")]
    for g in sorted(f.gpus, key=lambda g: (g.torch_index is None, g.torch_index or 0, g.nvml_index or 0)):
        used = sum(p.used_bytes or 0 for p in g.processes or [])
        use = "?" if g.processes is None else f"{len(g.processes)} process(es), {_gib(used)} GiB"
        rows.append(dict(device=None if g.torch_index is None else f"cuda:{g.torch_index}", name=g.name,
                         memory_free=g.memory_free, memory_total=g.memory_total,
                         capability=g.arch or _sm(g.capability), precisions=["fp64", "fp32"] + _precisions(g),
                         use=use, note="" if g.torch_index is not None else "not visible to PyTorch"))
    if f.mps_available:
        rows.append(dict(device="mps", name="Apple MPS", memory_free=None, memory_total=f.mps_memory,
                         capability="", precisions=["fp32", "fp16", "bf16"], use="", note="no float64"))
    return rows + [dict(device=f"xpu:{i}", name=name, memory_free=None, memory_total=None, capability="",
                        precisions=[], use="", note="") for i, name in enumerate(f.xpu_devices)]


