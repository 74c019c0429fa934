"""Helpers shared by the tests (importable because pyproject puts tests/ on pytest's pythonpath)."""

import numpy as np


def tol(dtype, f32: float, f64: float) -> float:
    """The tolerance for the data's precision."""
    return f32 if dtype == np.float32 else f64
