"""kerascnn: a Keras 3 model zoo and plugin package for convolutional networks.

Importing this package is cheap: it does not import Keras or TensorFlow. The
capabilities live in subpackages (``weights``, ``training``, ``interpret``,
``analysis``, ``transfer``, ``layers``) and load on first use.
"""

import importlib
import importlib.abc
import importlib.util
import sys
from typing import Any

from kerascnn._version import __version__
from kerascnn.errors import UnknownModelError, UserError, WeightsUnavailableError
from kerascnn.predict import predict
from kerascnn.registry import (
    create_model,
    get_model_builder,
    get_model_card,
    list_models,
    register_model,
)

# Names loaded on first attribute access (PEP 562), so ``import kerascnn`` stays light.
_LAZY = {
    "load": "kerascnn.resolve:load",
    "LoadedModel": "kerascnn.resolve:LoadedModel",
    "deep_dream": "kerascnn.interpret.dream:deep_dream",
    "export": "kerascnn.deploy.exporter:export",
    "train": "kerascnn.training",
    "data": "kerascnn.training.data",
    "evaluate": "kerascnn.training.evaluate",
    "dream": "kerascnn.interpret.dream",
    "visualize": "kerascnn.interpret.visualize",
    "inspect": "kerascnn.analysis",
}
_SUBPACKAGES = (
    "analysis",
    "images",
    "interpret",
    "layers",
    "training",
    "transfer",
    "weights",
    "zoo",
)

__all__ = [
    "UnknownModelError",
    "UserError",
    "WeightsUnavailableError",
    "__version__",
    "create_model",
    "get_model_builder",
    "get_model_card",
    "list_models",
    "predict",
    "register_model",
    *_LAZY,
    *_SUBPACKAGES,
]


class _RegisterLayersWithKeras(importlib.abc.MetaPathFinder):
    """Import ``kerascnn.layers`` right after Keras itself, so that saved models with the
    zoo's custom layers load with plain ``keras.saving.load_model`` after ``import kerascnn``,
    while ``import kerascnn`` alone still imports neither Keras nor TensorFlow."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            run = spec.loader.exec_module

            def exec_module(module: Any) -> None:
                run(module)
                importlib.import_module("kerascnn.layers")

            spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


if "keras" in sys.modules:
    importlib.import_module("kerascnn.layers")
elif not any(isinstance(f, _RegisterLayersWithKeras) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterLayersWithKeras())


def __getattr__(name: str):
    target = _LAZY.get(name) or (f"kerascnn.{name}" if name in _SUBPACKAGES else None)
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
