"""Discriminative learning rates: exact per-group updates, tf.distribute, mixed
precision, save/load and BackupAndRestore."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from kerascnn.errors import UserError
from kerascnn.transfer import (
    backbone_multipliers,
    discriminative_optimizer,
    geometric_multipliers,
    swap_head,
)

BACKBONE = ["block1_conv", "block2_conv"]
X = np.random.default_rng(0).uniform(-1, 1, (8, 8, 8, 3)).astype("float32")
Y = np.arange(8) % 3


def _model():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, activation="relu", name="block1_conv")(inputs)
    x = layers.Conv2D(4, 3, activation="relu", name="block2_conv")(x)
    x = layers.MaxPooling2D(name="block2_pool")(x)
    return swap_head(keras.Model(inputs, x, name="toy"), 3, hidden=(5,), dropout=0.0)


def _pair(optimizer, mult, scope):
    """Two identical models after one step: one with the multiplier, one plain."""
    deltas = []
    for discriminative in (True, False):
        with scope():
            model = _model()
            base = keras.optimizers.get({"class_name": optimizer, "config": {"learning_rate": 0.1}})
            if discriminative:
                mults = backbone_multipliers(model, mult)
                assert set(mults) == set(BACKBONE)
                base = discriminative_optimizer(model, mults, optimizer=base)
            model.compile(base, "sparse_categorical_crossentropy")
        before = [w.numpy().copy() for w in model.trainable_weights]
        model.train_on_batch(X, Y)
        deltas.append(
            {w.path: w.numpy() - b for w, b in zip(model.trainable_weights, before, strict=True)}
        )
    return model, deltas


@pytest.mark.parametrize("setting", ["default", "mirrored", "mixed_float16"])
def test_backbone_update_is_multiplier_times_plain_update(setting):
    scope = tf.distribute.get_strategy().scope
    if setting == "mirrored":
        scope = tf.distribute.MirroredStrategy(["/cpu:0"]).scope
    if setting == "mixed_float16":
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model, (ours, plain) = _pair("sgd", 0.1, scope)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    opt = model.optimizer
    if setting == "mixed_float16":
        assert isinstance(opt, keras.optimizers.LossScaleOptimizer)
    assert set(ours) == set(plain) and len(ours) == 8
    rtol = 1e-2 if setting == "mixed_float16" else 1e-5
    for path, delta in ours.items():
        factor = 0.1 if path.split("/")[0] in BACKBONE else 1.0
        assert np.abs(delta).max() > 0, path
        np.testing.assert_allclose(delta, factor * plain[path], rtol=rtol, atol=1e-7, err_msg=path)


def test_adam_scales_the_learning_rate_not_the_gradient():
    # Adam's first step is about lr * sign(g): scaling gradients would change nothing.
    _, (ours, plain) = _pair("adam", 0.01, tf.distribute.get_strategy().scope)
    for path, delta in ours.items():
        factor = 0.01 if path.split("/")[0] in BACKBONE else 1.0
        np.testing.assert_allclose(delta, factor * plain[path], rtol=1e-3, atol=1e-9)


def test_geometric_spread_across_blocks():
    model = _model()
    assert geometric_multipliers(model, 0.5) == {"block2_conv": 0.5, "block1_conv": 0.25}
    opt = discriminative_optimizer(model, geometric_multipliers(model, 0.5), learning_rate=0.1)
    rates = sorted(float(o.learning_rate.numpy()) for o in opt.optimizers)
    np.testing.assert_allclose(rates, [0.025, 0.05, 0.1])


@pytest.mark.parametrize("factor", [0.7, 1.0])
def test_layerwise_decay_one_sgd_step_per_block(factor):
    """Plain SGD moves each weight by its rate x its gradient: |dw| / |g| is each block's
    rate, the head's ``lr`` and each block below FACTOR times the one above it."""
    model = _model()
    mults = geometric_multipliers(model, factor)
    sgd = keras.optimizers.SGD()  # no momentum
    model.compile(discriminative_optimizer(model, mults, optimizer=sgd, learning_rate=0.1),
                  "sparse_categorical_crossentropy")  # fmt: skip
    with tf.GradientTape() as tape:
        losses = keras.losses.sparse_categorical_crossentropy(Y, model(X, training=True))
        loss = tf.reduce_mean(losses)  # as compile's loss
    grads = tape.gradient(loss, model.trainable_weights)
    before = [w.numpy().copy() for w in model.trainable_weights]
    model.train_on_batch(X, Y)
    rate = {}  # layer -> |dw| / |g| of its kernel
    for w, b, g in zip(model.trainable_weights, before, grads, strict=True):
        if w.path.endswith("kernel"):
            rate[w.path.split("/")[0]] = np.linalg.norm(w.numpy() - b) / np.linalg.norm(g)
    head = [name for name in rate if name not in BACKBONE]
    assert len(head) == 2 and all(rate[name] == pytest.approx(0.1, rel=1e-4) for name in head)
    assert rate["block2_conv"] / rate[head[0]] == pytest.approx(factor, rel=1e-4)
    assert rate["block1_conv"] / rate["block2_conv"] == pytest.approx(factor, rel=1e-4)


def test_save_and_load_keep_the_groups_and_their_state(tmp_path):
    model = _model()
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    opt = discriminative_optimizer(
        model, backbone_multipliers(model, 0.1), optimizer="sgd", learning_rate=schedule
    )
    model.compile(opt, "sparse_categorical_crossentropy")
    model.fit(X, Y, epochs=2, batch_size=4, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.optimizer, keras.optimizers.MultiOptimizer)
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for m in (model, loaded):
        m.train_on_batch(X, Y)
    for a, b in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


class _Crash(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise RuntimeError("simulated crash")


def _compiled():
    model = _model()
    opt = discriminative_optimizer(
        model, backbone_multipliers(model, 0.1), optimizer="adam", learning_rate=0.01
    )
    model.compile(opt, "sparse_categorical_crossentropy")
    return model


def test_backup_and_restore_resumes_exactly(tmp_path):
    fit = {"epochs": 4, "batch_size": 4, "shuffle": False, "verbose": 0}
    straight = _compiled()
    straight.fit(X, Y, **fit)
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    crashed = _compiled()
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashed.fit(X, Y, callbacks=[backup, _Crash()], **fit)
    resumed = _compiled()
    history = resumed.fit(X, Y, callbacks=[backup], **fit)
    assert len(history.epoch) == 2  # epochs 3 and 4 only
    for a, b in zip(straight.weights, resumed.weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7)


def test_errors():
    model = _model()
    with pytest.raises(UserError, match="no layer 'block9'; valid names"):
        discriminative_optimizer(model, {"block9": 0.1})
    with pytest.raises(UserError, match="must be >= 0"):
        discriminative_optimizer(model, {"block1_conv": -1})
    with pytest.raises(UserError, match="decay"):
        geometric_multipliers(model, 2.0)
