"""write_atomically: whole files or none, with a plain open's permissions."""

from __future__ import annotations

import errno
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


def test_the_file_is_fsynced_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    import gpuml._files as files

    events = []
    fsync, replace = os.fsync, os.replace
    monkeypatch.setattr(files.os, "fsync", lambda fd: events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
                        or fsync(fd))
    monkeypatch.setattr(files.os, "replace", lambda a, b: events.append(("replace", str(b))) or replace(a, b))
    path = tmp_path / "a.json"
    write_atomically(str(path), _text("{}"))
    assert [e[0] for e in events] == ["fsync", "replace", "fsync"]
    assert events[0][1].startswith(str(tmp_path / ".a.json.")) and events[0][1].endswith(".partial.json")
    assert events[1][1] == str(path) and events[2][1] == str(tmp_path)


@pytest.mark.parametrize("code", [errno.EIO, errno.EINVAL])
def test_a_failed_fsync_of_the_folder_is_said_unless_unsupported(tmp_path, monkeypatch, code):
    import gpuml._files as files

    fsync = os.fsync

    def failing(fd):
        if os.path.isdir(os.readlink(f"/proc/self/fd/{fd}")):
            raise OSError(code, os.strerror(code))
        fsync(fd)

    monkeypatch.setattr(files.os, "fsync", failing)
    path = tmp_path / "a.json"
    if code == errno.EIO:  # the disk may not hold the rename: an error, not silence
        with pytest.raises(OSError, match="could not be synced"):
            write_atomically(str(path), _text("{}"))
    else:  # this file system has no fsync of folders
        write_atomically(str(path), _text("{}"))
    assert path.read_text() == "{}"


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"),
                                   OSError("1000000 requested and 130544 written"),  # NumPy's tofile
                                   OSError(errno.EDQUOT, "Disk quota exceeded")])
def test_a_full_disk_is_said_plainly(tmp_path, error):
    def fill(tmp):
        _text("half")(tmp)
        raise error

    path = tmp_path / "out.npy"
    with pytest.raises(OSError) as info:
        write_atomically(str(path), fill)
    assert info.value.strerror == f"no space left on device while writing {path}"
    assert info.value.errno == errno.ENOSPC and os.listdir(tmp_path) == []


def test_an_unusable_output_is_an_error_before_the_write(tmp_path):
    (tmp_path / "file").write_text("")
    called = []
    for path, error in [(tmp_path / "no" / "a", FileNotFoundError), (tmp_path / "file" / "a", NotADirectoryError),
                        (tmp_path, IsADirectoryError)]:
        with pytest.raises(error):
            write_atomically(str(path), called.append)
    assert not called
