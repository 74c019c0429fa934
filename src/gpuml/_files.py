"""Files written whole or not at all."""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: NumPy's own wording for a short write (``ndarray.tofile``), which carries no errno.
_SHORT_WRITE = re.compile(r"\d+ requested and \d+ written")


def _disk_full(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left on device" in str(exc) \
        or bool(_SHORT_WRITE.search(str(exc)))


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_output(path: str) -> Iterator[str]:
    """A temporary file in ``path``'s folder, renamed to ``path`` when the block succeeds.

    The temporary file is made on entry, so an unusable output (no such folder, not a
    folder, not writable, ``path`` itself a folder) is an ``OSError`` before any work.
    On success the file is flushed to disk (fsync), gets the permissions a plain ``open``
    would give it (0666 less the umask, not the temporary file's private 0600), replaces
    ``path``, and the folder is flushed too where the OS allows. On any exception,
    signals turned into exceptions included, the temporary file is removed. A full disk
    is reported as "no space left on device while writing PATH".

    Yields
    ------
    tmp : str
        The path to write.
    """
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(folder):
        raise FileNotFoundError(f"no such folder for the output: {folder}")
    if not os.path.isdir(folder):
        raise NotADirectoryError(f"not a folder, cannot hold the output: {folder}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"the output {path} is a folder; give a file name")
    base = os.path.basename(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{base}.", suffix=".partial" + os.path.splitext(base)[1])
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write to the folder {folder}: {exc.strerror or exc}") from None
    os.close(fd)
    try:
        yield tmp
        _fsync(tmp)
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        if _disk_full(exc):
            raise OSError(errno.ENOSPC, f"no space left on device while writing {path}") from None
        raise
    except BaseException:
        _remove(tmp)
        raise
    if os.name == "nt":  # Windows cannot open a folder for fsync
        return
    try:
        _fsync(folder)  # the rename itself reaches the disk
    except OSError as exc:  # a file system without fsync of folders says EINVAL; an I/O error is said
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise OSError(exc.errno, f"{path} was written, but the folder could not be synced to disk: "
                                     f"{exc.strerror}") from None


def _remove(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


def write_atomically(path: str, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` on a temporary file renamed to ``path`` on success (see `atomic_output`)."""
    with atomic_output(path) as tmp:
        write(tmp)
