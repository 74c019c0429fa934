"""Run in a subprocess by test_kmeans_memory.py: KMeans on a .npy file under a memory limit;
prints the peak anonymous resident memory above the start (RssAnon: the file's page cache
is not counted), and the fitted result.

Usage: python _kmeans_peak.py FILE MEMORY_LIMIT K
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/
from _procstat import peak_rss_anon  # noqa: E402


def main() -> None:
    path, limit, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
    import gpuml
    from gpuml.cluster import KMeans
    from gpuml.data import NpySource

    init = np.array(np.load(path, mmap_mode="r")[:k])
    make = lambda: KMeans(k, init=init, n_init=1, max_iter=1, tol=0, device="cpu")  # noqa: E731
    make().fit(np.random.rand(500, init.shape[1]).astype(init.dtype))  # warm up lazy initializations
    with peak_rss_anon() as peak, gpuml.config_context(memory_limit=limit):
        est = make().fit(NpySource(path))
    print(json.dumps({"peak_extra": peak["extra"], "centers": est.cluster_centers_.tolist(),
                      "inertia": est.inertia_, "labels_bytes": est.labels_.nbytes}))


if __name__ == "__main__":
    main()
