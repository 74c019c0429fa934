"""`gpuml doctor`: each check on injected facts, NVML gathering on a fake pynvml, and the real machine."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
import types
import warnings

import pytest
import torch

from gpuml.device import _doctor as doc
from gpuml.device import _facts as facts_mod
from gpuml.device._facts import Facts, Gpu, GpuProcess

GIB = 2**30
ARCHES = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]


def cuda_facts(*gpus: Gpu, **kw) -> Facts:
    """A CUDA 12.8 build with NVML working and the given GPUs (healthy unless kw says otherwise)."""
    base = dict(torch_version="2.7.0+cu128", cuda_build="12.8", arch_list=ARCHES, nvml="ok",
                driver_version="570.86", driver_cuda="12.8", proc_driver="NVRM version: 570.86",
                gpus=list(gpus), cpu_count=8, cpu_memory_available=32 * GIB)
    return Facts(**{**base, **kw})


def gpu(index: int = 0, cc=(9, 0), free=70 * GIB, total=80 * GIB, torch_index: int | None = 0, **kw) -> Gpu:
    return Gpu(name=kw.pop("name", "NVIDIA H100"), uuid=f"GPU-{index:08d}-aaaa", nvml_index=index,
               torch_index=torch_index, capability=cc, memory_total=total, memory_free=free,
               processes=kw.pop("processes", []), **kw)


def findings(f: Facts, check: str) -> list[doc.Finding]:
    return [x for x in doc.run_checks(f) if x.check == check]


def only(f: Facts, check: str) -> doc.Finding:
    (x,) = findings(f, check)
    return x


# ------------------------------------------------------------------------------ healthy machines


def test_healthy_cpu_only_machine_exits_0():
    f = Facts(torch_version="2.5.0+cpu", cpu_count=4, cpu_memory_available=8 * GIB)
    rep = doc.report(f)
    assert (rep["status"], rep["exit_code"]) == ("ok", 0)
    assert only(f, "torch").title == "PyTorch 2.5.0+cpu, CPU-only build"
    assert only(f, "device").title.startswith("gpuml will run on the CPU: 4 core(s), 8.0 GiB")
    assert only(f, "nvml").fix == "pip install 'gpuml[nvml]'" and only(f, "nvml").level == "ok"


def test_cuda_build_without_gpu_is_healthy():
    f = Facts(torch_version="2.7.0+cu128", cuda_build="12.8", arch_list=ARCHES)
    assert doc.report(f)["exit_code"] == 0
    assert only(f, "cuda-init").title == "PyTorch sees no GPU"


def test_healthy_gpu_machine():
    f = cuda_facts(gpu(0), gpu(1, torch_index=1))
    rep = doc.report(f)
    assert rep["status"] == "ok", rep["findings"]
    assert only(f, "device").title == "gpuml will run on cuda:0 NVIDIA H100"
    assert only(f, "arch").title == "sm_90 is in this PyTorch build"
    lines = [x.message for x in findings(f, "gpu")]
    assert lines[0] == "cuda:0 NVIDIA H100: sm_90, 70.0 of 80.0 GiB free, tf32 bf16 fp8, 0 process(es)"


def test_low_cpu_memory_warns():
    x = only(Facts(cpu_memory_available=GIB // 2), "device")
    assert x.level == "warn" and "memory_limit" in x.fix


# --------------------------------------------------------------------------- recognized problems


@pytest.mark.parametrize("sign", [
    dict(gpus=[gpu(0, torch_index=None)], nvml="ok"),
    dict(proc_driver="NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14"),
    dict(nvidia_smi="/usr/bin/nvidia-smi"),
], ids=["nvml", "proc", "nvidia-smi"])
def test_cpu_only_torch_on_nvidia_machine_fails(sign):
    f = Facts(torch_version="2.5.0+cpu", **sign)
    x = only(f, "torch")
    assert x.level == "fail" and x.title == "CPU-only PyTorch 2.5.0+cpu on a machine with an NVIDIA GPU"
    assert x.fix.startswith("pip install torch --index-url https://download.pytorch.org/whl/cu")
    assert doc.report(f)["exit_code"] == 1


def test_cpu_only_fix_matches_the_driver():
    f = Facts(torch_version="2.5.0+cpu", nvml="ok", driver_cuda="12.5", gpus=[gpu(0, torch_index=None)])
    assert only(f, "torch").fix == "pip install torch --index-url https://download.pytorch.org/whl/cu124"


def test_driver_too_old_for_the_build_fails():
    x = only(cuda_facts(gpu(0), driver_cuda="11.8", cuda_build="12.8"), "driver")
    assert x.level == "fail" and x.title == "NVIDIA driver too old for this PyTorch"
    assert "upgrade the NVIDIA driver" in x.fix and x.fix.endswith("/whl/cu118")


def test_driver_older_minor_warns_unless_cuda_failed():
    f = cuda_facts(gpu(0), driver_cuda="12.4")
    assert only(f, "driver").level == "warn"  # CUDA minor-version compatibility
    f.torch_cuda_error = "CUDA initialization: The NVIDIA driver on your system is too old"
    assert only(f, "driver").level == "fail"
    assert only(f, "cuda-init").fix.startswith("upgrade the NVIDIA driver")


@pytest.mark.parametrize("cc, arches, level", [
    ((7, 0), ARCHES, "fail"),  # V100 on a cu128 build
    ((8, 9), ["sm_80", "sm_86", "sm_90"], "ok"),  # sm_86 SASS runs on 8.9
    ((10, 0), ["sm_80", "sm_90", "compute_90"], "warn"),  # only PTX: JIT
    ((12, 0), ["sm_80", "sm_90"], "fail"),
], ids=["sm_70-missing", "same-major", "ptx-only", "sm_120-missing"])
def test_gpu_architecture_against_the_build(cc, arches, level):
    x = only(cuda_facts(gpu(0, cc=cc), arch_list=arches), "arch")
    assert x.level == level
    assert (x.fix is None) == (level == "ok")
    if cc == (7, 0):
        assert x.fix.endswith("/whl/cu126")  # the newest wheels with sm_70 kernels


def test_arch_support_rules():
    assert doc.arch_support((9, 0), ["sm_90a"]) == "native"
    assert doc.arch_support((10, 0), ["sm_90a", "compute_90a"]) == "none"  # 'a' code: exactly 9.0
    assert doc.arch_support((8, 7), ["sm_80"], "12.8") == "none"  # Jetson Orin before CUDA 13.2
    assert doc.arch_support((8, 7), ["sm_80"], "13.2") == "native"
    assert doc.arch_support((8, 0), ["sm_86"]) == "none"  # SASS never runs on an older minor


@pytest.mark.parametrize("error", [
    "NVMLError_LibRmVersionMismatch: RM has detected an NVML/RM version mismatch.",
    "NVMLError: Driver/library version mismatch",
])
def test_nvml_driver_library_mismatch_fails(error):
    f = Facts(torch_version="2.7.0+cu128", cuda_build="12.8", nvml="error", nvml_error=error,
              proc_driver="NVRM version: 550.54")
    x = only(f, "nvml")
    assert x.level == "fail" and x.title == "NVIDIA driver/library version mismatch" and "reboot" in x.fix
    assert doc.report(f)["exit_code"] == 1


def test_nvml_driver_not_loaded_and_no_driver():
    loaded = Facts(nvml="error", nvml_error="NVMLError_DriverNotLoaded: Driver Not Loaded",
                   nvidia_smi="/usr/bin/nvidia-smi")
    assert only(loaded, "nvml").level == "fail" and "modprobe" in only(loaded, "nvml").fix
    absent = Facts(nvml="error", nvml_error="NVMLError_LibraryNotFound: NVML Shared Library Not Found")
    assert only(absent, "nvml").level == "ok"


@pytest.mark.parametrize("value", ["", "-1", "7", "GPU-ffff", "none"])
def test_cuda_visible_devices_hiding_every_gpu_fails(value):
    f = cuda_facts(gpu(0, torch_index=None), gpu(1, torch_index=None), cuda_visible_devices=value)
    x = only(f, "visible-devices")
    assert x.level == "fail" and x.title == f"CUDA_VISIBLE_DEVICES={value!r} hides every GPU"
    assert x.fix.startswith("unset CUDA_VISIBLE_DEVICES") and "ids 0 to 1" in x.fix
    assert only(f, "cuda-init").level == "ok"  # no double report: torch rightly sees nothing
    assert doc.report(f)["exit_code"] == 1


def test_cuda_visible_devices_subsets():
    f = cuda_facts(gpu(0, torch_index=None), gpu(1), cuda_visible_devices="1")
    assert only(f, "visible-devices").title == "CUDA_VISIBLE_DEVICES='1': 1 of 2 GPU(s) visible"
    f = cuda_facts(gpu(0), gpu(1, torch_index=None), cuda_visible_devices="0,7")
    assert only(f, "visible-devices").level == "warn"


def test_visible_gpus_parses_like_cuda():
    uuids = ["GPU-abc-1", "GPU-def-2"]
    assert doc.visible_gpus(None, uuids) == [0, 1]
    assert doc.visible_gpus("GPU-def", uuids) == [1]  # a unique UUID prefix
    assert doc.visible_gpus("GPU-", uuids) == []  # ambiguous prefix
    assert doc.visible_gpus("0,0", uuids) == []  # repeated id
    assert doc.visible_gpus("1, 0", uuids) == [1, 0]
    assert doc.visible_gpus("MIG-xyz", uuids) is None


def test_gpu_nearly_full_warns_with_the_processes():
    procs = [GpuProcess(4242, "python train.py", 70 * GIB), GpuProcess(77, "jupyter", 6 * GIB)]
    f = cuda_facts(gpu(0, free=2 * GIB, processes=procs))
    x = only(f, "memory")
    assert x.level == "warn" and x.title == "cuda:0 NVIDIA H100 is nearly full: 2.0 of 80.0 GiB free"
    assert x.detail == "pid 4242 python train.py (70.0 GiB), pid 77 jupyter (6.0 GiB)"
    assert "stop those processes" in x.fix
    assert doc.report(f)["status"] == "warn" and doc.report(f)["exit_code"] == 0
    assert not findings(cuda_facts(gpu(0, free=20 * GIB)), "memory")


def test_bf16_on_a_gpu_without_it_fails():
    f = cuda_facts(gpu(0, cc=(8, 0)), gpu(1, cc=(7, 5), torch_index=1, name="Tesla T4"), wants_bf16=True)
    x = only(f, "bf16")
    assert x.level == "fail" and x.detail == "cuda:1 Tesla T4 (sm_75)" and "float32" in x.fix
    assert doc.report(f)["exit_code"] == 1
    assert only(dataclasses.replace(f, gpus=[gpu(0, cc=(8, 0))]), "bf16").level == "ok"
    assert not findings(dataclasses.replace(f, wants_bf16=False), "bf16")


def test_precisions_by_capability():
    assert [doc.supports(gpu(cc=(7, 5)), p) for p in ("tf32", "bf16", "fp8")] == [False, False, False]
    assert [doc.supports(gpu(cc=(8, 6)), p) for p in ("tf32", "bf16", "fp8")] == [True, True, False]
    assert [doc.supports(gpu(cc=(8, 9)), p) for p in ("tf32", "bf16", "fp8")] == [True, True, True]


def test_nvml_missing_warns_only_with_signs_of_an_nvidia_gpu():
    x = only(cuda_facts(gpu(0, torch_index=0), nvml="missing"), "nvml")  # /proc/driver/nvidia is there
    assert x.level == "warn" and x.fix == "pip install 'gpuml[nvml]'"


def test_torch_cannot_start_cuda_fails():
    error = "RuntimeError: no CUDA-capable device is detected"
    f = cuda_facts(gpu(0, torch_index=None), torch_cuda_error=error)
    x = only(f, "cuda-init")
    assert x.level == "fail" and "docker run --gpus all" in x.fix
    f = cuda_facts(gpu(0, torch_index=None))  # NVML sees a visible GPU, torch none, no error
    assert only(f, "cuda-init").level == "fail"


def test_mps_on_macos():
    mac = Facts(system="Darwin", machine="arm64", mps_built=True, mps_available=True)
    assert only(mac, "mps").level == "ok" and only(mac, "device").title == "gpuml will run on mps"
    assert only(dataclasses.replace(mac, mps_available=False), "mps").level == "warn"
    assert not findings(Facts(), "mps")


# ---------------------------------------------------------------------------------- JSON schema


def test_json_report_schema():
    procs = [GpuProcess(1, "x", GIB)]
    broken = cuda_facts(gpu(0, free=GIB, processes=procs), cuda_visible_devices="", wants_bf16=True)
    for f in (Facts(), broken):
        rep = json.loads(json.dumps(doc.report(f)))
        assert set(rep) == {"status", "exit_code", "findings", "facts"}
        assert rep["status"] in ("ok", "warn", "fail") and rep["exit_code"] == int(rep["status"] == "fail")
        assert rep["findings"]
        for x in rep["findings"]:
            assert set(x) == {"level", "check", "message", "fix"}
            assert x["level"] in ("ok", "warn", "fail") and isinstance(x["check"], str) and x["message"]
            assert x["fix"] is None or (isinstance(x["fix"], str) and "\n" not in x["fix"])
            assert x["level"] == "ok" or x["fix"], x
        assert rep["facts"] == json.loads(json.dumps(dataclasses.asdict(f)))
        assert rep["status"] == max((x["level"] for x in rep["findings"]), key=["ok", "warn", "fail"].index)


def test_device_rows():
    f = cuda_facts(gpu(0, processes=[GpuProcess(1, "x", 2 * GIB)]), gpu(1, torch_index=None))
    cpu, first, hidden = doc.device_rows(f)
    assert cpu["device"] == "cpu" and first["device"] == "cuda:0" and hidden["device"] is None
    assert first["capability"] == "sm_90" and first["precisions"] == ["fp64", "fp32", "tf32", "bf16", "fp8"]
    assert first["use"] == "1 process(es), 2.0 GiB" and hidden["note"] == "not visible to PyTorch"


# ---------------------------------------------------------------------- gathering, fake pynvml


class NVMLError(Exception):
    pass


class NVMLError_LibRmVersionMismatch(NVMLError):  # noqa: N801 (pynvml's own name)
    def __str__(self) -> str:
        return "RM has detected an NVML/RM version mismatch."


def fake_pynvml(events: list[str], init_error: Exception | None = None) -> types.SimpleNamespace:
    """Two GPUs: an H100 used by one process, an A10 unused; graphics processes unsupported."""
    devices = [dict(name=b"NVIDIA H100", uuid="GPU-1111", cc=(9, 0), free=5 * GIB, procs=[(4242, 75 * GIB)]),
               dict(name=b"NVIDIA A10", uuid="GPU-2222", cc=(8, 6), free=22 * GIB, procs=[])]

    def init():
        events.append("nvmlInit")
        if init_error is not None:
            raise init_error

    def unsupported(handle):
        raise NVMLError("Not Supported")

    return types.SimpleNamespace(
        nvmlInit=init, nvmlShutdown=lambda: events.append("nvmlShutdown"),
        nvmlSystemGetDriverVersion=lambda: "550.54.14", nvmlSystemGetCudaDriverVersion=lambda: 12040,
        nvmlDeviceGetCount=lambda: len(devices), nvmlDeviceGetHandleByIndex=lambda i: devices[i],
        nvmlDeviceGetName=lambda h: h["name"], nvmlDeviceGetUUID=lambda h: h["uuid"],
        nvmlDeviceGetCudaComputeCapability=lambda h: h["cc"],
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(total=80 * GIB, free=h["free"]),
        nvmlDeviceGetComputeRunningProcesses=lambda h: [types.SimpleNamespace(pid=p, usedGpuMemory=u)
                                                        for p, u in h["procs"]],
        nvmlDeviceGetGraphicsRunningProcesses=unsupported, nvmlSystemGetProcessName=lambda pid: b"python")


def test_gather_nvml_reads_driver_gpus_and_processes():
    events: list[str] = []
    f = Facts()
    facts_mod._gather_nvml(f, fake_pynvml(events))
    assert (f.nvml, f.driver_version, f.driver_cuda) == ("ok", "550.54.14", "12.4")
    assert [(g.name, g.capability, g.nvml_index) for g in f.gpus] == [("NVIDIA H100", (9, 0), 0),
                                                                       ("NVIDIA A10", (8, 6), 1)]
    assert f.gpus[0].processes == [GpuProcess(4242, "python", 75 * GIB)] and f.gpus[1].processes == []
    assert events == ["nvmlInit", "nvmlShutdown"]


def test_gather_nvml_mismatch_becomes_a_failing_fact():
    f = Facts(proc_driver="NVRM version: 550.54")
    facts_mod._gather_nvml(f, fake_pynvml([], init_error=NVMLError_LibRmVersionMismatch()))
    assert f.nvml == "error" and f.nvml_error.startswith("NVMLError_LibRmVersionMismatch")
    assert only(f, "nvml").level == "fail"


def test_nvml_is_read_before_torch_touches_cuda(monkeypatch):
    """NVML facts first; then torch's GPUs are matched by UUID, with no mem_get_info (no context)."""
    events: list[str] = []
    props = types.SimpleNamespace(name="NVIDIA A10", major=8, minor=6, total_memory=80 * GIB, uuid="2222")

    def is_available():
        events.append("torch.cuda")
        return True

    def no_context(*args):
        raise AssertionError("mem_get_info creates a CUDA context; NVML gave the memory")

    monkeypatch.setattr(facts_mod, "_import_pynvml", lambda: fake_pynvml(events))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", is_available)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: props)
    monkeypatch.setattr(torch.cuda, "mem_get_info", no_context)
    f = doc.gather_facts()
    assert events[:3] == ["nvmlInit", "nvmlShutdown", "torch.cuda"]
    assert [(g.name, g.nvml_index, g.torch_index) for g in f.gpus] == [("NVIDIA H100", 0, None),
                                                                      ("NVIDIA A10", 1, 0)]
    assert only(f, "visible-devices").title == "CUDA_VISIBLE_DEVICES='1': 1 of 2 GPU(s) visible"


