"""kerascnn: a Keras 3 model zoo and plugin package for convolutional networks.

Importing this package is cheap: it does not import Keras or TensorFlow. The
heavier parts (``kerascnn.train``, ``kerascnn.dream``, ...) load on first use.
"""

import importlib

from kerascnn.errors import UnknownModelError, UserError, WeightsUnavailableError
from kerascnn.registry import (
    create_model,
    get_model_builder,
    get_model_card,
    list_models,
    register_model,
)

__version__ = "0.1.0"

# Submodules and functions loaded on first attribute access (PEP 562), so that
# ``import kerascnn`` stays light for the CLI.
_LAZY = {
    "data": "kerascnn.data",
    "dream": "kerascnn.dream",
    "evaluate": "kerascnn.evaluate",
    "images": "kerascnn.images",
    "inspect": "kerascnn.inspect",
    "layers": "kerascnn.layers",
    "predict": "kerascnn.prediction:predict",
    "train": "kerascnn.train",
    "transfer": "kerascnn.transfer",
    "visualize": "kerascnn.visualize",
    "weights": "kerascnn.weights",
    "zoo": "kerascnn.zoo",
}

__all__ = [
    "UnknownModelError",
    "UserError",
    "WeightsUnavailableError",
    "__version__",
    "create_model",
    "get_model_builder",
    "get_model_card",
    "list_models",
    "register_model",
    *_LAZY,
]


def __getattr__(name: str):
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'kerascnn' has no attribute {name!r}")
    module_name, _, attr = target.partition(":")
    value = importlib.import_module(module_name)
    if attr:
        value = getattr(value, attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
