"""For the memory-measuring scripts that tests run in subprocesses: this process's memory from
/proc/self/status, and the peak of its anonymous resident memory over a block.

Anonymous resident memory (RssAnon) excludes the pages of files in the page cache (memory-mapped
inputs, outputs being written): it is what the code itself allocates.
"""

import threading
import time
from contextlib import contextmanager


def status_bytes(key: str) -> int:
    """A ``kB`` line of /proc/self/status (``"RssAnon"``, ``"VmSize"``) in bytes."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {key} in /proc/self/status")


@contextmanager
def peak_rss_anon():
    """Yields a dict whose ``"extra"`` is, after the block, the peak RssAnon above the start."""
    base = peak = status_bytes("RssAnon")
    done, out = threading.Event(), {}

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, status_bytes("RssAnon"))
            time.sleep(0.001)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        yield out
    finally:
        done.set()
        t.join()
        out["extra"] = max(peak, status_bytes("RssAnon")) - base
