"""Run in a subprocess by test_predict_memory.py: `gpuml predict`, report the peak anonymous memory.

Anonymous resident memory (RssAnon) excludes the files' pages in the page cache (the
memory-mapped input, the output being written); it is what the command itself allocates.
Usage: python _peak_predict.py MODEL DATA OUT MEMORY_LIMIT
"""

import json
import os
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
    model, data, out, limit = sys.argv[1:5]
    from gpuml.cli.main import main as gpuml

    small = os.path.join(os.path.dirname(out), "warm.npy")  # lazy imports and initializations first
    np.save(small, np.load(data, mmap_mode="r")[:100])
    assert gpuml(["predict", model, small, "--out", out, "--quiet"]) == 0
    base = peak = rss_anon()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_anon())
            time.sleep(0.001)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    rc = gpuml(["predict", model, data, "--out", out, "--memory-limit", limit, "--quiet"])
    done.set()
    t.join()
    print(json.dumps({"rc": rc, "peak_extra": max(peak, rss_anon()) - base}))


if __name__ == "__main__":
    main()
