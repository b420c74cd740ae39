"""Transfer learning: head swap, feature layers, freezing and batch norm, blocks."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

import kerascnn
from kerascnn.errors import UserError
from kerascnn.transfer import (
    block_of,
    blocks,
    find_feature_layer,
    freeze,
    swap_head,
    unfreeze,
)

pytestmark = pytest.mark.backend  # runs on JAX too

# Small versions of every zoo model (random weights) with the layer their card names.
ZOO = {
    "alexnet_cifar": ({}, "stage3_pool"),
    "gesture_cnn": ({"filters": (4, 8, 8, 8), "hidden": 16}, "block4_pool"),
    "vgg16": ({"include_top": False, "input_shape": (32, 32, 3)}, "block5_pool"),
    "vgg16_bn": ({"include_top": False, "input_shape": (32, 32, 3)}, "block5_pool"),
    "alexnet": ({"include_top": False, "input_shape": (63, 63, 3)}, "pool5"),
}


def _tensorflow_only():
    if keras.backend.backend() != "tensorflow":  # same code path; MobileNetV2 builds slowly here
        pytest.skip("keras.applications models are tested on TensorFlow")


def _images(model, n=4, seed=0):
    shape = model.input_shape[1:]
    return np.random.default_rng(seed).uniform(0, 255, (n, *shape)).astype("float32")


def _weights(model, names):
    return {n: [w.numpy().copy() for w in model.get_layer(n).weights] for n in names}


def test_zoo_list_is_covered():
    assert set(ZOO) == set(kerascnn.list_models())


@pytest.mark.parametrize("name", sorted(ZOO))
def test_swap_head_on_every_zoo_model(name):
    kwargs, feature = ZOO[name]
    model = kerascnn.create_model(name, **kwargs)
    assert find_feature_layer(model) == feature == kerascnn.get_model_card(name).feature_layer
    names = [la.name for la in model.layers]
    backbone = names[: names.index(feature) + 1]
    before = _weights(model, backbone)
    new = swap_head(model, 7, hidden=(12,), dropout=0.25)
    new_names = [la.name for la in new.layers]
    assert new_names == [*backbone, "head_flatten", "head_fc1", "head_dropout", "predictions"]
    assert new.output_shape == (None, 7)
    assert "fc1" not in new_names  # the old classifier is gone
    for layer_name, arrays in before.items():
        for got, want in zip(new.get_layer(layer_name).weights, arrays, strict=True):
            np.testing.assert_array_equal(got.numpy(), want)
    x = _images(new, 2)
    feats = keras.Model(new.input, new.get_layer(feature).output)(x)
    np.testing.assert_allclose(feats, keras.Model(model.input, model.get_layer(feature).output)(x))
    probs = keras.ops.convert_to_numpy(new(x))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_swap_head_pooling_copy_and_renamed_model():
    model = kerascnn.get_model_builder("alexnet_cifar")(name="renamed")
    # the card cannot be found by name: the last 4-D layer is the same one
    assert find_feature_layer(model) == "stage3_pool"
    avg = swap_head(model, 3, pooling="avg", dropout=0.0)
    assert [la.name for la in avg.layers[-2:]] == ["head_avg_pool", "predictions"]
    assert avg.get_layer("predictions").kernel.shape == (256, 3)
    top = swap_head(model, 3, pooling="max", feature_layer="stage2_pool", copy=True)
    assert top.get_layer("head_max_pool").input.shape[-1] == 128
    assert top.get_layer("stage1_conv1") is not model.get_layer("stage1_conv1")
    assert avg.get_layer("stage1_conv1") is model.get_layer("stage1_conv1")  # shared by default


def test_swap_head_on_keras_applications_and_nested_models():
    _tensorflow_only()
    app = keras.applications.MobileNetV2(
        weights=None, input_shape=(32, 32, 3), alpha=0.35, classes=5
    )
    assert find_feature_layer(app) == "out_relu"
    new = swap_head(app, 3, pooling="avg")
    assert new.output_shape == (None, 3) and "predictions" in [la.name for la in new.layers]
    np.testing.assert_array_equal(
        new.get_layer("Conv1").kernel.numpy(), app.get_layer("Conv1").kernel.numpy()
    )
    base = keras.Sequential(
        [keras.Input((16, 16, 3)), layers.Conv2D(4, 3, name="c1"), layers.MaxPooling2D(name="p1")],
        name="base",
    )
    outer = keras.Sequential(
        [keras.Input((16, 16, 3)), base, layers.GlobalAveragePooling2D(), layers.Dense(9)]
    )
    assert find_feature_layer(outer) == "base"
    new = swap_head(outer, 4, dropout=0.0)
    assert [la.name for la in new.layers][-3:] == ["base", "head_flatten", "predictions"]
    assert new.get_layer("predictions").kernel.shape == (7 * 7 * 4, 4)


def test_swap_head_errors():
    inputs = keras.Input((10,))
    mlp = keras.Model(inputs, layers.Dense(3)(layers.Dense(5)(inputs)), name="mlp")
    with pytest.raises(UserError, match="cannot find where the classifier of mlp starts"):
        swap_head(mlp, 3)
    model = kerascnn.create_model("alexnet_cifar")
    with pytest.raises(UserError, match="no layer 'stage9_pool'; valid names: .*stage3_pool"):
        swap_head(model, 3, feature_layer="stage9_pool")
    for bad in (1, 0, "3", True):
        with pytest.raises(UserError, match="classes must be an integer of at least 2"):
            swap_head(model, bad)
    with pytest.raises(UserError, match="pooling"):
        swap_head(model, 3, pooling="mean")
    with pytest.raises(UserError, match="index 99 is out of range"):
        swap_head(model, 3, feature_layer=99)


def test_blocks_by_name_prefix():
    assert [block_of(n) for n in ("block5_conv1", "stage3_pool", "conv5_block3_out")] == [
        "block5",
        "stage3",
        "conv5",
    ]
    assert block_of("pool5") == "pool5" and block_of("block_16_project") == "block_16"
    model = swap_head(kerascnn.create_model("vgg16", include_top=False, input_shape=(32, 32, 3)), 2)
    assert [name for name, _ in blocks(model)] == [f"block{i}" for i in range(1, 6)]


def _bn_model():
    # alexnet_cifar with batch norm, a new head; no dropout so steps are deterministic
    return swap_head(kerascnn.create_model("alexnet_cifar", filters=(8, 8, 8)), 3, dropout=0.0)


def _step(model, seed=1):
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    # pixels in [0, 1]: raw [0, 255] through un-fitted batch norm saturates the softmax
    model.train_on_batch(_images(model, 8, seed) / 255, np.arange(8) % 3)


def test_frozen_backbone_and_batchnorm_stay_put():
    model = _bn_model()
    freeze(model)
    assert all(
        not la.trainable
        for la in model.layers[: model.layers.index(model.get_layer("stage3_pool")) + 1]
    )
    names = ["stage1_conv1", "stage1_conv1_bn", "stage3_conv1_bn", "predictions"]
    before = _weights(model, names)
    _step(model)
    after = _weights(model, names)
    for name in names[:-1]:  # kernels and BN moving statistics unchanged
        for a, b in zip(before[name], after[name], strict=True):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(before["predictions"][0], after["predictions"][0])
    # frozen BN runs in inference mode: training=True gives the same output
    x = _images(model, 4)
    np.testing.assert_allclose(model(x, training=True), model(x, training=False), rtol=1e-5)


def test_unfreeze_top_blocks_keeps_batchnorm_in_inference_mode():
    model = _bn_model()
    freeze(model)
    unfreeze(model, "top-1-blocks")
    trainable = {la.name for la in model.layers if la.trainable and la.weights}
    assert trainable == {"stage3_conv1", "predictions"}
    names = ["stage2_conv1", "stage3_conv1", "stage3_conv1_bn"]
    before = _weights(model, names)
    _step(model)
    after = _weights(model, names)
    for a, b in zip(before["stage3_conv1_bn"], after["stage3_conv1_bn"], strict=True):
        np.testing.assert_array_equal(a, b)  # gamma, beta, moving mean/variance
    np.testing.assert_array_equal(before["stage2_conv1"][0], after["stage2_conv1"][0])
    assert not np.array_equal(before["stage3_conv1"][0], after["stage3_conv1"][0])
    unfreeze(model)  # everything but batch norm
    assert {la.name for la in model.layers if la.weights and not la.trainable} == {
        "stage1_conv1_bn",
        "stage2_conv1_bn",
        "stage3_conv1_bn",
    }
    unfreeze(model, keep_batchnorm_frozen=False)
    assert all(la.trainable for la in model.layers)


def test_unfreeze_nested_backbone_keeps_its_batchnorm_frozen():
    _tensorflow_only()
    base = keras.applications.MobileNetV2(
        weights=None, include_top=False, input_shape=(32, 32, 3), alpha=0.35
    )
    outer = keras.Sequential([keras.Input((32, 32, 3)), base, layers.GlobalAveragePooling2D()])
    model = swap_head(outer, 2)
    freeze(model)
    assert not base.trainable and not any(w.trainable for w in base.weights)
    unfreeze(model, "mobilenetv2_0.35_32")
    bns = [la for la in base.layers if isinstance(la, layers.BatchNormalization)]
    assert bns and not any(la.trainable for la in bns)
    assert base.get_layer("Conv1").trainable


def test_freeze_errors_list_valid_names():
    model = _bn_model()
    with pytest.raises(UserError, match=r"no layer 'stage4'; valid names: .*stage1_conv1, "):
        freeze(model, up_to="stage4")
    with pytest.raises(UserError, match="no layer 'nope'"):
        unfreeze(model, "nope")
    with pytest.raises(UserError, match=r"has 3 blocks with weights \(stage1, stage2, stage3\)"):
        unfreeze(model, "top-4-blocks")
    freeze(model, up_to=2)
    assert [la.trainable for la in model.layers[:4]] == [False, False, False, True]


@pytest.mark.backend
def test_adapt_batch_norm_sets_the_statistics_of_the_new_data():
    from kerascnn.transfer import adapt_batch_norm

    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(3, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(4, 3, name="conv2")(x)
    x = keras.layers.BatchNormalization(name="bn2")(x)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    model.get_layer("bn1").trainable = False  # frozen layers are adapted too, and stay frozen
    weights = [np.asarray(w) for w in model.trainable_weights]
    rng = np.random.default_rng(0)
    data = [(rng.normal(3.0, 2.0, (8, 6, 6, 2)).astype("float32"), None) for _ in range(3)]
    assert adapt_batch_norm(model, data) == 2
    # bn1 sees conv's outputs: its statistics are the mean over batches of the batch values
    conv = keras.Model(inputs, model.get_layer("conv").output)
    outs = [np.asarray(conv(x)) for x, _ in data]
    bn1 = model.get_layer("bn1")
    mean = np.mean([o.mean(axis=(0, 1, 2)) for o in outs], axis=0)
    var = np.mean([o.var(axis=(0, 1, 2)) for o in outs], axis=0)
    np.testing.assert_allclose(np.asarray(bn1.moving_mean), mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(bn1.moving_variance), var, rtol=1e-3, atol=1e-5)
    assert float(np.abs(np.asarray(model.get_layer("bn2").moving_mean)).max()) > 0
    assert not bn1.trainable and bn1.momentum == 0.99
    for before, after in zip(weights, model.trainable_weights, strict=True):
        np.testing.assert_array_equal(before, np.asarray(after))
    assert adapt_batch_norm(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), []) == 0
    # no batches: nothing changes; max_batches=1: the first batch's own statistics
    before = np.asarray(bn1.moving_mean).copy()
    assert adapt_batch_norm(model, []) == 0
    np.testing.assert_array_equal(np.asarray(bn1.moving_mean), before)
    assert adapt_batch_norm(model, data, max_batches=1) == 2
    first = outs[0].mean(axis=(0, 1, 2))
    np.testing.assert_allclose(np.asarray(bn1.moving_mean), first, rtol=1e-4, atol=1e-5)
    for bad in (0, -1, 2.0, True):
        with pytest.raises(UserError, match="max_batches must be a positive integer or None"):
            adapt_batch_norm(model, data, max_batches=bad)
