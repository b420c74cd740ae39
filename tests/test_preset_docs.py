"""docs/examples/gesture_cnn-sign-digits/: the model card `kerascnn zoo push` wrote for the
bundled gesture_cnn:sign-digits is exactly what its metadata.json renders to, and (slow, with
the data) its accuracy is what kerascnn measures today."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kerascnn.weights.model_card import render_card
from tests.conftest import REPO

EXAMPLE = REPO / "docs" / "examples" / "gesture_cnn-sign-digits"
URI = "hf://kerascnn/gesture-cnn-sign-digits"


def test_the_docs_card_is_rendered_from_its_metadata():
    meta = json.loads((EXAMPLE / "metadata.json").read_text(encoding="utf-8"))
    assert (EXAMPLE / "README.md").read_text(encoding="utf-8") == render_card(meta, URI)
    assert "docs/examples/gesture_cnn-sign-digits" not in json.dumps(meta)  # no local paths
    hub_md = (REPO / "docs" / "hub.md").read_text(encoding="utf-8")
    top1, errors = meta["accuracy"]["top1"], meta["accuracy"]["errors"]
    assert f"{top1:.2f}% top-1 on the {meta['accuracy']['images']} held-out test photos" in hub_md
    assert f"{errors} errors" in hub_md
    shown = hub_md.split("~~~~markdown\n", 1)[1].split("~~~~\n", 1)[0]
    assert shown == (EXAMPLE / "README.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_docs_card_is_what_push_writes_today(data_dir: Path, tmp_path: Path):
    from kerascnn.publish import push

    images = data_dir / "sign-language-digits" / "images"
    result = push("gesture_cnn:sign-digits", URI, local_dir=tmp_path / "p", upload=False,
                  data=images)  # fmt: skip
    old = json.loads((EXAMPLE / "metadata.json").read_text(encoding="utf-8"))
    new = result.metadata
    for key in ("accuracy", "classes", "weights_sha256", "parameter_count", "split", "training"):
        assert new[key] == old[key], key
