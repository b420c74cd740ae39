"""``kerascnn.training.fit``: train a zoo model (or any Keras model) on any Keras backend.

A run is one or more :class:`Phase` s (``fit`` has one; ``kerascnn.transfer.finetune`` two),
each with its own trainable layers and optimizer, over one epoch count. Given an output folder
(``kerascnn.training.run``) it backs up every ``save_freq`` steps, and rerunning the same call
after a crash resumes at the step where it stopped, in whichever phase that was.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from kerascnn.errors import UserError, renamed_argument
from kerascnn.training.config import TrainConfig
from kerascnn.training.result import Phase, TrainResult

if TYPE_CHECKING:
    import keras

    from kerascnn.training.backends import Strategy
    from kerascnn.training.data import ImageFolder
    from kerascnn.training.plan import Plan

__all__ = ["Phase", "TrainResult", "fit", "model_image_size", "run_phases"]

log = logging.getLogger("kerascnn.training")
#: What :func:`fit` trains: a zoo spec, a ``keras.Model`` or a builder of one.
FitModel: TypeAlias = "str | keras.Model | Callable[[], keras.Model]"


def model_image_size(
    model: FitModel, image_size: Sequence[int] | None, model_args: Mapping[str, Any]
) -> tuple[int, int]:
    """(height, width): ``image_size``, else the model's ``input_shape`` argument, card or input."""
    if image_size is not None:
        return int(image_size[0]), int(image_size[1])
    if isinstance(model, str):
        from kerascnn.registry import get_model_card
        from kerascnn.weights.cards import parse_spec

        shape = model_args.get("input_shape")
        shape = shape or get_model_card(parse_spec(model)[0]).input_shape
        if shape:
            return int(shape[0]), int(shape[1])
    shape = getattr(model, "input_shape", None)
    if shape and shape[1] and shape[2]:
        return int(shape[1]), int(shape[2])
    raise UserError("cannot tell the model's input size; give it with --image-size H W")


def _builder(
    model: FitModel, classes: int, size: tuple[int, int], args: dict
) -> Callable[[], keras.Model]:
    import keras

    if isinstance(model, str):
        from kerascnn.resolve import load
        from kerascnn.weights.cards import parse_spec

        args = {"classes": classes, "input_shape": (*size, 3), **args}
        if parse_spec(model)[1] is None:  # a bare name trains from random initial weights
            args.setdefault("weights", None)
        return lambda: load(model, **args).model
    if isinstance(model, keras.Model):
        from kerascnn.training.plan import copy_model

        return lambda: copy_model(model)  # variables in the strategy's scope
    if callable(model):
        return model
    raise UserError(
        f"model must be a zoo name, a keras.Model or a builder, got {model!r}; e.g. 'gesture_cnn'"
    )


def _label(model: FitModel) -> str:
    """How ``args.json`` names the model: a zoo spec, a Keras model's name, a builder's."""
    if isinstance(model, str):
        return model
    if hasattr(model, "layers") and hasattr(model, "name"):
        return f"keras.Model {model.name}"
    if type(model).__repr__ is not object.__repr__ and not hasattr(model, "__qualname__"):
        return repr(model)  # a builder object that says what it builds
    name = getattr(model, "__qualname__", type(model).__name__)
    return f"{getattr(model, '__module__', '?')}.{name}"


def _train_data(
    data: str | os.PathLike[str] | ImageFolder | None,
    model: FitModel | None,
    config: TrainConfig,
    args: dict,
) -> ImageFolder:
    from kerascnn.training.data import ImageFolder, image_folder

    if isinstance(data, ImageFolder):
        return data
    if isinstance(data, str | os.PathLike):
        size = model_image_size(model, config.image_size, args)
        return image_folder(data, size, config.validation_split, config.seed,
                            test_split=config.test_split)  # fmt: skip
    raise UserError(
        f"data must be a folder path or a kerascnn.training.data.ImageFolder, got {data!r}; "
        "give a folder of class sub-folders"
    )


def check_numbers(**values: Any) -> None:
    """Positive numbers (a schedule object as a learning rate is left to Keras)."""
    for name, value in values.items():
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and not value > 0 or (name != "learning_rate" and not number):
            raise UserError(f"{name} must be a positive number, got {value!r}; give one above 0")


