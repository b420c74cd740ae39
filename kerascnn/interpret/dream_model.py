"""Which network and layers DeepDream uses: zoo specs, Keras models, default layers."""

from __future__ import annotations

from typing import Any

import keras

from kerascnn.errors import UserError, WeightsUnavailableError
from kerascnn.registry import get_model_card, list_models
from kerascnn.resolve import LoadedModel, is_path, load
from kerascnn.weights.cards import ModelCard, parse_spec

__all__ = ["dream_layers", "dreamable_layers", "load_dream_model", "offline_models"]


def offline_models() -> list[str]:
    """``name:variant`` of the zoo models whose weights ship with the package."""
    return [
        card.spec
        for name in list_models()
        for card in get_model_card(name).weights.values()
        if card.bundled
    ]


def load_dream_model(model: Any, preprocessing: str | None = None) -> LoadedModel:
    """The model to dream with, through ``kerascnn.load``.

    Zoo specs use their weights' preprocessing (``"caffe"`` for VGG16's ImageNet
    weights); other models get ``"none"`` (pixels in [0, 255]) unless told. Where a
    ``-notop`` file exists the model is built without its classifier (dreaming needs
    only the convolutional base: VGG16 fetches 58 MB instead of 553 MB).
    """
    args = {}
    if isinstance(model, str) and not is_path(model):
        name, variant = parse_spec(model)
        if variant and f"{variant}-notop" in get_model_card(name).weights:
            args["include_top"] = False
    try:
        return load(model, preprocessing=preprocessing, **args)
    except WeightsUnavailableError as exc:
        offline = ", ".join(offline_models()) or "none bundled in this version"
        raise WeightsUnavailableError(f"{exc}; models that dream offline: {offline}") from None


def dreamable_layers(model: Any) -> list[str]:
    """Names of the layers with image-like (N, H, W, C) outputs, input excluded."""
    return [
        layer.name
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer) and len(layer.output.shape) == 4
    ]


def dream_layers(model: Any, card: ModelCard | None = None) -> dict[str, float]:
    """Default layers and weights: the card's ``dream_layers``, else two conv layers at
    about 60% and 80% of the network's depth."""
    layers = dict(card.dream_layers) if card else {}
    names = {layer.name for layer in model.layers}
    if layers and all(n in names for n in layers):
        return layers
    convs = [n for n in dreamable_layers(model) if model.get_layer(n).count_params() > 0]
    if not convs:
        raise UserError(f"{model.name} has no convolution layers to dream on; pass layers=...")
    picks = dict.fromkeys(convs[min(len(convs) - 1, int(f * len(convs)))] for f in (0.6, 0.8))
    return {n: 1.0 for n in picks}
