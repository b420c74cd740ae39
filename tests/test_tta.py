"""Test-time augmentation: ``tta=`` of evaluate, predict and export, ``--tta`` of the CLI.

On real photos: the bundled examples (sign-language digits) always, the first CIFAR-10 test
JPEGs of each class where ``../shared/data`` has them. Model-building tests are marked
``backend`` (run again under ``KERAS_BACKEND=jax``); the export tests need onnxruntime.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner

import kerascnn
from kerascnn import tta as test_time
from kerascnn.cli.main import cli
from kerascnn.deploy.exporter import example_photos
from kerascnn.errors import UserError
from kerascnn.images import prepare_images
from kerascnn.predict import classify
from kerascnn.probabilities import probabilities
from tests.conftest import DATA

GESTURE = "gesture_cnn:sign-digits"
CIFAR_SPEC = "alexnet_cifar:cifar10"
CIFAR = DATA / "cifar10-jpeg" / "cifar10-jpeg.zip"
backend = pytest.mark.backend
BACKEND = keras.backend.backend()


def _cifar_photos(per_class: int = 1) -> list[np.ndarray]:
    if not CIFAR.is_file():
        pytest.skip(f"CIFAR-10 JPEGs not found at {CIFAR} (set KERASCNN_DATA)")
    from kerascnn.deploy.calibration import zip_images

    return list(zip_images(CIFAR, "test", per_class))


def _photos(spec: str) -> list:
    return example_photos() if spec == GESTURE else _cifar_photos()


def _matrix(rows: list) -> np.ndarray:
    """Predictions of every class (``top`` = all) back into an ``N x classes`` matrix."""
    out = np.zeros((len(rows), len(rows[0])))
    for i, row in enumerate(rows):
        for p in row:
            out[i, p.index] = p.probability
    return out


def _keras(spec: str, photos: list, flip: bool = False) -> np.ndarray:
    loaded = kerascnn.load(spec)
    x = loaded.preprocess(prepare_images(photos, loaded.input_size, loaded.crop)[1])
    x = x[:, :, ::-1] if flip else x
    return probabilities(loaded.model.predict(np.ascontiguousarray(x), verbose=0))


def test_views_are_mirrors_and_reflect_padded_translations():
    x = np.random.default_rng(0).uniform(0, 255, (2, 7, 9, 3))

    def moved(a: np.ndarray, d: int) -> np.ndarray:  # content moved down-right by d
        padded = np.pad(a, [(0, 0), (2, 2), (2, 2), (0, 0)], mode="reflect")
        return padded[:, 2 - d : 9 - d, 2 - d : 11 - d]

    mirror = x[:, :, ::-1]
    expected = {"none": [x], "flip": [x, mirror]}
    d = test_time.SHIFT
    expected["flip+shift"] = [x, mirror, moved(x, d), moved(x, d)[:, :, ::-1], moved(x, -d),
                              moved(x, -d)[:, :, ::-1]]  # fmt: skip
    for mode, views in expected.items():
        seen = []
        test_time.average(lambda v, seen=seen: seen.append(v) or np.ones((len(v), 1)), x, mode)
        assert len(seen) == len(views)
        for got, want in zip(seen, views, strict=True):
            np.testing.assert_array_equal(got, want)
    assert test_time.resolve(None, "flip") == "flip" and test_time.resolve("none", "flip") == "none"
    with pytest.raises(UserError, match="unknown test-time augmentation 'flop'; use one of"):
        test_time.resolve("flop", None)


@backend
@pytest.mark.parametrize("spec", [GESTURE, CIFAR_SPEC])
def test_flip_is_the_mean_of_the_photo_and_its_mirror(spec):
    photos = _photos(spec)
    rows, used = classify(spec, photos, top=10, tta="flip")
    assert used == "flip"
    want = (_keras(spec, photos) + _keras(spec, photos, flip=True)) / 2
    np.testing.assert_allclose(_matrix(rows), want, atol=1e-6)
    assert not np.allclose(_keras(spec, photos), want, atol=1e-3)  # the mirror changes them


@backend
@pytest.mark.parametrize("mode", ["flip", "flip+shift"])
def test_tta_probabilities_are_distributions(mode):
    rows = kerascnn.predict(GESTURE, example_photos(), top=10, tta=mode)
    probs = _matrix(rows)
    assert probs.min() >= 0
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)


def _symmetric_model() -> keras.Model:
    """Logits of a convolution whose kernels are their own mirrors, averaged over the image:
    the same for an image and its mirror."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((24, 24, 3))
    conv = keras.layers.Conv2D(4, 3, activation="relu")
    x = keras.layers.Dense(5)(keras.layers.GlobalAveragePooling2D()(conv(inputs)))
    model = keras.Model(inputs, x)
    kernel, bias = conv.get_weights()
    conv.set_weights([(kernel + kernel[:, ::-1]) / 2, bias])
    return model


