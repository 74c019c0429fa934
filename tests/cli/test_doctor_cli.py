"""`gpuml doctor` and `gpuml devices` on the command line, on injected and on real facts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gpuml.cli.main import main
from gpuml.device import _doctor as doc
from gpuml.device._doctor import Facts, Gpu, GpuProcess

GIB = 2**30


@pytest.fixture
def inject(monkeypatch):
    """Make gather_facts return the given facts; records the keyword arguments it was called with."""
    calls: list[dict] = []

    def use(facts: Facts) -> list[dict]:
        def fake(**kw):
            calls.append(kw)
            return facts

        monkeypatch.setattr(doc, "gather_facts", fake)
        return calls

    return use


def broken() -> Facts:
    """A CPU-only torch on a machine with an NVIDIA GPU, without nvidia-ml-py."""
    return Facts(torch_version="2.5.0+cpu", nvidia_smi="/usr/bin/nvidia-smi", proc_driver="NVRM version: 550")


def one_gpu() -> Facts:
    procs = [GpuProcess(7, "python", 20 * GIB)]
    gpu = Gpu("NVIDIA H100", "GPU-1", 0, 0, (9, 0), None, 80 * GIB, 60 * GIB, procs)
    return Facts(torch_version="2.7.0+cu128", cuda_build="12.8", arch_list=["sm_90"], nvml="ok",
                 driver_version="570.86", driver_cuda="12.8", gpus=[gpu], cpu_count=4)


def test_doctor_prints_findings_and_fixes_and_exits_1_when_broken(inject, capsys):
    calls = inject(broken())
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "CPU-only PyTorch 2.5.0+cpu on a machine with an NVIDIA GPU" in out
    assert "fix: pip install 'gpuml[nvml]'" in out  # brackets are not eaten as rich markup
    assert "broken (exit status 1)" in out
    assert calls == [{"wants_bf16": False}]


def test_doctor_json_and_bf16_flag(inject, capsys):
    calls = inject(broken())
    assert main(["doctor", "--json", "--bf16"]) == 1
    rep = json.loads(capsys.readouterr().out)
    assert rep["status"] == "fail" and rep["exit_code"] == 1 and rep["facts"]["torch_version"] == "2.5.0+cpu"
    assert calls == [{"wants_bf16": True}]


def test_doctor_healthy_gpu_exits_0(inject, capsys):
    inject(one_gpu())
    assert main(["doctor"]) == 0
    assert "gpuml will run on cuda:0 NVIDIA H100" in capsys.readouterr().out


def test_devices_table_and_json(inject, capsys):
    inject(one_gpu())
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "cuda:0" in out and "NVIDIA H100" in out and "sm_90" in out and "60.0 GiB" in out
    assert main(["devices", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["devices"]
    assert [r["device"] for r in rows] == ["cpu", "cuda:0"] and rows[1]["use"] == "1 process(es), 20.0 GiB"


def test_devices_on_this_machine_in_a_subprocess():
    out = subprocess.run([sys.executable, "-m", "gpuml", "devices", "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["devices"][0]["device"] == "cpu"
