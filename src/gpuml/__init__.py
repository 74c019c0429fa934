"""gpuml: scikit-learn's estimators on any PyTorch device, over data of any size.

Examples
--------
>>> import gpuml
>>> with gpuml.config_context(device="cpu"):
...     gpuml.get_config()["device"]
'cpu'
"""

from ._config import config_context, get_config, set_config
from ._support import UnsupportedError, UnsupportedInputError

__version__ = "0.1.0"

__all__ = ["UnsupportedError", "UnsupportedInputError", "__version__", "config_context", "get_config", "set_config"]