@backend
def test_a_mirror_symmetric_model_is_the_same_with_and_without_flip():
    model = _symmetric_model()
    photos = example_photos()
    plain = _matrix(kerascnn.predict(model, photos, top=5, tta="none"))
    flipped = _matrix(kerascnn.predict(model, photos, top=5, tta="flip"))
    np.testing.assert_allclose(flipped, plain, atol=1e-6)
    np.testing.assert_allclose(plain.sum(axis=1), 1.0, atol=1e-6)  # logits: softmax per view


@backend
@pytest.mark.parametrize("mode", test_time.MODES)
def test_the_keras_layers_compute_the_views_and_their_mean(mode, tmp_path):
    from kerascnn.layers import MeanOfViews, TestTimeViews

    model = _symmetric_model()
    inputs = keras.Input((24, 24, 3))
    probs = keras.layers.Softmax()(model(TestTimeViews(mode)(inputs)))
    wrapped = keras.Model(inputs, MeanOfViews(mode)([probs, inputs]))
    x = prepare_images(example_photos(), (24, 24))[1]
    x[:, :, :5] = 0  # an image that is not its own mirror
    want = test_time.average(lambda v: probabilities(model.predict(v, verbose=0)), x, mode)
    np.testing.assert_allclose(wrapped.predict(x, verbose=0), want, atol=1e-6)
    wrapped.save(tmp_path / "tta.keras")  # serialisable: reloads with its views
    again = keras.saving.load_model(tmp_path / "tta.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), want, atol=1e-6)


def _digit_folder(root: Path) -> Path:
    """The bundled example photos as a folder of class folders (2, 5, 9)."""
    for photo in example_photos():
        digit = Path(photo).stem.rsplit("_", 1)[-1]
        (root / digit).mkdir(parents=True)
        shutil.copy(photo, root / digit)
    return root


@pytest.fixture
def card_with_flip(monkeypatch):
    """The sign-digits card with ``"tta": "flip"``, as a card that turns TTA on."""
    weights = kerascnn.get_model_card("gesture_cnn").weights
    monkeypatch.setitem(weights, "sign-digits", dataclasses.replace(weights["sign-digits"],
                                                                    tta="flip"))  # fmt: skip


@backend
def test_the_card_default_applies_and_none_turns_it_off(tmp_path, card_with_flip):
    data = _digit_folder(tmp_path / "digits")
    assert kerascnn.evaluate(GESTURE, data).tta == "flip"
    assert kerascnn.evaluate(GESTURE, data, tta="none").tta == "none"
    assert kerascnn.evaluate(GESTURE, data, tta="flip+shift").tta == "flip+shift"
    photos = example_photos()
    by_default, used = classify(GESTURE, photos, top=10)
    assert used == "flip"
    np.testing.assert_allclose(_matrix(by_default), _matrix(classify(GESTURE, photos, top=10,
                                                                     tta="flip")[0]))  # fmt: skip
    off, used = classify(GESTURE, photos, top=10, tta="none")
    assert used == "none"
    np.testing.assert_allclose(_matrix(off), _keras(GESTURE, photos), atol=1e-6)
    text = CliRunner().invoke(cli, ["predict", GESTURE, photos[0]]).output
    assert (
        "test-time augmentation: flip (the mean of the probabilities of the image and its "
        "horizontal mirror; the weights' default; --tta none turns it off)" in text
    )


def test_cards_name_a_known_mode():
    from kerascnn.weights.cards import card_problems

    raw = {"tta": "mirror", "classes": ["a"]}
    assert "m:v: tta must be one of ('none', 'flip', 'flip+shift')" in card_problems("m", "v", raw)
    assert not [p for p in card_problems("m", "v", {"tta": "flip"}) if "tta" in p]
    assert all(card.tta in (None, *test_time.MODES) for name in kerascnn.list_models()
               for card in kerascnn.get_model_card(name).weights.values())  # fmt: skip


@backend
def test_cli_evaluate_and_predict_say_which_tta(tmp_path):
    data = str(_digit_folder(tmp_path / "digits"))
    run = CliRunner().invoke
    shown = run(cli, ["evaluate", GESTURE, "--data", data, "--tta", "flip"])
    assert shown.exit_code == 0, shown.output
    assert "test-time augmentation: flip (the mean of the probabilities" in shown.output
    assert "; --tta)" in shown.output
    report = json.loads(run(cli, ["evaluate", GESTURE, "--data", data, "--json"]).output)
    assert report["tta"] == "none" and report["count"] == 3  # no card default here
    photo = example_photos()[0]
    rows = json.loads(run(cli, ["predict", GESTURE, photo, "--tta", "flip+shift", "--json"]).output)
    assert rows[0]["tta"] == "flip+shift"
    want = kerascnn.predict(GESTURE, [photo], tta="flip+shift")[0]
    assert [p["label"] for p in rows[0]["predictions"]] == [p.label for p in want]
    shown = run(cli, ["predict", GESTURE, photo])
    assert "test-time augmentation: none\n" in shown.output


def _requires_onnx() -> None:
    if BACKEND not in ("tensorflow", "jax"):
        pytest.skip(f"ONNX export needs the tensorflow or jax backend, not {BACKEND}")
    pytest.importorskip("onnxruntime", reason="ONNX export needs onnxruntime (the export extra)")


@backend
def test_an_onnx_export_with_tta_computes_the_keras_tta(tmp_path, card_with_flip):
    _requires_onnx()
    from kerascnn.deploy.embed import read_embedded
    from kerascnn.deploy.formats import FORMATS, sidecars

    out = tmp_path / "hands.onnx"
    result = CliRunner().invoke(cli, ["export", GESTURE, "-f", "onnx", "-o", str(out), "--tta",
                                      "flip", "--input-dtype", "float32"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "test-time augmentation baked in: flip" in result.output
    sidecar = sidecars(out, FORMATS["onnx"])[1]
    assert read_embedded(out, "onnx")["tta"] == json.loads(sidecar.read_text())["tta"] == "flip"
    photos = example_photos()
    keras_rows, _ = classify(GESTURE, photos, top=10, tta="flip")
    onnx_rows, used = classify(str(out), photos, top=10)  # its graph computes the views
    assert used == "flip"
    np.testing.assert_allclose(_matrix(onnx_rows), _matrix(keras_rows), atol=1e-4)
    with pytest.raises(UserError, match="computes flip test-time augmentation itself"):
        classify(str(out), photos, tta="none")


@backend
def test_an_export_without_tta_runs_its_views_at_predict_time(tmp_path, card_with_flip):
    _requires_onnx()
    out = tmp_path / "plain.onnx"
    result = kerascnn.export(GESTURE, "onnx", out, input_dtype="float32")
    assert result.metadata["tta"] == "none" and result.card_tta == "flip"  # not baked in
    photos = example_photos()
    rows, used = classify(str(out), photos, top=10, tta="flip+shift")
    assert used == "flip+shift"
    want = classify(GESTURE, photos, top=10, tta="flip+shift")[0]
    np.testing.assert_allclose(_matrix(rows), _matrix(want), atol=1e-4)
    shown = CliRunner().invoke(cli, ["export", GESTURE, "-f", "onnx", "-o", str(out), "--force"])
    assert "not baked in: the flip test-time augmentation the weights' card" in shown.output
