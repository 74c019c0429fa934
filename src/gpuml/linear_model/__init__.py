"""Linear models."""

from ._linear import LinearRegression, Ridge
from ._logistic import LogisticRegression

__all__ = ["LinearRegression", "LogisticRegression", "Ridge"]
