"""Published variants: download on first use, cache, verify, load; classes follow the card.

No test reaches the internet: the real cards' URLs go to a server on 127.0.0.1 through
``KERASCNN_MIRROR``, which serves files the tests make in the published formats. As
those files are not the published ones, each test sets the card's hash and size to
its own file's (``served``, in tests/weight_fixtures.py).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import kerascnn
from kerascnn.errors import WeightsUnavailableError
from tests.h5_legacy import write_legacy_h5
from tests.http_server import server_fixture  # noqa: F401  (fixture)
from tests.weight_fixtures import served_fixture, tiny_net_fixture  # noqa: F401  (fixtures)


def test_keras_variant_downloads_once_then_loads_offline(served, server, tmp_path, monkeypatch):
    keras.utils.set_random_seed(2)
    reference = keras.applications.VGG16(include_top=False, weights=None)
    path = write_legacy_h5(reference, tmp_path / "notop.h5")
    served("vgg16", "imagenet-notop", path.read_bytes())
    x = np.random.default_rng(0).uniform(-120, 130, size=(1, 64, 64, 3)).astype("float32")
    expected = keras.Model(reference.input, reference.output).predict(x, verbose=0)
    model = kerascnn.create_model(
        "vgg16", weights="imagenet-notop", include_top=False, input_shape=(64, 64, 3)
    )
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-4)
    assert len(server.requests) == 1
    monkeypatch.setenv("KERASCNN_OFFLINE", "1")
    again = kerascnn.create_model(
        "vgg16:imagenet-notop", include_top=False, input_shape=(64, 64, 3)
    )
    np.testing.assert_array_equal(
        again.get_layer("block5_conv3").kernel, reference.layers[-2].kernel
    )
    assert len(server.requests) == 1


def test_offline_and_not_cached_says_which_file_and_how_to_import(monkeypatch):
    monkeypatch.setenv("KERASCNN_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError) as err:
        kerascnn.create_model("alexnet", weights="imagenet")
    message = str(err.value)
    assert "alexnet-owt-7be5be79.pth is not in the cache" in message
    assert "KERASCNN_OFFLINE=1" in message
    assert "kerascnn zoo import alexnet:imagenet FILE" in message
    assert "\n" not in message


def test_a_failed_download_is_one_line_naming_the_import_command(server, monkeypatch):
    monkeypatch.setenv("KERASCNN_MIRROR", server.url("/missing"))  # the server answers 404
    with pytest.raises(WeightsUnavailableError) as err:
        kerascnn.create_model("alexnet", weights="imagenet")
    message = str(err.value)
    assert "the download failed" in message and "HTTP 404" in message
    assert "kerascnn zoo import alexnet:imagenet FILE" in message
    assert "\n" not in message


def test_other_classes_with_a_full_top_point_to_swap_head(monkeypatch):
    monkeypatch.setenv("KERASCNN_OFFLINE", "1")  # raised before any download
    with pytest.raises(ValueError, match=r"predict 1000 classes, not 10.*transfer\.swap_head"):
        kerascnn.create_model("vgg16", weights="imagenet", classes=10)
    with pytest.raises(ValueError, match=r"imagenet-notop holds no classifier.*include_top=False"):
        kerascnn.create_model("vgg16", weights="imagenet-notop")


def test_torchvision_variant_is_converted_and_predict_applies_its_preprocessing(served, tmp_path):
    torch = pytest.importorskip("torch")
    from tests.torch_models import AlexNet, randomize

    net = randomize(AlexNet(), seed=5)
    path = tmp_path / "alexnet.pth"
    torch.save(net.state_dict(), path, _use_new_zipfile_serialization=False)
    served("alexnet", "imagenet", path.read_bytes(), prefix=8)  # torchvision's 8-hex prefix

    loaded = kerascnn.load("alexnet:imagenet")  # the model with its card's preprocessing
    assert loaded.model.output_shape == (None, 1000)  # classes follow the card
    assert (loaded.preprocessing, loaded.crop) == ("torch", 0.875)
    # an image whose centre 87.5% is exactly 224x224: no resampling blurs the comparison
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, size=(256, 256, 3)).astype("float32")
    centre = pixels[16:240, 16:240]
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    x = ((centre / 255 - mean) / std).astype("float32").transpose(2, 0, 1)[None]
    with torch.no_grad():
        probs = torch.softmax(net(torch.from_numpy(x)), dim=1).numpy()[0]
    (top,) = kerascnn.predict(loaded, [pixels], top=3)
    names = [p.label for p in top]
    expected = np.argsort(-probs)[:3]
    assert [p.index for p in top] == list(expected)
    np.testing.assert_allclose([p.probability for p in top], probs[expected], rtol=1e-3)
    index = kerascnn.weights.cards.class_names("imagenet")
    assert names == [index[i] for i in expected] and len(index) == 1000
    assert index[0] == "tench" and index[999] == "toilet_tissue"


def test_model_args_and_named_classes_of_a_variant(tiny_net):
    model = kerascnn.create_model("tiny_net:toy")
    assert model.get_layer("conv").filters == 6 and model.output_shape == (None, 3)
    np.testing.assert_array_equal(model.get_layer("conv").kernel, tiny_net.get_layer("conv").kernel)
    assert kerascnn.create_model("tiny_net").output_shape == (None, 2)  # the model's default
    with pytest.raises(ValueError, match=r"tiny_net:toy needs width=6, got width=5"):
        kerascnn.create_model("tiny_net:toy", width=5)
    image = np.random.default_rng(0).uniform(0, 255, (8, 8, 3)).astype("float32")
    (preds,) = kerascnn.predict("tiny_net:toy", image, top=3)
    expected = tiny_net.predict(image[None], verbose=0)[0]
    assert [p.label for p in preds] == [["cat", "dog", "fox"][i] for i in np.argsort(-expected)]
    np.testing.assert_allclose(sorted(p.probability for p in preds), sorted(expected), rtol=1e-5)


def test_include_top_false_prefers_the_notop_file_unless_the_full_one_is_cached(
    served, server, tmp_path
):
    keras.utils.set_random_seed(4)
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    served("vgg16", "imagenet-notop", write_legacy_h5(base, tmp_path / "n.h5").read_bytes())
    served("vgg16", "imagenet", b"the full file is never fetched")
    loaded = kerascnn.load("vgg16:imagenet", include_top=False, input_shape=(32, 32, 3))
    model = loaded.model
    assert [path for path, _ in server.requests] == [
        "/ok/tensorflow/keras-applications/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    ]
    assert loaded.weights_card.variant == "imagenet-notop" and loaded.preprocessing == "caffe"
    np.testing.assert_array_equal(model.get_layer("block1_conv1").kernel, base.layers[1].kernel)


def test_caffe_and_none_preprocessing():
    from kerascnn.preprocessing import preprocess

    pixels = np.random.default_rng(1).uniform(0, 255, (2, 4, 5, 3)).astype("float32")
    expected = pixels[..., ::-1] - np.array([103.939, 116.779, 123.68])
    np.testing.assert_allclose(preprocess(pixels, "caffe"), expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(preprocess(pixels, "none"), pixels)
    np.testing.assert_allclose(preprocess(pixels, "tf"), pixels / 127.5 - 1, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="unknown preprocessing 'inception'"):
        preprocess(pixels, "inception")
