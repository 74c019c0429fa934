"""How data reaches the device: sources of row chunks and the passes over them."""

from ..device import DeviceMemoryError
from ._gather import WithTargets, read_targets, resident, take_rows
from ._iterable import IterableSource
from ._npy import NpyShardsSource, NpySource
from ._open import open_source
from ._pass import plan_rows, report_progress, run_map, run_pass
from ._sources import ArraySource, Chunk, Source, all_finite, as_source, converted, float_dtype
from ._tables import CsvSource, ParquetSource

__all__ = [
    "ArraySource",
    "Chunk",
    "CsvSource",
    "DeviceMemoryError",
    "IterableSource",
    "NpyShardsSource",
    "NpySource",
    "ParquetSource",
    "Source",
    "WithTargets",
    "all_finite",
    "as_source",
    "converted",
    "float_dtype",
    "open_source",
    "plan_rows",
    "read_targets",
    "report_progress",
    "resident",
    "run_map",
    "run_pass",
    "take_rows",
]
