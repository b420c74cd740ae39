"""Which network and layers DeepDream uses: zoo specs, Keras models, default layers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from kerascnn.errors import UserError, WeightsUnavailableError
from kerascnn.registry import create_model, get_model_card, list_models

__all__ = ["dream_layers", "dreamable_layers", "load_dream_model", "offline_models"]


def offline_models() -> list[str]:
    """``name:variant`` of the zoo models whose weights ship with the package."""
    return [
        f"{name}:{variant}"
        for name in list_models()
        for variant, card in get_model_card(name).get("weights", {}).items()
        if isinstance(card, dict) and "file" in card
    ]


def load_dream_model(
    model: str | Any, preprocessing: str | None = None
) -> tuple[Any, str, dict[str, Any]]:
    """(Keras model, preprocessing, zoo card or {}) for a spec, zoo name or ``keras.Model``.

    Zoo specs use their weights' preprocessing (``"caffe"`` for VGG16's ImageNet
    weights); other models get ``"none"`` (pixels in [0, 255]) unless told.
    """
    if not isinstance(model, str):
        if not isinstance(model, keras.Model):
            raise UserError(f"model must be a spec like 'vgg16:imagenet' or a Model: {model!r}")
        return model, preprocessing or "none", _card_or_empty(model.name)
    name, _, variant = model.partition(":")
    card = get_model_card(name)
    # Dreaming needs only the convolutional base: where a "-notop" file exists,
    # build without the classifier, so e.g. VGG16 fetches 58 MB instead of 553 MB.
    headless = bool(variant) and f"{variant}-notop" in card.get("weights", {})
    try:
        net = create_model(model, include_top=False) if headless else create_model(model)
    except WeightsUnavailableError as exc:
        offline = ", ".join(offline_models()) or "none bundled in this version"
        raise WeightsUnavailableError(f"{exc}; models that dream offline: {offline}") from None
    weights = card.get("weights", {}).get(variant, {}) if variant else {}
    return net, preprocessing or weights.get("preprocessing", "none"), card


def _card_or_empty(name: str) -> dict[str, Any]:
    try:
        return get_model_card(name)
    except UserError:
        return {}


def dreamable_layers(model: Any) -> list[str]:
    """Names of the layers with image-like (N, H, W, C) outputs, input excluded."""
    return [
        layer.name
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer) and len(layer.output.shape) == 4
    ]


def dream_layers(model: Any, card: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Default layers and weights: the card's ``dream_layers``, else two conv layers at
    about 60% and 80% of the network's depth."""
    layers = dict((card or {}).get("dream_layers") or {})
    names = {layer.name for layer in model.layers}
    if layers and all(n in names for n in layers):
        return layers
    convs = [n for n in dreamable_layers(model) if model.get_layer(n).count_params() > 0]
    if not convs:
        raise UserError(f"{model.name} has no convolution layers to dream on; pass layers=")
    picks = dict.fromkeys(convs[min(len(convs) - 1, int(f * len(convs)))] for f in (0.6, 0.8))
    return {n: 1.0 for n in picks}
