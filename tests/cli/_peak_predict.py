"""Run in a subprocess by test_predict_memory.py: `gpuml predict`, report the peak anonymous memory.

Anonymous resident memory (RssAnon) excludes the files' pages in the page cache (the
memory-mapped input, the output being written); it is what the command itself allocates.
Usage: python _peak_predict.py MODEL DATA OUT MEMORY_LIMIT
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/
from _procstat import peak_rss_anon  # noqa: E402


def main() -> None:
    model, data, out, limit = sys.argv[1:5]
    from gpuml.cli.main import main as gpuml

    small = os.path.join(os.path.dirname(out), "warm.npy")  # lazy imports and initializations first
    np.save(small, np.load(data, mmap_mode="r")[:100])
    assert gpuml(["predict", model, small, "--out", out, "--quiet"]) == 0
    with peak_rss_anon() as peak:
        rc = gpuml(["predict", model, data, "--out", out, "--memory-limit", limit, "--quiet"])
    print(json.dumps({"rc": rc, "peak_extra": peak["extra"]}))


if __name__ == "__main__":
    main()
