"""The layer table (published VGG16/AlexNet totals, nested models) and the memory planner."""

from __future__ import annotations

import math

import keras
import pytest

import kerascnn
from kerascnn.analysis import dtype_size, layer_table, max_batch_size, memory_estimate
from kerascnn.analysis.memory import OPTIMIZER_SLOTS, parse_memory
from kerascnn.errors import UserError

# Tests marked ``backend`` also run on JAX; the others only build big models (slow on JAX,
# where every weight initialiser compiles) and count the same way on every backend.
backend = pytest.mark.backend
L = keras.layers


@pytest.mark.parametrize(
    ("name", "params", "gmacs"),
    [("vgg16", 138_357_544, "15.47"), pytest.param("alexnet", 61_100_840, "0.714", marks=backend)],
)
def test_published_totals(name, params, gmacs):
    """torchvision's published figures: parameters exactly, GMACs to the digits it prints."""
    table = layer_table(kerascnn.create_model(name))
    assert table.total_params == params
    digits = len(gmacs.split(".")[1])
    assert f"{table.total_macs / 1e9:.{digits}f}" == gmacs
    assert table.rows[0].type == "InputLayer" and table.rows[0].output_shape == (224, 224, 3)
    assert table.total_activation_bytes == 4 * table.total_activations


# CS231n's VGG16 table (cs231n.github.io/convolutional-networks): values per layer output,
# input, 2x conv 64, pool, 2x conv 128, pool, 3x conv 256, pool, 3x conv 512, pool,
# 3x conv 512, pool, fc 4096, fc 4096, fc 1000. (Its printed total, 24M, is not their sum.)
CS231N_VGG16 = [150_528, *[3_211_264] * 2, 802_816, *[1_605_632] * 2, 401_408]
CS231N_VGG16 += [*[802_816] * 3, 200_704, *[401_408] * 3, 100_352, *[100_352] * 3, 25_088]
CS231N_VGG16 += [4096, 4096, 1000]


