"""The model file of ``gpuml fit``: a header that says what it is, then the pickled estimator.

Layout: the line ``GPUML-MODEL``, one line of JSON (format number, gpuml's version, the
estimator's class, the payload's length and SHA-256), then the payload, a pickle of
``{"estimator": ..., **meta}``. The header is read and checked before anything is
unpickled, so a foreign, truncated, damaged, older or newer file is a clear error, and a
file that is not a gpuml model is never unpickled. (A model file is still a pickle: load
only files you trust.)
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from typing import Any

from .._files import write_atomically

MAGIC = b"GPUML-MODEL\n"
#: Bumped whenever a file of the previous format could not be read back correctly.
FORMAT = 2
#: The first bytes of a format-1 file (a pickled dict whose first item was the format).
_FORMAT_1 = b"gpuml-model/1"


def save_model(path: str, estimator: Any, meta: dict) -> None:
    """Write ``estimator`` and ``meta`` to ``path`` (whole or not at all)."""
    write_atomically(path, lambda tmp: write_model(tmp, estimator, meta))


def write_model(path: str, estimator: Any, meta: dict) -> None:
    """Write the model file to ``path`` directly (the caller makes it atomic)."""
    from .. import __version__

    payload = pickle.dumps({"estimator": estimator, **meta}, protocol=pickle.HIGHEST_PROTOCOL)
    header = {"format": FORMAT, "gpuml_version": __version__, "estimator": type(estimator).__name__,
              "module": type(estimator).__module__, "bytes": len(payload),
              "sha256": hashlib.sha256(payload).hexdigest()}
    with open(path, "wb") as fh:
        fh.write(MAGIC + json.dumps(header).encode() + b"\n")
        fh.write(payload)


def read_header(path: str) -> tuple[dict, int]:
    """The checked header of the model file at ``path`` and the payload's offset."""
    from .. import __version__

    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a folder, not a gpuml model file")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such model file: {path}")
    with open(path, "rb") as fh:
        head = fh.read(len(MAGIC))
        line = fh.readline(1 << 16)
    if head != MAGIC:
        if _FORMAT_1 in head + line[:64]:
            raise ValueError(f"{path} was written by an older gpuml (model format 1), which gpuml {__version__} "
                             f"cannot read; fit the model again")
        raise ValueError(f"{path} is not a gpuml model file")
    try:
        header = json.loads(line)
        fmt = header["format"]
        if not isinstance(header, dict) or not isinstance(fmt, int) or not isinstance(header["bytes"], int):
            raise TypeError
    except (ValueError, TypeError, KeyError):
        raise ValueError(f"{path}: the model file's header is damaged") from None
    if fmt != FORMAT:
        age = "a newer" if fmt > FORMAT else "an older"
        hint = "upgrade gpuml" if fmt > FORMAT else "fit the model again"
        raise ValueError(f"{path} was written by {age} gpuml ({header.get('gpuml_version', '?')}, model format "
                         f"{fmt}) than this one ({__version__}, format {FORMAT}); {hint}")
    return header, len(MAGIC) + len(line)


def load_model(path: str) -> dict:
    """Read a model file written by ``gpuml fit``: ``{"estimator": ..., "header": {...}, **meta}``.

    Raises
    ------
    ValueError
        One line saying what is wrong: not a model file, written by an older or newer
        gpuml, truncated, damaged, or holding another estimator than it says.
    """
    header, offset = read_header(path)
    with open(path, "rb") as fh:
        fh.seek(offset)
        payload = fh.read(header["bytes"] + 1)
    if len(payload) != header["bytes"]:
        raise ValueError(f"{path} is truncated or damaged: {len(payload):,} bytes of model where the header "
                         f"says {header['bytes']:,}")
    if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        raise ValueError(f"{path} is damaged: its checksum does not match")
    try:
        out = pickle.loads(payload)
    except Exception as exc:  # a class that moved or vanished, for instance
        raise ValueError(f"{path}: cannot load the {header.get('estimator')} model ({type(exc).__name__}: {exc}); "
                         f"fit it again with this gpuml") from None
    name = type(out.get("estimator")).__name__ if isinstance(out, dict) else type(out).__name__
    if name != header.get("estimator"):
        raise ValueError(f"{path} says it holds a {header.get('estimator')} but holds a {name}")
    out["header"] = header
    return out
