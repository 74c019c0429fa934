"""Run in a subprocess by test_memory_limits.py: fit KMeans with the default budget on a .npy
file under an address-space limit (RLIMIT_AS) smaller than twice the file.

Usage: python _rlimit_fit.py FILE HEADROOM_BYTES
"""

import json
import os
import resource
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/
from _procstat import status_bytes  # noqa: E402


def main() -> None:
    path, headroom = sys.argv[1], int(sys.argv[2])
    from gpuml.cluster import KMeans
    from gpuml.data import NpySource
    from gpuml.device import free_bytes, resident_budget

    init = np.load(path, mmap_mode="r")[:4]
    make = lambda: KMeans(4, init=init, n_init=1, max_iter=2, tol=0, device="cpu")  # noqa: E731
    make().fit(np.random.rand(5000, init.shape[1]))  # threads and lazy initializations first
    limit = status_bytes("VmSize") + headroom
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
    cpu = __import__("torch").device("cpu")
    seen = {"free": free_bytes(cpu), "resident_budget": resident_budget(cpu), "limit": limit}
    try:
        est = make().fit(NpySource(path))
        seen["inertia"] = float(est.inertia_)
    except MemoryError as exc:
        seen["error"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
