"""The model registry: ``register_model``, ``list_models``, ``get_model_builder``, ``create_model``.

Fed, without importing Keras, by the zoo's cards (``zoo/*.json``), third-party packages'
entry points (group ``kerascnn.models``: name = ``"package.module:builder"``) and
``@register_model``.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import importlib
import inspect
import json
import warnings
from collections.abc import Callable, Mapping
from importlib import metadata, resources
from typing import TYPE_CHECKING, TypeVar, overload

from kerascnn.errors import UnknownModelError, UserError
from kerascnn.weights.cards import ModelCard, parse_spec

if TYPE_CHECKING:
    import keras

    #: A model builder: ``keras.applications``-style keyword arguments -> a new model.
    Builder = Callable[..., keras.Model]

B = TypeVar("B", bound="Builder")

__all__ = [
    "ENTRY_POINT_GROUP",
    "check_builder_args",
    "create_model",
    "get_model_builder",
    "get_model_card",
    "list_models",
    "register_model",
]

ENTRY_POINT_GROUP = "kerascnn.models"

_registered: dict[str, Builder] = {}
_registered_cards: dict[str, ModelCard] = {}


@functools.cache
def _zoo_cards() -> dict[str, ModelCard]:
    """Model name -> card, read and checked from the JSON files shipped in ``kerascnn.zoo``."""
    cards: dict[str, ModelCard] = {}
    for entry in sorted(resources.files("kerascnn.zoo").iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".json"):
            for name, card in json.loads(entry.read_text(encoding="utf-8")).items():
                cards[name] = ModelCard.from_dict(name, {"source": "kerascnn", **card})
    return cards


@functools.cache
def _plugin_entry_points() -> dict[str, metadata.EntryPoint]:
    """Model name -> entry point, for the models third-party packages declare."""
    found: dict[str, metadata.EntryPoint] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _zoo_cards() or ep.name in found:
            dist = ep.dist.name if ep.dist else "?"
            warnings.warn(
                f"kerascnn: model {ep.name!r} from package {dist!r} is ignored: "
                "the name is already taken",
                stacklevel=2,
            )
            continue
        found[ep.name] = ep
    return found


def _taken(name: str) -> bool:
    return name in _registered or name in _zoo_cards() or name in _plugin_entry_points()


@overload
def register_model(name: B, *, card: Mapping[str, object] | None = None) -> B: ...
@overload
def register_model(
    name: str | None = None, *, card: Mapping[str, object] | None = None
) -> Callable[[B], B]: ...
def register_model(
    name: str | Builder | None = None, *, card: Mapping[str, object] | None = None
) -> Builder | Callable[[B], B]:
    """Register a model builder under ``name`` (default: the function's name).

    Use as ``@register_model``, ``@register_model("my_net")`` or
    ``register_model("my_net")(builder)``. ``card`` is optional metadata with the
    fields of :class:`kerascnn.weights.cards.ModelCard` (``input_shape``, ``classes``,
    ``weights``, ...), checked now.
    A name that is already registered is rejected with ``ValueError``.
    """

    def decorator(fn: B) -> B:
        key = name if isinstance(name, str) else fn.__name__
        if not key.isidentifier():
            raise ValueError(f"model names must be Python identifiers, got {key!r}")
        if _taken(key):
            raise ValueError(f"a model named {key!r} is already registered")
        parsed = ModelCard.from_dict(key, {"source": fn.__module__, **(card or {})})
        _registered[key] = fn
        _registered_cards[key] = parsed
        return fn

    if callable(name):  # bare @register_model
        return decorator(name)
    return decorator


def list_models(pattern: str = "*") -> list[str]:
    """Sorted names of the registered models matching the shell-style ``pattern``."""
    names = set(_zoo_cards()) | set(_plugin_entry_points()) | set(_registered)
    return sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))


def _unknown(name: object) -> UnknownModelError:
    close = difflib.get_close_matches(str(name), list_models(), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else "; see `kerascnn zoo list`"
    return UnknownModelError(f"unknown model {name!r}{hint}")


def get_model_card(name: str) -> ModelCard:
    """The card of model ``name``: plain metadata, read without importing Keras."""
    if name in _zoo_cards():
        return _zoo_cards()[name]
    if name in _registered_cards:
        return _registered_cards[name]
    if name in _plugin_entry_points():
        ep = _plugin_entry_points()[name]
        return ModelCard(name, source=ep.dist.name if ep.dist else ep.value)
    raise _unknown(name)


def get_model_builder(name: str) -> Builder:
    """The builder function of model ``name`` (imports its module on first use)."""
    if name in _registered:
        return _registered[name]
    if name in _zoo_cards():
        module, _, attr = str(_zoo_cards()[name].builder).partition(":")
        builder = getattr(importlib.import_module(module), attr)
    elif name in _plugin_entry_points():
        builder = _plugin_entry_points()[name].load()
        if not callable(builder):
            raise UserError(
                f"the entry point for model {name!r} is not callable: {builder!r}; "
                "point it at the builder function"
            )
    else:
        raise _unknown(name)
    _registered[name] = builder
    return builder


def create_model(name: str, **kwargs: object) -> keras.Model:
    """Build model ``name``: ``create_model("vgg16", weights=None, classes=10)``.

    ``name`` may carry a weight variant, ``"vgg16:imagenet"``, as a shorthand
    for ``weights="imagenet"``. A variant's ``model_args`` (builder arguments its
    weights need) are applied. ``kerascnn.load`` does the same and also returns
    the weights' card, class names and preprocessing.
    """
    if not isinstance(name, str):
        raise UserError(f"model name must be a string, got {name!r}; e.g. 'vgg16'")
    name, variant = parse_spec(name)
    if variant:
        if kwargs.get("weights") not in (None, variant):
            raise UserError(
                f"conflicting weights: {name}:{variant} and weights={kwargs['weights']!r}; "
                "give the variant once"
            )
        kwargs["weights"] = variant
    weights = kwargs.get("weights")
    variant_card = get_model_card(name).weights.get(weights) if isinstance(weights, str) else None
    for key, value in (variant_card.model_args if variant_card else {}).items():
        if key in kwargs and kwargs[key] != value:
            raise UserError(
                f"{name}:{weights} needs {key}={value!r}, got {key}={kwargs[key]!r}; "
                f"drop {key} or use other weights"
            )
        kwargs[key] = value
    return check_builder_args(name, kwargs)(**kwargs)


def check_builder_args(name: str, kwargs: Mapping[str, object]) -> Builder:
    """The builder of ``name``, after checking that it takes every key of ``kwargs``."""
    builder = get_model_builder(name)
    params = inspect.signature(builder).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            raise UserError(
                f"{name} has no argument {unknown[0]!r}; use one of: {', '.join(params)}"
            )
    return builder