def test_torch_cuda_errors_become_facts(monkeypatch):
    def warns():
        message = "CUDA initialization: The NVIDIA driver on your system is too old (found version 11040)"
        warnings.warn(message, stacklevel=1)
        return False

    def broken(i):  # PYTORCH_NVML_BASED_CUDA_CHECK=1: is_available() is True, CUDA still cannot start
        raise RuntimeError("CUDA driver initialization failed, you might not have a CUDA gpu.")

    monkeypatch.setattr(facts_mod, "_import_pynvml", lambda: None)
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", warns)
    assert doc.gather_facts().torch_cuda_error.startswith("CUDA initialization: The NVIDIA driver")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_properties", broken)
    f = doc.gather_facts()
    assert f.torch_cuda_error.startswith("RuntimeError: CUDA driver initialization failed")
    assert only(f, "cuda-init").level == "fail"


# ----------------------------------------------------------------------------------- this machine


def test_real_gather_facts_on_this_machine():
    f = doc.gather_facts()
    assert f.torch_version == torch.__version__ and f.cuda_build == torch.version.cuda
    assert f.cpu_count >= 1 and f.python
    rep = json.loads(json.dumps(doc.report(f)))
    if not torch.cuda.is_available() and not doc._signs(f):
        assert rep["exit_code"] == 0, rep["findings"]


def test_doctor_command_runs_fast_in_a_subprocess():
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "gpuml", "doctor"], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    print(f"gpuml doctor took {seconds:.2f} s")
    assert out.returncode == doc.report(doc.gather_facts())["exit_code"], out.stdout + out.stderr
    assert "torch" in out.stdout and seconds < 10  # ~1.6 s measured on a 2-core CPU-only machine
    out = subprocess.run([sys.executable, "-m", "gpuml", "doctor", "--json"], capture_output=True, text=True)
    assert json.loads(out.stdout)["exit_code"] == out.returncode
