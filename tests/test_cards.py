"""Every weight card of every model follows one schema and parses into a typed card."""

from __future__ import annotations

import dataclasses
import json
from importlib import resources

import pytest

import kerascnn
from kerascnn.errors import UserError
from kerascnn.registry import list_models
from kerascnn.weights.cards import ModelCard, WeightCard, card_problems


def _raw_cards() -> dict:
    """The zoo's JSON cards as shipped: model name -> raw dict."""
    raw = {}
    for entry in resources.files("kerascnn.zoo").iterdir():
        if entry.name.endswith(".json"):
            raw.update(json.loads(entry.read_text(encoding="utf-8")))
    return raw


RAW = _raw_cards()
ALL = [(model, variant) for model in sorted(RAW) for variant in RAW[model].get("weights", {})]


@pytest.mark.parametrize(("model", "variant"), ALL, ids=[f"{m}:{v}" for m, v in ALL])
def test_weight_card_follows_the_schema(model, variant):
    raw = RAW[model]["weights"][variant]
    assert card_problems(model, variant, raw) == []
    card = kerascnn.get_model_card(model).weights[variant]
    assert isinstance(card, WeightCard) and card.spec == f"{model}:{variant}"
    assert card.input_shape[-1] == kerascnn.get_model_card(model).input_shape[-1]
    with pytest.raises(dataclasses.FrozenInstanceError):
        card.hash = "md5:0"  # type: ignore[misc]
    if card.bundled:  # the file ships in the package
        from kerascnn.weights.cache import cached_path

        assert cached_path(card).is_file()


def test_every_registered_model_has_a_typed_card():
    assert set(RAW) <= set(list_models())
    for name in list_models():
        assert isinstance(kerascnn.get_model_card(name), ModelCard)


def test_published_cards_carry_the_publishers_figures():
    vgg = kerascnn.get_model_card("vgg16").weights
    assert vgg["imagenet"].hash == "md5:64373286793e3c8b2b4e3219cbf3544b"
    assert vgg["imagenet-notop"].hash == "md5:6d6bbae143d832006294945121d1f1fc"
    assert vgg["imagenet-tv"].url.endswith("vgg16-397923af.pth")
    assert vgg["imagenet-tv"].hash == "sha256:397923af"
    alex = kerascnn.get_model_card("alexnet").weights["imagenet"]
    assert alex.url.endswith("alexnet-owt-7be5be79.pth") and alex.hash == "sha256:7be5be79"
    assert (alex.accuracy["top1"], alex.accuracy["top5"]) == (56.522, 79.066)
    assert len(alex.classes) == 1000 and alex.classes[0] == "tench"


def test_the_schema_catches_broken_cards():
    good = dict(RAW["alexnet"]["weights"]["imagenet"])
    assert card_problems("m", "v", good) == []
    bundled = {**good, "file": "weights/m.weights.h5", "hash": "sha256:7be5be79"}
    del bundled["url"]
    cases = {
        "missing 'license'": {k: v for k, v in good.items() if k != "license"},
        "url must be https": {**good, "url": "http://x.org/w.pth"},
        "hash must be md5": {**good, "hash": "crc32:1234"},
        "format must be one of": {**good, "format": "onnx"},
        "preprocessing must be one of": {**good, "preprocessing": "inception"},
        "unknown field 'colour'": {**good, "colour": "red"},
        "exactly one of 'url'": {**good, "file": "weights/x.h5"},
        "bundled weights need the full sha256": bundled,
        "unknown class index": {**good, "classes": "coco"},
        "size must be int": {**good, "size": "big"},
    }
    for expected, card in cases.items():
        problems = card_problems("m", "v", card)
        assert any(expected in p for p in problems), (expected, problems)
        with pytest.raises(UserError, match=expected.split("'")[0]):
            WeightCard.from_dict("m", "v", card)


def test_a_broken_model_card_is_refused_when_registered():
    with pytest.raises(UserError, match="unknown field"):
        kerascnn.register_model("broken_card_net", card={"colour": "red"})(lambda: None)
    assert "broken_card_net" not in list_models()
