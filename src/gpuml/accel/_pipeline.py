"""Consecutive accelerated steps of a Pipeline keep their data on the device.

scikit-learn's ``Pipeline`` hands each step's NumPy output to the next step, so on a GPU
every step would copy its input to the device and its output back. Under accel the
``Pipeline`` proxy moves X to the device once when every step would run on gpuml there
(each step a proxy whose parameters gpuml supports, fitted on gpuml for a prediction, no
``set_output`` container, no ``memory=`` cache, a plain numeric array that fits a quarter
of the device's memory budget): the steps then pass device tensors to each other (gpuml
returns a tensor on the device for a tensor), and only the pipeline's result comes back
to the host, as NumPy. Otherwise, or on a machine without an accelerator, the pipeline
runs exactly as scikit-learn's, step by step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Pipeline methods whose data may stay on the device between steps (``score`` hands the
#: final predictions to a scikit-learn metric: it keeps scikit-learn's NumPy path).
METHODS = ("fit", "fit_transform", "fit_predict", "predict", "predict_proba", "predict_log_proba",
           "decision_function", "transform", "inverse_transform")


def handoff_device() -> Any:
    """The accelerator the steps would compute on, or None (CPU: nothing to keep)."""
    from .._config import get_config
    from ..device import accelerator, resolve_device

    spec = get_config()["device"]
    dev = accelerator() if isinstance(spec, str) and spec == "auto" else resolve_device(spec)
    return dev if dev is not None and dev.type != "cpu" else None


def _steps_on_gpuml(pipe: Any, fitting: bool) -> bool:
    from ._proxy import _gpuml_class

    for _, step in pipe.steps:
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        cls = type(step)
        if "_gpuml_original" not in cls.__dict__:
            return False
        if _gpuml_class(cls)._support.param_reason(step.get_params(deep=False)) is not None:
            return False
        if getattr(step, "_sklearn_output_config", None):
            return False
        if not fitting and "_gpuml_est" not in vars(step):
            return False
    return True


def _eligible(pipe: Any, X: Any, fitting: bool, device: Any) -> bool:
    from ..device import resident_budget

    return (type(X) is np.ndarray and X.ndim == 2 and X.dtype.kind in "fiu" and X.size > 0
            and getattr(pipe, "memory", None) is None and not getattr(pipe, "_sklearn_output_config", None)
            and _steps_on_gpuml(pipe, fitting) and X.nbytes <= resident_budget(device) // 4)


def _to_host(out: Any, pipe: Any) -> Any:
    import torch

    if out is pipe:
        return out
    if isinstance(out, torch.Tensor):
        return out.detach().cpu().numpy()
    if isinstance(out, tuple):
        return tuple(_to_host(o, pipe) for o in out)
    return out


def dispatch(pipe: Any, method: str, sk_method: Any, args: tuple, kwargs: dict) -> Any:
    """Run scikit-learn's Pipeline ``method`` with X on the device when every step would
    compute there on gpuml; else exactly as scikit-learn's."""
    from ._proxy import _inside

    device = None if _inside.get() or not args else handoff_device()
    if device is None or not _eligible(pipe, args[0], method.startswith("fit"), device):
        return sk_method(pipe, *args, **kwargs)
    import torch

    X = torch.as_tensor(args[0]).to(device)
    return _to_host(sk_method(pipe, X, *args[1:], **kwargs), pipe)
