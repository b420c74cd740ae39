"""Every weight card of every model follows one schema (kerascnn/cards.py)."""

from __future__ import annotations

import pytest

import kerascnn
from kerascnn.cards import card_problems, class_names
from kerascnn.registry import list_models

ALL = [
    (model, variant)
    for model in list_models()
    for variant in kerascnn.get_model_card(model).get("weights", {})
]


@pytest.mark.parametrize(("model", "variant"), ALL, ids=[f"{m}:{v}" for m, v in ALL])
def test_weight_card_follows_the_schema(model, variant):
    card = kerascnn.get_model_card(model)["weights"][variant]
    assert card_problems(model, variant, card) == []
    assert card["input_shape"][-1] == kerascnn.get_model_card(model)["input_shape"][-1]
    if "file" in card:  # bundled: the file ships in the package
        from kerascnn.cache import cached_path

        assert cached_path(model, variant, card).is_file()


def test_published_cards_carry_the_publishers_figures():
    vgg = kerascnn.get_model_card("vgg16")["weights"]
    assert vgg["imagenet"]["hash"] == "md5:64373286793e3c8b2b4e3219cbf3544b"
    assert vgg["imagenet-notop"]["hash"] == "md5:6d6bbae143d832006294945121d1f1fc"
    assert vgg["imagenet-tv"]["url"].endswith("vgg16-397923af.pth")
    assert vgg["imagenet-tv"]["hash"] == "sha256:397923af"
    alex = kerascnn.get_model_card("alexnet")["weights"]["imagenet"]
    assert alex["url"].endswith("alexnet-owt-7be5be79.pth") and alex["hash"] == "sha256:7be5be79"
    assert (alex["accuracy"]["top1"], alex["accuracy"]["top5"]) == (56.522, 79.066)
    assert len(class_names(alex)) == 1000


def test_the_schema_catches_broken_cards():
    good = dict(kerascnn.get_model_card("alexnet")["weights"]["imagenet"])
    assert card_problems("m", "v", good) == []
    bundled = {**good, "file": "weights/m.weights.h5", "hash": "sha256:7be5be79"}
    del bundled["url"]
    cases = {
        "missing 'license'": {k: v for k, v in good.items() if k != "license"},
        "url must be https": {**good, "url": "http://x.org/w.pth"},
        "hash must be md5": {**good, "hash": "crc32:1234"},
        "format must be one of": {**good, "format": "onnx"},
        "preprocessing must be one of": {**good, "preprocessing": "tf"},
        "unknown field 'colour'": {**good, "colour": "red"},
        "exactly one of 'url'": {**good, "file": "weights/x.h5"},
        "bundled weights need the full sha256": bundled,
        "unknown class index": {**good, "classes": "coco"},
        "size must be int": {**good, "size": "big"},
    }
    for expected, card in cases.items():
        problems = card_problems("m", "v", card)
        assert any(expected in p for p in problems), (expected, problems)
