"""Registry-driven model tests: every registered model builds, runs, saves and reloads.

Marked ``backend``: the README's test command runs them again under JAX.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import kerascnn
from kerascnn.layers import AdaptiveAveragePooling, LocalResponseNormalization
from kerascnn.transfer.head import find_feature_layer

pytestmark = pytest.mark.backend

ZOO = kerascnn.list_models()


def _tiny(name: str) -> dict:
    """The smallest input the model accepts, and few classes."""
    card = kerascnn.get_model_card(name)
    side = card.min_input_size
    return {"input_shape": (side, side, card.input_shape[2]), "classes": 3}


def _images(shape, n=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, size=(n, *shape)).astype("float32")


@pytest.mark.parametrize("name", ZOO)
def test_builds_runs_and_round_trips(name, tmp_path):
    kwargs = _tiny(name)
    model = kerascnn.create_model(name, **kwargs)
    x = _images(kwargs["input_shape"])
    y = np.asarray(model.predict(x, verbose=0))
    assert y.shape == (2, 3)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)  # softmax head
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects
    np.testing.assert_allclose(np.asarray(loaded.predict(x, verbose=0)), y, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ZOO)
def test_card_matches_default_build(name):
    card = kerascnn.get_model_card(name)
    model = kerascnn.create_model(name)
    assert model.count_params() == card.params
    assert tuple(model.input_shape[1:]) == tuple(card.input_shape)
    assert model.output_shape == (None, card.classes)
    assert model.get_layer(card.feature_layer) is not None


@pytest.mark.parametrize("name", ZOO)
@pytest.mark.parametrize("pooling", [None, "avg", "max"])
def test_headless_and_pooling(name, pooling):
    kwargs = _tiny(name)
    del kwargs["classes"]
    model = kerascnn.create_model(name, include_top=False, pooling=pooling, **kwargs)
    features = kerascnn.create_model(name, **kwargs).get_layer(
        kerascnn.get_model_card(name).feature_layer
    )
    channels = features.output.shape[-1]
    assert model.output_shape[-1] == channels
    assert len(model.output_shape) == (4 if pooling is None else 2)


def test_vgg16_and_alexnet_have_the_published_sizes():
    assert kerascnn.create_model("vgg16").count_params() == 138_357_544
    alex = kerascnn.create_model("alexnet")
    assert alex.count_params() == 61_100_840
    assert alex.get_layer("pool5").output.shape[1:] == (6, 6, 256)
    assert alex.get_layer("conv1").output.shape[1:] == (55, 55, 64)


def test_vgg16_layer_names_match_keras_applications():
    ours = kerascnn.create_model("vgg16")
    theirs = keras.applications.VGG16(weights=None)
    weighted = [layer.name for layer in ours.layers if layer.weights]
    assert weighted == [layer.name for layer in theirs.layers if layer.weights]
    assert [w.shape for w in ours.weights] == [w.shape for w in theirs.weights]
    names = [layer.name for layer in ours.layers]
    for layer in theirs.layers[1:]:
        assert layer.name in names


def test_gesture_cnn_is_small_and_rescales_inside():
    model = kerascnn.create_model("gesture_cnn")
    assert model.count_params() <= 1_000_000
    assert model.layers[1].name == "rescaling"


@pytest.mark.parametrize("name", ["alexnet", "alexnet_cifar"])
def test_lrn_and_batch_norm_variants(name, tmp_path):
    kwargs = _tiny(name)
    lrn = {"lrn": True} if name == "alexnet" else {"norm": "lrn"}
    bn = {"batch_norm": True} if name == "alexnet" else {"norm": "bn"}
    with_lrn = kerascnn.create_model(name, **kwargs, **lrn)
    assert any(isinstance(layer, LocalResponseNormalization) for layer in with_lrn.layers)
    with_bn = kerascnn.create_model(name, **kwargs, **bn)
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in with_bn.layers)
    path = tmp_path / "lrn.keras"
    with_lrn.save(path)
    x = _images(kwargs["input_shape"])
    np.testing.assert_allclose(
        keras.saving.load_model(path).predict(x, verbose=0),
        with_lrn.predict(x, verbose=0),
        rtol=1e-5,
    )


def test_lrn_matches_the_paper_formula():
    x = np.random.default_rng(1).normal(size=(2, 3, 3, 7)).astype("float32")
    layer = LocalResponseNormalization(depth_radius=2, bias=2.0, alpha=1e-2, beta=0.75)
    ours = np.asarray(layer(x))
    expected = np.empty_like(x)
    for c in range(7):
        lo, hi = max(0, c - 2), min(7, c + 3)
        expected[..., c] = x[..., c] / (2.0 + 1e-2 * (x[..., lo:hi] ** 2).sum(-1)) ** 0.75
    np.testing.assert_allclose(ours, expected, rtol=1e-5)


@pytest.mark.parametrize(
    ("name", "kwargs", "needle"),
    [
        ("vgg16", {"input_shape": (16, 16, 3)}, "(16, 16, 3)"),
        ("vgg16", {"classes": 0}, "got 0"),
        ("alexnet", {"classes": -3}, "got -3"),
        ("alexnet", {"input_shape": (224, 224)}, "(224, 224)"),
        ("gesture_cnn", {"pooling": "mean"}, "'mean'"),
        ("alexnet_cifar", {"norm": "layer"}, "'layer'"),
        ("alexnet_cifar", {"early_pool": "yes"}, "'yes'"),
        ("alexnet_cifar", {"activation": "tanh"}, "'tanh'"),
        ("alexnet_cifar", {"head_scale": -1.0}, "-1.0"),
        ("vgg16", {"include_top": "yes"}, "'yes'"),
        ("gesture_cnn", {"weights": "nonexistent-variant"}, "'nonexistent-variant'"),
    ],
)
def test_invalid_arguments_raise_value_error_naming_the_value(name, kwargs, needle):
    with pytest.raises(ValueError) as err:
        kerascnn.create_model(name, **kwargs)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_alexnet_cifar_early_pool_moves_each_stage_pool_after_its_first_conv():
    args = {"filters": (8, 16), "kernel_size": 3, "convs_per_stage": 2, "dense": ()}
    late = kerascnn.create_model("alexnet_cifar", classes=10, **args)
    early = kerascnn.create_model("alexnet_cifar", classes=10, early_pool=True, **args)
    assert early.count_params() == late.count_params()  # the same weights, fewer pixels

    def after(model, name):
        names = [layer.name for layer in model.layers]
        return names[names.index(name) + 1]

    assert [after(early, f"stage{s}_conv1_pool") for s in (1, 2)] == [
        "stage1_conv2", "stage2_conv2"
    ]  # fmt: skip
    assert after(late, "stage1_pool") == "stage2_conv1"
    # a new head starts after the last stage's last convolution, not after its early pool
    assert find_feature_layer(early) == "stage2_conv2_relu"
    assert early.get_layer("stage1_conv2").output.shape[1:3] == (16, 16)
    assert late.get_layer("stage1_conv2").output.shape[1:3] == (32, 32)
    late.set_weights(early.get_weights())  # same layer names and shapes: weights interchange
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    assert early.predict(x, verbose=0).shape == (2, 10)


def test_alexnet_cifar_head_scale_divides_the_logits_and_gelu_names_its_layers():
    args = {"filters": (8,), "kernel_size": 3, "dense": (), "global_pool": "max"}
    plain = kerascnn.create_model("alexnet_cifar", classes=3, classifier_activation=None, **args)
    scaled = kerascnn.create_model(
        "alexnet_cifar", classes=3, classifier_activation=None, head_scale=1 / 9,
        activation="gelu", **args,
    )  # fmt: skip
    assert "head_scale" in [layer.name for layer in scaled.layers]
    assert "head_scale" not in [layer.name for layer in plain.layers]
    assert "stage1_conv1_gelu" in [layer.name for layer in scaled.layers]
    scaled.set_weights(plain.get_weights())  # a stateless layer: the same weights
    scaled.get_layer("predictions").bias.assign(np.zeros(3))
    plain.get_layer("predictions").bias.assign(np.zeros(3))
    x = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    features = keras.Model(plain.input, plain.get_layer("global_pool").output).predict(x, verbose=0)
    gelu_features = keras.Model(scaled.input, scaled.get_layer("global_pool").output)
    kernel = plain.get_layer("predictions").kernel.numpy()
    np.testing.assert_allclose(plain.predict(x, verbose=0), features @ kernel, rtol=1e-4)
    np.testing.assert_allclose(  # the GELU net's features, divided by 9, times the same kernel
        scaled.predict(x, verbose=0), gelu_features.predict(x, verbose=0) @ kernel / 9,
        rtol=1e-4, atol=1e-6,
    )  # fmt: skip


@pytest.mark.parametrize(("size_in", "size_out"), [(13, 6), (6, 6), (1, 6), (4, 6), (9, 4)])
def test_adaptive_pooling_uses_torch_bins(size_in, size_out):
    x = np.random.default_rng(2).normal(size=(1, size_in, size_in + 1, 2)).astype("float32")
    got = np.asarray(AdaptiveAveragePooling(size_out)(x))
    assert got.shape == (1, size_out, size_out, 2)

    def bins(n, m):
        return [(i * n // m, -(-(i + 1) * n // m)) for i in range(m)]

    for i, (h0, h1) in enumerate(bins(size_in, size_out)):
        for j, (w0, w1) in enumerate(bins(size_in + 1, size_out)):
            np.testing.assert_allclose(got[0, i, j], x[0, h0:h1, w0:w1].mean((0, 1)), rtol=1e-5)


@pytest.mark.parametrize("name", ZOO)
def test_card_minimum_input_is_the_builders(name):
    side = kerascnn.get_model_card(name).min_input_size - 1
    with pytest.raises(ValueError, match="too small"):
        kerascnn.create_model(name, input_shape=(side, side, 3))


def test_gesture_cnn_minimum_follows_its_filters():
    from kerascnn.zoo.gesture import _min_input_size, gesture_cnn

    default = _min_input_size(gesture_cnn.__kwdefaults__["filters"])
    assert default == kerascnn.get_model_card("gesture_cnn").min_input_size
    model = kerascnn.create_model("gesture_cnn", filters=(8, 8), input_shape=(4, 4, 3))
    assert model.get_layer("block2_pool").output.shape[1:3] == (1, 1)
    with pytest.raises(ValueError, match="at least 4"):
        kerascnn.create_model("gesture_cnn", filters=(8, 8), input_shape=(3, 3, 3))
