"""kerascnn: a Keras 3 model zoo and plugin package for convolutional networks.

One function per task, each taking the model first (whatever :func:`load` takes: a zoo spec,
a ``.keras`` file, a run folder, a preset or ``hf://`` URI, a ``keras.Model``, a
:class:`LoadedModel`) and returning a typed result: :func:`load`, :func:`create_model`,
:func:`list_models`, :func:`fit`, :func:`finetune`, :func:`evaluate`, :func:`predict`,
:func:`deep_dream`, :func:`export`, :func:`benchmark`, :func:`serve`, :func:`push`.

Importing this package is cheap: it does not import Keras or TensorFlow. The functions and
the subpackages (``weights``, ``training``, ``interpret``, ``analysis``, ``transfer``,
``layers``, ``deploy``) load on first use.
"""

import functools
import importlib
import importlib.abc
import importlib.util
import sys
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import TYPE_CHECKING, Any

from kerascnn._version import __version__
from kerascnn.errors import UnknownModelError, UserError, WeightsUnavailableError, deprecated
from kerascnn.predict import predict
from kerascnn.registry import (
    create_model,
    get_model_builder,
    get_model_card,
    list_models,
    register_model,
)

if TYPE_CHECKING:  # what the lazy names below are (type checkers only)
    from kerascnn.deploy.bench import BenchmarkResult as BenchmarkResult
    from kerascnn.deploy.bench import benchmark as benchmark
    from kerascnn.deploy.exporter import ExportResult as ExportResult
    from kerascnn.deploy.exporter import export as export
    from kerascnn.deploy.server import serve as serve
    from kerascnn.interpret.dream import deep_dream as deep_dream
    from kerascnn.probabilities import Prediction as Prediction
    from kerascnn.publish import PushResult as PushResult
    from kerascnn.publish import push as push
    from kerascnn.resolve import LoadedModel as LoadedModel
    from kerascnn.resolve import load as load
    from kerascnn.training.config import FinetuneConfig as FinetuneConfig
    from kerascnn.training.config import TrainConfig as TrainConfig
    from kerascnn.training.engine import fit as fit
    from kerascnn.training.evaluate import evaluate as evaluate
    from kerascnn.training.result import EvalResult as EvalResult
    from kerascnn.training.result import TrainResult as TrainResult
    from kerascnn.transfer.recipe import finetune as finetune

# Names loaded on first attribute access (PEP 562), so ``import kerascnn`` stays light.
_LAZY = {
    "load": "kerascnn.resolve:load",
    "fit": "kerascnn.training.engine:fit",
    "finetune": "kerascnn.transfer.recipe:finetune",
    "evaluate": "kerascnn.training.evaluate:evaluate",
    "deep_dream": "kerascnn.interpret.dream:deep_dream",
    "export": "kerascnn.deploy.exporter:export",
    "benchmark": "kerascnn.deploy.bench:benchmark",
    "serve": "kerascnn.deploy.server:serve",
    "push": "kerascnn.publish:push",
    "LoadedModel": "kerascnn.resolve:LoadedModel",
    "TrainConfig": "kerascnn.training.config:TrainConfig",
    "FinetuneConfig": "kerascnn.training.config:FinetuneConfig",
    "TrainResult": "kerascnn.training.result:TrainResult",
    "EvalResult": "kerascnn.training.result:EvalResult",
    "Prediction": "kerascnn.probabilities:Prediction",
    "ExportResult": "kerascnn.deploy.exporter:ExportResult",
    "BenchmarkResult": "kerascnn.deploy.bench:BenchmarkResult",
    "PushResult": "kerascnn.publish:PushResult",
}
# The module aliases of 0.1, kept one more release: name -> (module, what to use instead).
_DEPRECATED = {
    "train": ("kerascnn.training", "kerascnn.fit, kerascnn.TrainConfig (or kerascnn.training)"),
    "data": ("kerascnn.training.data", "kerascnn.training.data"),
    "dream": ("kerascnn.interpret.dream", "kerascnn.deep_dream (or kerascnn.interpret.dream)"),
    "visualize": ("kerascnn.interpret.visualize", "kerascnn.interpret.visualize"),
    "inspect": ("kerascnn.analysis", "kerascnn.analysis"),
}
# Modules moved in 0.2, importable under their old names one more release: old -> new.
_MOVED_MODULES = {"kerascnn.weights.load": "kerascnn.builder"}
_SUBPACKAGES = (
    "analysis",
    "deploy",
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


class _FunctionOfModule:
    """``kerascnn.evaluate``: the function, whose other attributes are those of the module
    ``kerascnn.evaluate`` was before 0.2 (``kerascnn.evaluate.evaluate``), deprecated."""

    def __init__(self, function: Callable[..., object], module: ModuleType, name: str) -> None:
        self._module, self._name = module, name  # first: __getattr__ reads them
        functools.update_wrapper(self, function)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__wrapped__(*args, **kwargs)

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self._module, attribute)
        new = f"kerascnn.{self._name}(...)" if attribute == self._name else self._module.__name__
        deprecated(f"the module alias kerascnn.{self._name}.{attribute}", new)
        return value


# modules of Keras-serialisable classes (layers, learning-rate schedules)
_SERIALISABLE = ("kerascnn.layers", "kerascnn.training.schedules")


def _register_with_keras() -> None:
    for module in _SERIALISABLE:
        importlib.import_module(module)


class _RegisterLayersWithKeras(importlib.abc.MetaPathFinder):
    """Import :data:`_SERIALISABLE` right after Keras itself, so that saved models with the
    zoo's custom layers and schedules load with plain ``keras.saving.load_model`` after
    ``import kerascnn``, while ``import kerascnn`` alone still imports neither Keras nor
    TensorFlow."""

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            run = spec.loader.exec_module

            def exec_module(module: ModuleType) -> None:
                run(module)
                _register_with_keras()

            spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``import kerascnn.weights.load`` (moved to ``kerascnn.builder`` in 0.2): a module that
    forwards to the new one, with a deprecation warning."""

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name not in _MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(name, self)

    def exec_module(self, module: ModuleType) -> None:
        new = _MOVED_MODULES[module.__name__]
        deprecated(f"the module {module.__name__}", new, stacklevel=2)
        target = importlib.import_module(new)
        module.__getattr__ = lambda attribute: getattr(target, attribute)  # type: ignore[method-assign]
        module.__all__ = list(getattr(target, "__all__", ()))  # type: ignore[attr-defined]


if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
    sys.meta_path.append(_MovedModules())
if "keras" in sys.modules:
    _register_with_keras()
elif not any(isinstance(f, _RegisterLayersWithKeras) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterLayersWithKeras())


def __getattr__(name: str):
    if name in _DEPRECATED:  # not cached: each use warns
        module, instead = _DEPRECATED[name]
        deprecated(f"the module alias kerascnn.{name}", instead)
        return importlib.import_module(module)
    target = _LAZY.get(name) or (f"kerascnn.{name}" if name in _SUBPACKAGES else None)
    if target is None:
        raise AttributeError(f"module 'kerascnn' has no attribute {name!r}")
    module_name, _, attr = target.partition(":")
    value: Any = importlib.import_module(module_name)  # then the attribute: any object
    if attr:
        value = getattr(value, attr)
    if name == "evaluate":  # a module before 0.2
        value = _FunctionOfModule(value, importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
