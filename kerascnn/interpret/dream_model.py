"""Which network and layers DeepDream uses: zoo specs, Keras models, default layers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kerascnn.errors import UserError, WeightsUnavailableError, deprecated
from kerascnn.registry import get_model_card, list_models
from kerascnn.resolve import LoadedModel, is_path, load
from kerascnn.weights.cards import ModelCard, parse_spec

__all__ = [
    "dream_layers",
    "dreamable_layers",
    "load_dream_model",
    "model_first",
    "offline_models",
]


def offline_models() -> list[str]:
    """``name:variant`` of the zoo models whose weights ship with the package."""
    return [
        card.spec
        for name in list_models()
        for card in get_model_card(name).weights.values()
        if card.bundled
    ]


def load_dream_model(model: Any, preprocessing: str | None = None) -> LoadedModel:
    """The model to dream with, through ``kerascnn.load`` (a bare name: its default weights;
    preprocessing: the weights' unless told); built without its classifier where a ``-notop``
    file exists (VGG16: 58 MB, not 553)."""
    args = {}
    if isinstance(model, str) and not is_path(model) and "://" not in model:
        name, variant = parse_spec(model)
        card = get_model_card(name)
        if variant is None and any(c.include_top for c in card.weights.values()):
            variant = card.default_variant()  # what kerascnn.load takes for a bare name
        if variant and f"{variant}-notop" in card.weights:
            args["include_top"] = False
    try:
        return load(model, preprocessing=preprocessing, **args)
    except WeightsUnavailableError as exc:
        offline = ", ".join(offline_models()) or "none bundled in this version"
        raise WeightsUnavailableError(f"{exc}; models that dream offline: {offline}") from None


def _is_image(value: Any) -> bool:
    """Pixels, or the path of an image file (not of a model)."""
    from PIL import Image

    if isinstance(value, np.ndarray):
        return True
    suffix = Path(value).suffix.lower() if isinstance(value, str | os.PathLike) else ""
    return suffix in Image.registered_extensions()


def model_first(model: Any, image: Any, function: str) -> tuple[Any, Any]:
    """``(model, image)`` of a call of ``function``; the image first (``deep_dream(image,
    model)``, before 0.2) is taken with a deprecation warning (the model left out:
    ``vgg16:imagenet``, as then)."""
    if _is_image(model) and (image is None or not _is_image(image)):
        deprecated(f"{function}(image, model)", f"{function}(model, image)", stacklevel=4)
        return ("vgg16:imagenet" if image is None else image), model
    if image is None:
        raise TypeError(f"{function}() missing 1 required argument: 'image'")
    return model, image


def dreamable_layers(model: Any) -> list[str]:
    """Names of the layers with image-like (N, H, W, C) outputs, input excluded."""
    return [
        layer.name
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer) and len(layer.output.shape) == 4
    ]


def dream_layers(model: Any, card: ModelCard | None = None) -> dict[str, float]:
    """The card's ``dream_layers``, else two conv layers at about 60% and 80% of the depth."""
    names = {layer.name for layer in model.layers}
    if card and card.dream_layers and set(card.dream_layers) <= names:
        return dict(card.dream_layers)
    convs = [n for n in dreamable_layers(model) if model.get_layer(n).count_params() > 0]
    if not convs:
        raise UserError(
            f"{model.name} has no convolution layers to dream on; pass layers={{NAME: WEIGHT}}",
            arguments={"layers={NAME: WEIGHT}": "layers"},
        )
    picks = (convs[min(len(convs) - 1, int(f * len(convs)))] for f in (0.6, 0.8))
    return dict.fromkeys(picks, 1.0)
