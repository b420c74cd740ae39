"""Every required dependency is imported by the package; keras-cv is an extra."""

from __future__ import annotations

import ast
import configparser

import pytest

from tests.conftest import REPO

IMPORT_NAMES = {"pillow": "PIL"}


def _requirements(section: str, key: str) -> list[str]:
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    lines = config[section][key].strip().splitlines()
    return [line.split(">")[0].split("=")[0].split("<")[0].strip() for line in lines if line]


def _imported() -> set[str]:
    found = set()
    for folder in ("kerascnn", "cli", "zoo"):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.add(node.module.split(".")[0])
    return found


def test_every_required_dependency_is_imported():
    imported = _imported()
    unused = [r for r in _requirements("options", "install_requires")
              if IMPORT_NAMES.get(r, r).replace("-", "_") not in imported]  # fmt: skip
    assert not unused, f"required but never imported: {unused}"


def test_keras_cv_is_an_extra_not_a_requirement():
    assert "keras-cv" not in _requirements("options", "install_requires")
    assert "keras-cv" in _requirements("options.extras_require", "cv")


def test_keras_cv_layers_train_by_name(tmp_path):
    pytest.importorskip("keras_cv")
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("keras-cv augmentation runs on the TensorFlow backend")
    import json

    from click.testing import CliRunner

    from kerascnn.cli.main import cli
    from tests.image_folders import make_image_folder

    data = make_image_folder(tmp_path / "d", classes=2, per_class=4, size=16)
    result = CliRunner().invoke(cli, [
        "train", "gesture_cnn", "--data", str(data), "--epochs", "1", "--image-size", "16", "16",
        "--arg", "filters=[4]", "--augment", "keras_cv.layers.GridMask",
        "--output", str(tmp_path / "run"),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    args = json.loads((tmp_path / "run" / "args.json").read_text())
    assert args["augmentation"]["keras_cv.layers.GridMask"] is True
