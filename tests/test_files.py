"""write_atomically: whole files or none, with a plain open's permissions."""

from __future__ import annotations

import os
import stat

import pytest

from gpuml._files import write_atomically


def _text(content):
    def write(tmp):
        with open(tmp, "w") as fh:
            fh.write(content)

    return write


def test_permissions_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        write_atomically(str(tmp_path / "a.json"), _text("{}"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "a.json").st_mode) == 0o640
    assert (tmp_path / "a.json").read_text() == "{}"


def test_a_failed_write_leaves_the_old_file_and_no_partial(tmp_path):
    path = tmp_path / "a.json"
    path.write_text("old")

    def fail(tmp):
        _text("half")(tmp)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(str(path), fail)
    assert path.read_text() == "old" and sorted(os.listdir(tmp_path)) == ["a.json"]
