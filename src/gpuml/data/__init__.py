"""How data reaches the device: sources of row chunks and the passes over them."""

from ._pass import DeviceMemoryError, plan_rows, run_map, run_pass
from ._source import ArraySource

__all__ = ["ArraySource", "DeviceMemoryError", "plan_rows", "run_map", "run_pass"]