def test_vgg16_activations_match_cs231n_table():
    table = layer_table(kerascnn.create_model("vgg16"), batch_size=2, dtype="float16")
    rows = [r for r in table.rows if r.type not in ("Flatten", "Dropout")]  # not in CS231n's
    assert [r.activations // 2 for r in rows] == CS231N_VGG16
    assert table.total_activation_bytes == 2 * table.total_activations


def _reference_conv_macs(layer, out_shape, in_shape):
    """Textbook counts, from the layer's hyper-parameters (not its kernel)."""
    k = math.prod(layer.kernel_size)
    positions = math.prod(out_shape[:-1])
    if isinstance(layer, L.SeparableConv2D):
        cin = in_shape[-1]
        return positions * (
            k * cin * layer.depth_multiplier + cin * layer.depth_multiplier * layer.filters
        )
    if isinstance(layer, L.DepthwiseConv2D):
        return positions * in_shape[-1] * layer.depth_multiplier * k
    if isinstance(layer, L.Conv2DTranspose):
        return math.prod(in_shape[:-1]) * in_shape[-1] * layer.filters * k
    return positions * layer.filters * k * in_shape[-1] // layer.groups


def test_mac_count_per_layer_type():
    inp = keras.Input((20, 20, 8))
    x = L.Conv2D(12, 3, groups=4, name="grouped")(inp)
    x = L.Conv2D(16, 5, strides=2, padding="same", name="strided")(x)
    x = L.Conv2D(16, 3, dilation_rate=2, padding="same", name="dilated")(x)
    x = L.BatchNormalization(name="bn")(x)
    x = L.DepthwiseConv2D(3, depth_multiplier=2, name="depthwise")(x)
    x = L.SeparableConv2D(10, 3, padding="same", depth_multiplier=3, name="separable")(x)
    x = L.Conv2DTranspose(6, 3, strides=2, name="transposed")(x)
    x = L.Dense(5, name="dense3d")(x)
    model = keras.Model(inp, x)
    table = layer_table(model, batch_size=3)
    rows = {r.name: r for r in table.rows}
    for layer in model.layers[1:]:
        in_shape = tuple(layer.input.shape[1:])
        out_shape = tuple(layer.output.shape[1:])
        row = rows[layer.name]
        assert row.output_shape == out_shape
        assert row.activations == 3 * math.prod(out_shape)
        assert row.params == layer.count_params()
        if isinstance(layer, L.Dense):
            expected = math.prod(out_shape) * in_shape[-1]
        elif isinstance(layer, L.BatchNormalization):
            expected = 0
        else:
            expected = _reference_conv_macs(layer, out_shape, in_shape)
        assert row.macs == 3 * expected, layer.name
    assert table.total_params == model.count_params()


def _mobilenet(size=96):
    return keras.applications.MobileNetV2(
        input_shape=(size, size, 3), alpha=0.35, weights=None, include_top=False
    )


def test_nested_application_is_expanded():
    base = _mobilenet()
    outer = keras.Sequential(
        [keras.Input((96, 96, 3)), base, L.GlobalAveragePooling2D(), L.Dense(7, name="head")]
    )
    table = layer_table(outer)
    inner = layer_table(base)
    names = [r.name for r in table.rows]
    assert f"{base.name}/Conv1" in names and base.name not in names
    assert table.total_params == outer.count_params() == inner.total_params + 1280 * 7 + 7
    assert table.total_macs == inner.total_macs + 1280 * 7
    assert table.total_activations == inner.total_activations + 1280 + 7


def test_mobilenet_v2_matches_paper():
    """Sandler et al. 2018: MobileNetV2 1.0 at 224x224, 300 M multiply-adds, 3.4 M params."""
    model = keras.applications.MobileNetV2(weights=None)
    table = layer_table(model)
    assert abs(table.total_macs - 300e6) < 0.01 * 300e6
    assert table.total_params == model.count_params()


@backend
def test_variable_input_size_needs_a_shape():
    inp = keras.Input((None, None, 3))
    x = L.Conv2D(4, 3, name="conv1")(inp)
    x = L.MaxPooling2D(2)(x)
    x = L.Conv2D(8, 3, padding="same", name="conv2")(x)
    free = keras.Model(inp, L.GlobalAveragePooling2D()(x))
    with pytest.raises(UserError, match="unknown size"):
        layer_table(free)
    table = layer_table(free, input_shape=(34, 30, 3))
    assert table.rows[0].output_shape == (34, 30, 3)
    assert [r.output_shape for r in table.rows[1:3]] == [(32, 28, 4), (16, 14, 4)]
    assert table.total_macs == 32 * 28 * 4 * 27 + 16 * 14 * 8 * 36


@backend
def test_dtype_size():
    assert [dtype_size(d) for d in ("float32", "bfloat16", "float16", "int8", "bool")] == [
        4,
        2,
        2,
        1,
        1,
    ]


@backend
def test_parse_memory():
    assert parse_memory("16GiB") == 16 * 2**30
    assert parse_memory("1.5 GB") == 1_500_000_000
    assert parse_memory("512MiB") == 512 * 2**20
    assert parse_memory(1000) == 1000
    for bad in ("lots", "-1GB", "0", "16 GiBs"):
        with pytest.raises(UserError):
            parse_memory(bad)


@pytest.mark.parametrize("name", sorted(OPTIMIZER_SLOTS))
def test_optimizer_slots_match_keras(name):
    """The planner's slot counts against the variables Keras's optimizers really create."""
    model = kerascnn.create_model("gesture_cnn")
    (cls,) = [getattr(keras.optimizers, a) for a in dir(keras.optimizers) if a.lower() == name]
    optimizer = cls()
    optimizer.build(model.trainable_variables)
    slot_bytes = sum(
        math.prod(v.shape) * dtype_size(v.dtype) for v in optimizer.variables if len(v.shape)
    )
    assert memory_estimate(model, 1, name).optimizer_state == slot_bytes
    assert memory_estimate(model, 1, optimizer).optimizer_state == slot_bytes


@backend
def test_optimizer_options_add_slots():
    model = kerascnn.create_model("gesture_cnn")
    grads = memory_estimate(model, 1, "sgd").gradients
    assert memory_estimate(model, 1, keras.optimizers.SGD(momentum=0.9)).optimizer_state == grads
    assert (
        memory_estimate(model, 1, keras.optimizers.Adam(amsgrad=True)).optimizer_state == 3 * grads
    )
    with pytest.raises(UserError, match="unknown optimizer"):
        memory_estimate(model, 1, "adamm")


@backend
def test_estimate_parts_and_batch_scaling():
    model = kerascnn.create_model("gesture_cnn")
    one, eight = memory_estimate(model, 1), memory_estimate(model, 8)
    params = model.count_params()
    assert one.gradients == 4 * params  # no frozen weights in this model
    assert 0 <= one.weights - 4 * params <= 64  # + the dropout's random seed state
    assert one.optimizer_state == 2 * one.gradients
    assert eight.activations == 8 * one.activations
    assert eight.total == one.weights + one.gradients + one.optimizer_state + eight.activations
    mixed = memory_estimate(model, 8, "adam", "mixed_float16")
    assert mixed.activations * 2 == eight.activations
    assert mixed.weights == eight.weights + 2 * params
    with pytest.raises(UserError, match="mixed_precision"):
        memory_estimate(model, 8, "adam", "float16")


@backend
def test_model_built_under_a_mixed_policy():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        mixed = kerascnn.create_model("gesture_cnn")
    finally:
        keras.config.set_dtype_policy("float32")
    table = layer_table(mixed)
    conv = next(r for r in table.rows if r.type == "Conv2D")
    assert conv.activation_bytes == 2 * conv.activations
    plain = kerascnn.create_model("gesture_cnn")
    built, asked = memory_estimate(mixed, 4), memory_estimate(plain, 4, "adam", "mixed_float16")
    assert built.weights == asked.weights and built.gradients == asked.gradients
    assert 0.9 * asked.activations <= built.activations <= 1.1 * asked.activations


@backend
def test_frozen_weights_have_no_gradients():
    model = kerascnn.create_model("gesture_cnn")
    for layer in model.layers[:-1]:
        layer.trainable = False
    estimate = memory_estimate(model, 4, "adam")
    head = model.layers[-1].count_params()
    assert estimate.gradients == 4 * head and estimate.optimizer_state == 8 * head
    assert 0 <= estimate.weights - 4 * model.count_params() <= 64


def test_max_batch_size_is_the_largest_that_fits():
    model = kerascnn.create_model("gesture_cnn")
    budget = "64MiB"
    n = max_batch_size(model, budget, "adam")
    assert memory_estimate(model, n).total <= parse_memory(budget)
    assert memory_estimate(model, n + 1).total > parse_memory(budget)
    with pytest.raises(UserError, match="even a batch of 1"):
        max_batch_size(kerascnn.create_model("vgg16"), "1GiB")
