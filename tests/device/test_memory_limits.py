"""The CPU's memory budget honours container limits: cgroup v2 and v1 (fake trees under a
tmp root) and RLIMIT_AS (a real one, in a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import gpuml
from gpuml.cluster import KMeans
from gpuml.device import _memory, cgroup_available, free_bytes, memory_budget, resident_budget

CPU = torch.device("cpu")
UNLIMITED_V1 = "9223372036854771712"


def tree(root, proc_cgroup, files):
    (root / "proc/self").mkdir(parents=True)
    (root / "proc/self/cgroup").write_text(proc_cgroup)
    for rel, text in files.items():
        path = root / "sys/fs/cgroup" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(root)


def test_cgroup_v2_limit_minus_usage_not_counting_reclaimable_cache(tmp_path):
    root = tree(tmp_path, "0::/user.slice/app.scope\n", {
        "user.slice/app.scope/memory.max": "1500000000\n",
        "user.slice/app.scope/memory.current": "1000000000\n",
        "user.slice/app.scope/memory.stat": "anon 700000000\nfile 300000000\ninactive_file 200000000\n",
        "user.slice/memory.max": "max\n",
    })
    assert cgroup_available(root) == 1_500_000_000 - (1_000_000_000 - 200_000_000)


def test_cgroup_v2_the_tightest_ancestor_and_memory_high_count(tmp_path):
    root = tree(tmp_path, "0::/a/b\n", {
        "a/b/memory.max": "max\n", "a/b/memory.current": "10\n",
        "a/memory.max": "2000000000\n", "a/memory.current": "1900000000\n",
        "memory.high": "5000000000\n", "memory.current": "0\n",  # the mount's root: looser
    })
    assert cgroup_available(root) == 100_000_000
    root2 = tree(tmp_path / "high", "0::/a\n", {"a/memory.max": "max\n", "a/memory.high": "300\n",
                                                "a/memory.current": "100\n"})
    assert cgroup_available(root2) == 200


def test_cgroup_v1_and_a_container_path_missing_from_the_mount(tmp_path):
    # v1 (hybrid: a v2 line without a memory controller); the container's own cgroup is the
    # mount's root when the path of /proc/self/cgroup is the host's (no cgroup namespace)
    root = tree(tmp_path, "12:pids:/docker/abc\n4:memory:/docker/abc\n0::/\n", {
        "memory/memory.limit_in_bytes": "1500000000\n",
        "memory/memory.usage_in_bytes": "600000000\n",
        "memory/memory.stat": "cache 100000000\ninactive_file 1\ntotal_inactive_file 100000000\n",
        "unified/cgroup.procs": "",
    })
    assert cgroup_available(root) == 1_500_000_000 - 500_000_000


def test_no_limit_is_none(tmp_path):
    assert cgroup_available(str(tmp_path)) is None  # no /proc/self/cgroup
    root = tree(tmp_path / "t", "4:memory:/x\n0::/\n", {
        "memory/x/memory.limit_in_bytes": UNLIMITED_V1 + "\n", "memory/x/memory.usage_in_bytes": "5\n",
        "memory.max": "max\n", "memory.current": "5\n"})
    assert cgroup_available(root) is None


def test_the_budgets_follow_the_tightest_limit(monkeypatch):
    monkeypatch.setattr(_memory, "cgroup_available", lambda root="/": 100_000_000)
    assert free_bytes(CPU) <= 100_000_000
    assert resident_budget(CPU) <= 50_000_000 and memory_budget(CPU) <= 50_000_000
    monkeypatch.setattr(_memory, "cgroup_available", lambda root="/": None)
    monkeypatch.setattr(_memory, "address_space_available", lambda: 64_000_000)
    assert free_bytes(CPU) <= 64_000_000
    with gpuml.config_context(memory_limit="1GB"):  # a given limit is the user's word
        assert resident_budget(CPU) == memory_budget(CPU) == 10**9


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc and RLIMIT_AS")
def test_a_file_larger_than_the_address_space_left_fits_without_failing(tmp_path):
    # 100 MB of data, 160 MB of address space left: the default budget read the host's free
    # memory, copied the whole file into memory (twice, while joining) and failed
    rng = np.random.default_rng(0)
    X = rng.standard_normal((800_000, 16))
    path = tmp_path / "x.npy"
    np.save(path, X)
    script = os.path.join(os.path.dirname(__file__), "_rlimit_fit.py")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, script, str(path), str(160_000_000)], capture_output=True, text=True,
                         timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert "error" not in got, got
    assert got["free"] <= 160_000_000 and got["resident_budget"] <= 80_000_000
    ref = KMeans(4, init=X[:4], n_init=1, max_iter=2, tol=0, device="cpu").fit(X)
    assert got["inertia"] == pytest.approx(ref.inertia_, rel=1e-9)
