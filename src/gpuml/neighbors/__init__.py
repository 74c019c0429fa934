"""Nearest neighbors: exact brute-force search built on matrix products."""

from ._supervised import KNeighborsClassifier, KNeighborsRegressor
from ._unsupervised import NearestNeighbors

__all__ = ["KNeighborsClassifier", "KNeighborsRegressor", "NearestNeighbors"]
