"""Fixtures for tests that load published variants from the loopback server."""

from __future__ import annotations

import dataclasses
import hashlib

import keras
import pytest

import kerascnn
from kerascnn import registry
from kerascnn.weights.cards import WeightCard


@pytest.fixture(name="served")
def served_fixture(server, monkeypatch):
    """``served(model, variant, data, prefix=64)``: serve ``data`` as that variant's file."""
    monkeypatch.setenv("KERASCNN_MIRROR", server.url("/ok"))

    def serve(model: str, variant: str, data: bytes, prefix: int = 64) -> WeightCard:
        weights = kerascnn.get_model_card(model).weights
        path = weights[variant].url.split("/", 3)[3]  # the origin's path, kept by the mirror
        server.files[path] = data
        digest = "sha256:" + hashlib.sha256(data).hexdigest()[:prefix]
        card = dataclasses.replace(weights[variant], hash=digest, size=len(data))
        monkeypatch.setitem(weights, variant, card)
        return card

    return serve


@pytest.fixture(name="tiny_net")
def tiny_net_fixture(tmp_path, server, monkeypatch):
    """A registered model whose variant needs ``model_args`` and has named classes."""
    monkeypatch.setenv("KERASCNN_MIRROR", server.url("/ok"))

    def build(include_top=True, weights=None, classes=None, width=4, **kwargs):
        from kerascnn.builder import load_into, resolve_classes

        classes = resolve_classes("tiny_net", weights, include_top, classes)
        inputs = keras.Input((8, 8, 3))
        x = keras.layers.Conv2D(width, 3, name="conv")(inputs)
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        if include_top:
            x = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
        model = keras.Model(inputs, x, name="tiny_net")
        return load_into(model, "tiny_net", weights) if weights else model

    card = {"classes": 2, "input_shape": [8, 8, 3], "weights": {}}
    registry.register_model("tiny_net", card=card)(build)
    keras.utils.set_random_seed(3)
    trained = build(classes=3, width=6)
    trained.save_weights(tmp_path / "tiny.weights.h5")
    data = (tmp_path / "tiny.weights.h5").read_bytes()
    server.files["tiny.weights.h5"] = data
    variant = {
        "url": "https://example.org/tiny.weights.h5",
        "hash": "sha256:" + hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "format": "keras-weights",
        "include_top": True,
        "source": "the tests",
        "license": "CC0-1.0",
        "classes": ["cat", "dog", "fox"],
        "input_shape": [8, 8, 3],
        "preprocessing": "none",
        "accuracy": {"dataset": "none", "top1": 0.0},
        "model_args": {"width": 6},
    }
    toy = WeightCard.from_dict("tiny_net", "toy", variant)
    registry.get_model_card("tiny_net").weights["toy"] = toy
    yield trained
    registry._registered.pop("tiny_net", None)
    registry._registered_cards.pop("tiny_net", None)
