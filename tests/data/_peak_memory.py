"""Run in a subprocess by test_memory.py: fit on a .npy file, report the peak anonymous memory.

Anonymous resident memory (RssAnon) excludes the file's pages in the page cache, which
the kernel may keep or drop as it likes; it is what the fit itself allocates.
Usage: python _peak_memory.py FILE MEMORY_LIMIT MODEL (MEMORY_LIMIT "default": the default budget)
"""

import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/
from _procstat import peak_rss_anon  # noqa: E402


def main() -> None:
    path, limit, model = sys.argv[1], sys.argv[2], sys.argv[3]
    import gpuml
    from gpuml.cluster import KMeans
    from gpuml.data import NpySource
    from gpuml.linear_model import Ridge

    make = {"Ridge": lambda: Ridge(alpha=1.0, device="cpu"),
            "KMeans": lambda: KMeans(4, init=np.load(path, mmap_mode="r")[:4, :-1], n_init=1, max_iter=3,
                                     tol=0, device="cpu")}[model]
    d = np.load(path, mmap_mode="r").shape[1] - 1
    make().fit(np.random.rand(200, d), np.random.rand(200))  # warm up lazy initializations
    t0 = time.perf_counter()
    with peak_rss_anon() as peak, gpuml.config_context(memory_limit=None if limit == "default" else limit):
        est = make().fit(NpySource(path, target=-1), None)
    seconds = time.perf_counter() - t0
    result = est.coef_ if model == "Ridge" else est.cluster_centers_
    print(json.dumps({"peak_extra": peak["extra"], "seconds": seconds, "result": np.asarray(result).tolist()}))


if __name__ == "__main__":
    main()
