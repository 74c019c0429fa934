"""Multi-layer perceptrons: scikit-learn's MLPClassifier and MLPRegressor on any PyTorch device."""

from ._mlp import MLPClassifier, MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
