"""Run in a subprocess by test_kmeans_memory.py: KMeans on a .npy file under a memory limit;
prints the peak anonymous resident memory above the start (RssAnon: the file's page cache
is not counted), and the fitted result.

Usage: python _kmeans_peak.py FILE MEMORY_LIMIT K
"""

import json
import sys
import threading
import time

import numpy as np


def rss_anon() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon in /proc/self/status")


def main() -> None:
    path, limit, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
    import gpuml
    from gpuml.cluster import KMeans
    from gpuml.data import NpySource

    init = np.array(np.load(path, mmap_mode="r")[:k])
    make = lambda: KMeans(k, init=init, n_init=1, max_iter=1, tol=0, device="cpu")  # noqa: E731
    make().fit(np.random.rand(500, init.shape[1]).astype(init.dtype))  # warm up lazy initializations
    base = peak = rss_anon()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_anon())
            time.sleep(0.001)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    with gpuml.config_context(memory_limit=limit):
        est = make().fit(NpySource(path))
    done.set()
    t.join()
    peak = max(peak, rss_anon())
    print(json.dumps({"peak_extra": peak - base, "centers": est.cluster_centers_.tolist(),
                      "inertia": est.inertia_, "labels_bytes": est.labels_.nbytes}))


if __name__ == "__main__":
    main()
