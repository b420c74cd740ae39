"""What a training run uses: the zoo card's ``"training"`` entry (found by the model's recipe
to learn well; other models get :data:`GENERIC`), each flag or ``fit`` argument replacing one
value. The resolved settings go to the run folder's ``args.json``."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeGuard

from kerascnn.errors import UserError
from kerascnn.training.flips import ALTERNATE

if TYPE_CHECKING:
    import keras

    from kerascnn.training.config import TrainConfig

log = logging.getLogger("kerascnn.training")

__all__ = [
    "GENERIC", "augmenter", "build_optimizer", "check_bn_lr_mult", "check_regularisers",
    "check_schedule", "loss_and_metrics", "resolve_settings",
]  # fmt: skip

GENERIC: dict[str, Any] = {
    "epochs": 10,
    "batch_size": 32,
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "schedule": "constant",
    "warmup_epochs": 0,
    "weight_decay": None,
    "bn_lr_mult": 1.0,
    "label_smoothing": 0.0,
    "augmentation": {},
    "model_args": {},
}


def resolve_settings(model: object, config: TrainConfig) -> dict[str, Any]:
    """``config`` as a dict with every ``None`` filled in: from the zoo card's ``training`` entry
    (for a zoo name), else :data:`GENERIC`; ``model_args`` and ``augmentation`` given are merged
    into the card's key by key."""
    settings = dict(GENERIC)
    if isinstance(model, str):
        from kerascnn.registry import get_model_card
        from kerascnn.weights.cards import parse_spec

        settings.update(get_model_card(parse_spec(model)[0]).training)
    settings = {k: dict(v) if isinstance(v, dict) else v for k, v in settings.items()}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name in ("model_args", "augmentation") and isinstance(value, Mapping):
            value = {**settings.get(f.name, {}), **value}
        if value is not None or f.name not in settings:
            settings[f.name] = value
    settings["model_args"] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in settings["model_args"].items()
    }
    return settings