def fit(
    model: FitModel | None = None,
    data: str | os.PathLike[str] | ImageFolder | None = None,
    config: TrainConfig | None = None,
    *,
    output_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    force: bool = False,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = "auto",
    **settings: Any,
) -> TrainResult:
    """Train ``model`` on ``data`` and return a :class:`TrainResult`.

    Args:
        model: a zoo name (built with ``model_args``, from random initial weights; a
            ``NAME:VARIANT`` starts from those weights), a ``keras.Model`` or a builder
            (``model_or_name=``: deprecated).
        data: a folder of class sub-folders or a ``kerascnn.training.data.ImageFolder``.
        config: a :class:`TrainConfig`; ``**settings`` replace its fields (``epochs=3``, ...).
        output_dir: the run folder (``kerascnn.training.run``); the same call again resumes.
        resume: train a finished run in ``output_dir`` further (more epochs).
        force: delete the run already in ``output_dir`` (or write into a folder of other files).
        callbacks: more Keras callbacks.
        verbose: ``"auto"``: a live bar at a terminal, else one line an epoch; 0: silent.
    """
    from kerascnn.training.backends import resolve_devices
    from kerascnn.training.settings import (
        augmenter,
        build_optimizer,
        check_bn_lr_mult,
        check_regularisers,
        check_schedule,
        resolve_settings,
    )

    model = renamed_argument("kerascnn.fit", "model_or_name", model, settings)
    data = renamed_argument("kerascnn.fit", "data", data, {}, "data")
    config = (config or TrainConfig()).replace(**settings)
    resolved = resolve_settings(model, config)
    strategy = resolve_devices(config.strategy)  # first: multi-worker must start before TF ops
    check_numbers(epochs=resolved["epochs"], batch_size=resolved["batch_size"],
                   learning_rate=resolved["learning_rate"])  # fmt: skip
    check_bn_lr_mult(resolved["bn_lr_mult"])
    check_regularisers(resolved["weight_decay"], resolved["label_smoothing"])
    check_schedule(resolved)
    model_args = resolved["model_args"]
    if isinstance(model, str):  # unknown arguments fail here, not after the data
        from kerascnn.registry import check_builder_args
        from kerascnn.weights.cards import parse_spec

        check_builder_args(parse_spec(model)[0], model_args)
    augmenter(resolved["augmentation"], config.seed)  # bad names fail here
    folder = _train_data(data, model, config, model_args)
    build = _builder(model, len(folder.class_names), folder.image_size, model_args)

    def prepare(net: keras.Model, steps: int) -> keras.optimizers.Optimizer:
        return build_optimizer(resolved, steps, net)

    phases = [Phase("train", resolved["epochs"], prepare)]
    return run_phases(build, folder, resolved, phases, strategy=strategy, output_dir=output_dir,
                      resume=resume, force=force, callbacks=callbacks, verbose=verbose,
                      args={"model": _label(model)})  # fmt: skip


def run_phases(
    build: Callable[[], keras.Model],
    folder: ImageFolder,
    settings: dict[str, Any],
    phases: Sequence[Phase],
    *,
    strategy: Strategy,
    output_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    force: bool = False,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = "auto",
    preprocessing: str = "none",
    args: dict[str, Any] | None = None,
    first: Callable[[keras.Model, Plan], None] | None = None,
) -> TrainResult:
    """Train the model of ``build()`` on ``folder`` through ``phases``: the engine behind
    :func:`fit` and ``finetune``.

    Args:
        build: makes the model (called seeded, in the strategy's scope).
        folder: a ``kerascnn.training.data.ImageFolder``.
        settings: resolved settings (``settings.resolve_settings``).
        phases: the :class:`Phase` s, in order.
        strategy: from ``backends.resolve_devices``.
        output_dir, resume, force, callbacks, verbose: as :func:`fit`.
        preprocessing: applied to every batch after augmentation (``kerascnn.preprocessing``).
        args: more entries for ``args.json`` (e.g. the model's name).
        first: ``first(model, plan)`` runs once before a run that does not resume (AdaBN).
    """
    from kerascnn.training import loop

    if len(folder.class_names) < 2:
        raise UserError(
            f"{folder.root}: found {len(folder.class_names)} class folder(s); training needs "
            "at least 2, add another class folder"
        )
    epochs = sum(p.epochs for p in phases)
    plan = loop.plan_run(strategy, folder, settings, epochs, output_dir, resume, force)
    if plan.finished:
        return loop.finished_result(plan, phases, preprocessing)
    try:
        return loop.train(build, plan, settings, phases, callbacks, verbose, preprocessing,
                          {**(args or {}), "data": str(folder.root)}, first)  # fmt: skip
    except UserError:  # found before training (or a diverged run): leave nothing new behind
        if plan.run is not None and plan.weights is None:
            plan.run.remove_new(backup=True)
        raise
