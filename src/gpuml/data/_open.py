"""``open_source``: a source for a file or folder, chosen by its extension."""

from __future__ import annotations

import glob
import os

from ._npy import NpyShardsSource, NpySource
from ._sources import Source
from ._tables import CsvSource, ParquetSource


def open_source(path: str | os.PathLike, *, target: str | int | None = None,
                columns: list[str] | None = None) -> Source:
    """A source for a file or folder, chosen by its extension.

    ``.npy`` (``target``: a column index), a folder of ``.npy`` shards, ``.parquet`` or a
    folder of Parquet files, ``.csv`` (``target`` and ``columns``: column names).

    Examples
    --------
    >>> open_source("missing.npy")
    Traceback (most recent call last):
    ...
    FileNotFoundError: no such file: missing.npy
    """
    p = os.fspath(path)
    low = p.lower()

    def as_index(t):
        if t is None:
            return None
        try:
            return int(t)
        except (TypeError, ValueError):
            raise ValueError(f"target for .npy data must be a column number, got {t!r}") from None

    if os.path.isdir(p):
        if glob.glob(os.path.join(p, "*.parquet")):
            return ParquetSource(p, columns=columns, target=target)
        if glob.glob(os.path.join(p, "*.npy")):
            return NpyShardsSource(p, target=as_index(target))
        raise ValueError(f"{p}: the folder holds no .npy or .parquet files")
    if low.endswith(".npy"):
        if columns:
            raise ValueError("columns= applies to Parquet and CSV data, not .npy")
        return NpySource(p, target=as_index(target))
    if low.endswith((".parquet", ".pq")):
        return ParquetSource(p, columns=columns, target=target)
    if low.endswith((".csv", ".csv.gz", ".tsv")):
        return CsvSource(p, columns=columns, target=target, delimiter="\t" if low.endswith(".tsv") else ",")
    if not os.path.exists(p):
        raise FileNotFoundError(f"no such file: {p}")
    raise ValueError(f"{p}: unknown data format; use .npy, .parquet, .csv or a folder of .npy or .parquet files")
