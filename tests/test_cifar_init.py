"""The CIFAR recipe's airbench-style start: identity filters and fixed batch-norm scales."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import kerascnn
from kerascnn.zoo.recipes import alexnet_cifar_cifar10 as recipe
from kerascnn.zoo.recipes.cifar_init import fix_batch_norm_scale, identity_init


def _model() -> keras.Model:
    args = {
        k: tuple(v) if isinstance(v, list) else v for k, v in recipe.RECIPE["model_args"].items()
    }
    return kerascnn.create_model("alexnet_cifar", classes=10, **{**args, "filters": (16, 32, 32)})


def test_identity_init_passes_the_first_channels_through_each_convolution() -> None:
    model = _model()
    whiten = keras.ops.convert_to_numpy(model.get_layer("whiten").kernel).copy()
    assert identity_init(model) == 6  # two convolutions in each of three stages
    np.testing.assert_array_equal(model.get_layer("whiten").kernel, whiten)  # left as it was
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 16)).astype("float32")
    same = keras.ops.convert_to_numpy(model.get_layer("stage2_conv2")(np.tile(x, (1, 1, 1, 2))))
    np.testing.assert_allclose(same, np.tile(x, (1, 1, 1, 2)), atol=1e-6)  # 32 -> 32: identity
    wider = keras.ops.convert_to_numpy(model.get_layer("stage2_conv1")(x))  # 16 -> 32
    np.testing.assert_allclose(wider[..., :16], x, atol=1e-6)
    assert np.abs(wider[..., 16:]).mean() > 0.01  # the extra filters keep their random start


@pytest.mark.backend  # the constraint, through each backend's training step
def test_fixed_batch_norm_scale_stays_one_while_the_shift_trains() -> None:
    model = _model()
    assert fix_batch_norm_scale(model) == 6
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, weight_decay=0.1), loss="categorical_crossentropy"
    )
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(16, 32, 32, 3)).astype("float32")
    model.fit(x, keras.utils.to_categorical(rng.integers(0, 10, 16), 10), epochs=2, verbose=0)
    bn = model.get_layer("stage1_conv1_bn")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(bn.gamma), 1.0)
    assert np.abs(keras.ops.convert_to_numpy(bn.beta)).max() > 0


def test_the_recipe_builder_applies_them_when_the_recipe_asks() -> None:
    from types import SimpleNamespace

    assert recipe.RECIPE["identity_init"] and recipe.RECIPE["fixed_bn_scale"]
    folder = SimpleNamespace(class_names=[str(i) for i in range(10)])
    no_whitening = recipe.with_overrides(recipe.RECIPE, {"model_args": {"whiten": 0}})
    builder = recipe.WhitenedBuilder(no_whitening, folder)
    assert repr(builder) == "alexnet_cifar(classes=10, identity start, batch-norm scale fixed at 1)"
    model = builder()
    kernel = keras.ops.convert_to_numpy(model.get_layer("stage3_conv2").kernel)
    assert kernel[1, 1, 5, 5] == 1.0 and kernel[0, 0, 5, 5] == 0.0
    constraint = model.get_layer("stage3_conv2_bn").gamma.constraint
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(constraint(np.full(3, 2.0))), 1.0)
    off = {"identity_init": False, "fixed_bn_scale": False}
    builder = recipe.WhitenedBuilder(recipe.with_overrides(no_whitening, off), folder)
    assert repr(builder) == "alexnet_cifar(classes=10)"  # args.json's record of the model
    plain = builder()
    assert plain.get_layer("stage3_conv2_bn").gamma.constraint is None
    kernel = keras.ops.convert_to_numpy(plain.get_layer("stage3_conv2").kernel)
    assert kernel[1, 1, 5, 5] != 1.0