def _learning_rate(
    settings: dict[str, Any], steps_per_epoch: int
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    import keras

    rate, schedule = settings["learning_rate"], settings["schedule"]
    total = settings["epochs"] * steps_per_epoch
    warmup = int(settings.get("warmup_epochs") or 0) * steps_per_epoch
    if schedule == "cosine":
        if warmup:
            return keras.optimizers.schedules.CosineDecay(
                0.0, max(1, total - warmup), warmup_target=rate, warmup_steps=warmup
            )
        return keras.optimizers.schedules.CosineDecay(rate, total)
    if schedule == "triangular":
        from kerascnn.training.schedules import Triangular

        check_schedule(settings)
        return Triangular(rate, warmup, total)
    if schedule not in (None, "constant"):
        raise UserError(f"unknown schedule {schedule!r}; use 'constant', 'cosine' or 'triangular'")
    return rate


def build_optimizer(
    settings: dict[str, Any], steps_per_epoch: int, model: keras.Model | None = None
) -> keras.optimizers.Optimizer:
    """The optimizer of ``settings``: a Keras name, ``{"name": ..., **options}`` or an instance.

    With ``model`` and a ``bn_lr_mult`` other than 1, a ``keras.optimizers.MultiOptimizer``
    trains the model's batch-norm variables at that multiple of the rate (airbench's 64x for
    batch-norm biases), their weight decay per step unchanged.
    """
    optimizer = _plain_optimizer(settings, steps_per_epoch)
    return _with_bn_rate(optimizer, model, settings.get("bn_lr_mult", 1.0))


def _plain_optimizer(settings: dict[str, Any], steps_per_epoch: int) -> keras.optimizers.Optimizer:
    import keras

    spec = settings["optimizer"]
    if isinstance(spec, keras.optimizers.Optimizer):
        return spec
    if callable(spec):
        return spec(_learning_rate(settings, steps_per_epoch))
    options = dict(spec) if isinstance(spec, dict) else {"name": spec}
    name = options.pop("name", None)
    try:
        cls = type(keras.optimizers.get(name))
    except ValueError:
        raise UserError(f"unknown optimizer {name!r}; use a Keras name, e.g. 'adam'") from None
    if settings.get("weight_decay"):
        options["weight_decay"] = settings["weight_decay"]
    return cls(learning_rate=_learning_rate(settings, steps_per_epoch), **options)


def _with_bn_rate(
    optimizer: keras.optimizers.Optimizer, model: keras.Model | None, mult: float | None
) -> keras.optimizers.Optimizer:
    """``optimizer``, or a ``MultiOptimizer`` that trains ``model``'s batch-norm variables
    ``mult`` times as fast (their decay per step unchanged)."""
    import keras

    from kerascnn.training.batchnorm import batch_norm_layers
    from kerascnn.training.schedules import any_path, scaled_optimizer

    check_bn_lr_mult(mult)
    if mult is None or float(mult) == 1.0 or model is None:
        return optimizer
    if isinstance(optimizer, keras.optimizers.MultiOptimizer | keras.optimizers.LossScaleOptimizer):
        raise UserError(
            f"bn_lr_mult needs a plain Keras optimizer, got a {type(optimizer).__name__}; "
            "pass the optimizer it wraps, or leave bn_lr_mult at 1"
        )
    paths = [v.path for layer in batch_norm_layers(model) for v in layer.trainable_weights]
    if not paths:
        log.warning("bn_lr_mult=%g: the model has no trainable batch norm; one rate for all", mult)
        return optimizer
    mapping = keras.optimizers.OptimizerMap(optimizer)
    fast = scaled_optimizer(optimizer, float(mult), same_decay=True)
    mapping[any_path(paths)] = fast
    return keras.optimizers.MultiOptimizer(mapping, name=f"{optimizer.name}_bn_x{mult:g}")


def check_schedule(settings: dict[str, Any]) -> None:
    """A ``UserError`` for a triangular schedule whose warm-up takes every epoch."""
    epochs, warmup = settings["epochs"], int(settings.get("warmup_epochs") or 0)
    if settings["schedule"] == "triangular" and warmup >= epochs:
        raise UserError(
            f"warmup_epochs ({warmup}) must be fewer than epochs ({epochs}) for the "
            "triangular schedule; lower warmup_epochs"
        )


def _is_number(value: object) -> TypeGuard[float]:
    """A real number (NumPy's too), not a bool."""
    from numbers import Real

    return isinstance(value, Real) and not isinstance(value, bool)


def check_bn_lr_mult(mult: object) -> None:
    """A ``UserError`` unless ``mult`` is ``None`` or a positive number."""
    import math

    if mult is None:
        return
    if not (_is_number(mult) and math.isfinite(mult) and mult > 0):
        raise UserError(f"bn_lr_mult must be a number above 0, got {mult!r}; give one, e.g. 64")


def check_regularisers(weight_decay: object, label_smoothing: object) -> None:
    """A ``UserError`` unless ``weight_decay`` is unset or a number >= 0 and
    ``label_smoothing`` unset or a number in [0, 1)."""
    for name, value, high, bound, fix in (
        ("weight_decay", weight_decay, float("inf"), ">= 0", "e.g. 5e-4, or 0 for none"),
        ("label_smoothing", label_smoothing, 1.0, "in [0, 1)", "e.g. 0.1, or 0 for none"),
    ):
        if value is not None and not (_is_number(value) and 0 <= value < high):
            raise UserError(f"{name} must be a number {bound}, got {value!r}; {fix}")


def loss_and_metrics(
    label_smoothing: float,
) -> tuple[keras.losses.Loss, list[keras.metrics.Metric]]:
    """Cross-entropy on integer labels, or on one-hot labels when smoothing them."""
    import keras

    if label_smoothing:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
        return loss, [keras.metrics.CategoricalAccuracy(name="accuracy")]
    loss = keras.losses.SparseCategoricalCrossentropy()
    return loss, [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]


def _layer_by_name(path: str, options: object) -> keras.layers.Layer:
    """``"keras_cv.layers.GridMask"`` -> that layer, built with ``options`` (a dict) or none."""
    import importlib

    module, _, name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        extra = " (pip install 'kerascnn[cv]')" if path.startswith("keras_cv") else ""
        raise UserError(f"--augment {path}: {exc}; install it{extra}") from None
    except AttributeError:
        raise UserError(f"--augment {path}: {module} has no {name!r}; check the name") from None
    return cls(**options) if isinstance(options, dict) else cls()


def augmenter(spec: dict[str, Any], seed: int | None) -> keras.Sequential | None:
    """The training augmentation of ``spec``: ``classic_augmentation`` arguments (no flip
    unless asked), then layers named by import path (e.g. keras-cv's); None when empty."""
    import inspect

    import keras

    from kerascnn.layers import classic_augmentation

    classic = {"flip": False, **{k: v for k, v in spec.items() if "." not in k}}
    if classic["flip"] == ALTERNATE:  # the feeds mirror in turn (kerascnn.training.flips)
        classic["flip"] = False
    elif not isinstance(classic["flip"], bool):
        raise UserError(
            f"augmentation flip must be true, false or {ALTERNATE!r}, got {classic['flip']!r}; "
            "use one of those"
        )
    known = set(inspect.signature(classic_augmentation).parameters) - {"seed"}
    unknown = sorted(set(classic) - known)
    if unknown:
        raise UserError(
            f"unknown augmentation {', '.join(map(repr, unknown))}; use flip, pad, pad_mode, "
            "crop, translation, zoom, rotation, brightness, contrast, noise, or a layer's "
            "import path"
        )
    named = [_layer_by_name(k, v) for k, v in spec.items() if "." in k and v]
    if not any(v for k, v in classic.items() if k != "pad_mode") and not named:
        return None
    try:
        steps = [classic_augmentation(**classic, seed=seed), *named]
    except ValueError as exc:  # e.g. pad_mode="wrap"
        reason = str(exc).splitlines()[0]
        raise UserError(f"augmentation {classic}: {reason}; fix that value") from None
    return keras.Sequential(steps, name="training_augmentation")
