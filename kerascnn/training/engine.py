"""``kerascnn.train.fit``: train a zoo model (or any Keras model) on any Keras backend.

Given an output folder (``kerascnn.training.run``) it backs up every ``save_freq`` steps,
and rerunning the same call after a crash resumes at the step where it stopped.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kerascnn.errors import UserError

__all__ = ["MIXED_PRECISION", "fit", "model_image_size", "resolve_jit_compile"]

DEFAULT_SAVE_FREQ = 500  # steps between mid-epoch backups (and one at every epoch end)
PRECISE_BN_STEPS = 50  # precise_bn="auto": re-estimate batch norm below this many steps an epoch
MIXED_PRECISION = {None: None, "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}
_SETTINGS = ("epochs", "batch_size", "optimizer", "learning_rate", "schedule", "warmup_epochs",
             "weight_decay", "label_smoothing", "augmentation", "model_args")  # fmt: skip


def resolve_jit_compile(jit_compile: bool | str) -> bool:
    """``"auto"``: XLA on TensorFlow GPUs (on CPU ``benchmarks/jit_compile_cpu.py`` measured it
    slower), always on JAX (``jax.jit``), never on torch (``torch.compile`` warm-up)."""
    if jit_compile != "auto":
        return bool(jit_compile)
    import keras

    if keras.backend.backend() != "tensorflow":
        return keras.backend.backend() == "jax"
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def model_image_size(
    model_or_name: Any, image_size: Any, model_args: dict[str, Any]
) -> tuple[int, int]:
    """(height, width): ``image_size``, else the model's ``input_shape`` argument, card or input."""
    if image_size is not None:
        return int(image_size[0]), int(image_size[1])
    if isinstance(model_or_name, str):
        from kerascnn.registry import get_model_card
        from kerascnn.weights.cards import parse_spec

        shape = model_args.get("input_shape")
        shape = shape or get_model_card(parse_spec(model_or_name)[0]).input_shape
        if shape:
            return int(shape[0]), int(shape[1])
    shape = getattr(model_or_name, "input_shape", None)
    if shape and shape[1] and shape[2]:
        return int(shape[1]), int(shape[2])
    raise UserError("cannot tell the model's input size; pass image_size=(height, width)")


def _build_model(model_or_name: Any, classes: int, size: tuple[int, int], args: dict) -> Any:
    import keras

    if isinstance(model_or_name, str):
        from kerascnn.resolve import load

        args = {"classes": classes, "input_shape": (*size, 3), **args}
        return load(model_or_name, **args).model
    if isinstance(model_or_name, keras.Model):
        clone = keras.models.clone_model(model_or_name)  # variables in the strategy's scope
        clone.set_weights(model_or_name.get_weights())
        return clone
    if callable(model_or_name):
        return model_or_name()
    raise UserError(
        f"model must be a zoo name, a keras.Model or a builder, got {model_or_name!r}; "
        "e.g. 'gesture_cnn'"
    )


def _train_data(data: Any, model: Any, image_size: Any, args: dict, split: float, seed: int) -> Any:
    from kerascnn.training.data import ImageFolder, image_folder

    if isinstance(data, ImageFolder):
        return data
    if isinstance(data, str | os.PathLike):
        return image_folder(data, model_image_size(model, image_size, args), split, seed)
    raise UserError(
        f"data must be a folder path or a kerascnn.training.data.ImageFolder, got {data!r}; "
        "give a folder of class sub-folders"
    )


def _augmentation(spec: dict[str, Any], seed: int | None, strategy: Any) -> Any:
    """The training augmentation; each process of a multi-process run draws its own."""
    from kerascnn.training.backends import process_index
    from kerascnn.training.settings import augmenter

    return augmenter(spec, seed if seed is None else seed + process_index(strategy))


def _check_numbers(**values: Any) -> None:
    """Positive numbers (a schedule object as a learning rate is left to Keras)."""
    for name, value in values.items():
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and not value > 0 or (name != "learning_rate" and not number):
            raise UserError(f"{name} must be a positive number, got {value!r}; give one above 0")


@dataclass
class _Plan:
    """What one run does: its strategy, batches, output and where it resumes."""

    strategy: Any
    folder: Any
    global_batch: int
    steps: int
    chief: bool
    run: Any = None  # kerascnn.training.run.RunFolder, or None
    backup_dir: Path | None = None
    weights: str | None = None  # the backup's weights file, when resuming
    start: tuple[int, int] = (0, 0)  # the (epoch, step) where training starts
    scratch: Path | None = None
    augment: Any = None  # the training augmentation (a Keras model), or None
    callbacks: list[Any] = field(default_factory=list)


def _plan(strategy: Any, folder: Any, batch_size: int, output_dir: Any, epochs: int, resume: bool,
          force: bool = False) -> _Plan:  # fmt: skip
    from kerascnn.training.backends import is_chief, worker_id
    from kerascnn.training.callbacks import read_backup
    from kerascnn.training.run import RunFolder

    global_batch = int(batch_size) * strategy.num_replicas_in_sync
    steps = max(1, math.ceil(folder.count("train") / global_batch))
    plan = _Plan(strategy, folder, global_batch, steps, is_chief(strategy))
    if output_dir is None:
        return plan
    plan.run = RunFolder(output_dir).check(force=force, resumable=True)
    out = plan.run.path
    plan.backup_dir = out / "backup" if plan.chief else out / "backup" / worker_id(strategy)
    state = read_backup(plan.backup_dir)
    if state:
        plan.weights, plan.start = state["weights"], (state["epoch"], state["step"])
        if state["finished"] and not resume and state["epoch"] < epochs:
            raise UserError(
                f"{out} holds a finished run of {state['epoch']} epochs; "
                "pass resume=True (--resume) to train it further, or use another output folder"
            )
    if plan.start[0] >= epochs:
        raise UserError(f"{out} has already trained {plan.start[0]} epochs; ask for more epochs")
    return plan


def _compile(plan: _Plan, model_or_name: Any, model_args: dict, opt: dict, batch_size: int):
    """Build and compile the model in the strategy's scope; restore a backup if resuming."""
    import keras

    from kerascnn.training.settings import build_optimizer, loss_and_metrics

    folder, strategy = plan.folder, plan.strategy
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(MIXED_PRECISION[opt["mixed_precision"]] or previous_policy)
    keras.utils.set_random_seed(opt["seed"])  # initial weights, dropout: the same run every time
    try:
        with strategy.scope():
            model = _build_model(
                model_or_name, len(folder.class_names), folder.image_size, model_args
            )
            loss, metrics = loss_and_metrics(opt["label_smoothing"])
            model.compile(
                optimizer=build_optimizer(opt, plan.steps),
                loss=loss,
                metrics=metrics,
                jit_compile=resolve_jit_compile(opt["jit_compile"]),
            )
            if keras.backend.backend() == "tensorflow":
                _tf_workarounds(strategy, model, folder.image_size, batch_size)
            if plan.weights:
                model.optimizer.build(model.trainable_variables)
                model.load_weights(plan.backup_dir / plan.weights)
                epoch, step = plan.start
                print(f"resuming at epoch {epoch + 1}, step {step} of {plan.steps}")
    finally:
        keras.config.set_dtype_policy(previous_policy)
    return model


def _tf_workarounds(strategy: Any, model: Any, image_size: tuple, batch_size: int) -> None:
    import tensorflow as tf

    from kerascnn.training.distribute import fix_multiworker_reduce, prebuild

    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        fix_multiworker_reduce()
    if tf.distribute.has_strategy():  # in a non-default strategy's scope
        prebuild(model, image_size, batch_size)


def _importable(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _output_callbacks(plan: _Plan, save_freq: int | None, verbose: Any) -> Any:
    """Backups, best model, history and TensorBoard logs of a run with an output folder."""
    import keras

    from kerascnn.training import callbacks as cb
    from kerascnn.training.run import RunFolder

    run = plan.run
    if plan.chief:
        run.write_split(plan.folder.to_json())
        run.write_metadata(plan.folder.class_names)
    else:  # other workers keep their files out of the run folder
        plan.scratch = Path(tempfile.mkdtemp(prefix="kerascnn-worker-"))
        run = RunFolder(plan.scratch)
    every = save_freq or (DEFAULT_SAVE_FREQ if plan.steps > DEFAULT_SAVE_FREQ else "epoch")
    backup = cb.TrainingBackup(plan.backup_dir, every)
    monitor = "val_loss" if plan.folder.files["validation"] else "loss"
    plan.callbacks += [backup, cb.BestModel(run / "best.keras", monitor), cb.RunHistory(run)]
    if _importable("tensorboard") and _importable("tensorflow"):  # Keras' callback uses tf
        plan.callbacks.append(keras.callbacks.TensorBoard(str(run / "logs")))
    elif verbose and plan.chief:
        print("no TensorBoard logs: pip install tensorboard (or kerascnn[tensorboard])")
    return backup


def _precise_bn(requested: bool | str, steps: int, model: Any) -> bool:
    """Whether to re-estimate batch norm after training; ``"auto"``: has it, < 50 steps."""
    import keras

    from kerascnn.transfer.freezing import walk_layers

    has_bn = any(isinstance(la, keras.layers.BatchNormalization) for la in walk_layers(model))
    if requested == "auto":
        return has_bn and steps < PRECISE_BN_STEPS
    if requested and not has_bn:
        raise UserError(
            f"{model.name} has no BatchNormalization layers; drop precise_bn=True (--precise-bn)"
        )
    return bool(requested)


def _reestimate_batch_norm(model: Any, plan: _Plan, batch_size: int, verbose: Any) -> None:
    """Precise BN: batch-norm moving statistics become their average over the training images
    (one un-augmented pass): with few steps an epoch the moving averages lag the weights."""
    from kerascnn.training.feeds import bn_batches
    from kerascnn.transfer.batchnorm import adapt_batch_norm

    with plan.strategy.scope():
        adapt_batch_norm(model, bn_batches(plan, batch_size))
    if verbose and plan.chief:
        why = "< 50" if plan.steps < PRECISE_BN_STEPS else "; precise_bn=True"
        print(
            f"precise BN: batch-norm statistics re-estimated on the {plan.folder.count('train')} "
            f"training images ({plan.steps} steps per epoch {why})"
        )


def _finish(model: Any, plan: _Plan, settings: dict, backup: Any, guard: Any, verbose: Any) -> None:
    """After the last epoch: refuse a diverged model, precise BN, write the final model."""
    if guard.where is not None:
        epoch, step, loss = guard.where
        if plan.backup_dir is not None:  # its weights are not finite: a rerun starts over
            shutil.rmtree(plan.backup_dir, ignore_errors=True)
        raise UserError(
            f"training diverged: the loss became {loss} at epoch {epoch + 1}, step {step + 1}, "
            f"and no model was saved; lower the learning rate (was {settings['learning_rate']!r})"
        )
    if settings["precise_bn"]:  # the final model only: best.keras was written as it was
        _reestimate_batch_norm(model, plan, settings["batch_size"], verbose)
    if plan.run is not None:
        if plan.chief:
            plan.run.write_model(model, plan.folder.class_names)
        backup.save(settings["epochs"], 0, finished=True)
        if plan.scratch is not None:
            shutil.rmtree(plan.scratch, ignore_errors=True)


def _train(model: Any, plan: _Plan, settings: dict, backup: Any, verbose: Any) -> Any:
    """``model.fit`` from where the run stands; one ``History`` for the whole run."""
    from kerascnn.training.feeds import datasets

    train_from, validation = datasets(plan, settings)
    run = {"validation_data": validation, "callbacks": plan.callbacks, "verbose": verbose}
    epoch, step = plan.start
    if backup is not None:
        backup.offset = step
    histories = []
    with warnings.catch_warnings():  # the validation set's unknown length; our own shuffling
        warnings.filterwarnings("ignore", message=".*(ran out of data|`shuffle=True` was passed)")
        while epoch < settings["epochs"]:  # an interrupted epoch first, from where it stopped
            end = epoch + 1 if step else settings["epochs"]
            data, steps = train_from(epoch * plan.steps + step)
            histories.append(
                model.fit(data, initial_epoch=epoch, epochs=end, steps_per_epoch=steps, **run)
            )
            epoch, step = end, 0
    history = histories[0]
    for more in histories[1:]:
        for key, values in more.history.items():
            history.history.setdefault(key, []).extend(values)
        history.epoch += more.epoch
    return history


def fit(
    model_or_name: Any,
    data: Any,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    optimizer: Any = None,
    learning_rate: Any = None,
    schedule: str | None = None,
    warmup_epochs: int | None = None,
    weight_decay: float | None = None,
    label_smoothing: float | None = None,
    augmentation: dict[str, Any] | None = None,
    model_args: dict[str, Any] | None = None,
    strategy: Any = "auto",
    mixed_precision: str | None = None,
    jit_compile: bool | str = "auto",
    output_dir: str | os.PathLike[str] | None = None,
    callbacks: Any = (),
    image_size: tuple[int, int] | None = None,
    validation_split: float = 0.2,
    seed: int = 0,
    save_freq: int | None = None,
    resume: bool = False,
    force: bool = False,
    precise_bn: bool | str = "auto",
    verbose: Any = "auto",
) -> Any:
    """Train and return the Keras ``History`` (its ``model`` has ``class_names``).

    Args:
        model_or_name: a zoo name (built with ``model_args``), a ``keras.Model`` or a builder.
        data: a folder of class sub-folders or a ``kerascnn.training.data.ImageFolder``.
        epochs, batch_size (per replica), optimizer (a name, ``{"name": ..., **options}`` or
            an instance), learning_rate, schedule (``"constant"``, ``"cosine"``), warmup_epochs,
            weight_decay, label_smoothing, augmentation (``classic_augmentation`` arguments),
            model_args: None takes the card's defaults (``kerascnn.training.settings``).
        strategy: ``"auto"``, ``"mirrored"``, ``"multiworker"``, ``"one"`` or a strategy.
        mixed_precision, jit_compile: ``"float16"``/``"bfloat16"``; ``"auto"`` = XLA on GPUs.
        output_dir: the run folder (``kerascnn.training.run``); the same call again resumes.
        validation_split, seed: the folder's split; ``seed`` also fixes shuffling and weights.
        save_freq, resume: steps between backups (default 500); extend a finished run.
        force: delete the run already in ``output_dir`` and start over.
        precise_bn: re-estimate batch norm after training (``"auto"``: an epoch < 50 steps).
        callbacks, verbose: more Keras callbacks; Keras' ``verbose``.
    """
    from kerascnn.training import callbacks as cb
    from kerascnn.training.backends import describe, resolve_devices
    from kerascnn.training.settings import resolve_settings

    given = {k: v for k, v in locals().items() if k in _SETTINGS}
    settings = resolve_settings(model_or_name, **given)
    settings.update(seed=seed, mixed_precision=mixed_precision, jit_compile=jit_compile)
    strategy = resolve_devices(strategy)  # first: multi-worker must start before any TF op
    if precise_bn not in (True, False, "auto"):
        raise UserError(f"precise_bn must be True, False or 'auto', got {precise_bn!r}; or 'auto'")
    if mixed_precision not in MIXED_PRECISION:
        raise UserError(
            f"mixed_precision must be float16 or bfloat16, got {mixed_precision!r}; or leave it out"
        )
    epochs, batch_size = settings["epochs"], settings["batch_size"]
    _check_numbers(epochs=epochs, batch_size=batch_size, learning_rate=settings["learning_rate"])
    model_args = settings["model_args"]
    if isinstance(model_or_name, str):  # unknown arguments fail here, not after the data
        from kerascnn.registry import check_builder_args
        from kerascnn.weights.cards import parse_spec

        check_builder_args(parse_spec(model_or_name)[0], model_args)
    augment = _augmentation(settings["augmentation"], seed, strategy)  # bad names fail here
    folder = _train_data(data, model_or_name, image_size, model_args, validation_split, seed)
    if len(folder.class_names) < 2:
        raise UserError(
            f"{folder.root}: found {len(folder.class_names)} class folder(s); training needs "
            "at least 2, add another class folder"
        )
    plan = _plan(strategy, folder, batch_size, output_dir, epochs, resume, force)
    plan.augment = augment
    if verbose:
        print(
            f"{describe(strategy)}; global batch {plan.global_batch} = {batch_size} per replica "
            f"x {strategy.num_replicas_in_sync}; {folder.count('train')} training images, "
            f"{plan.steps} steps per epoch"
        )
    model = _compile(plan, model_or_name, model_args, settings, batch_size)
    settings["precise_bn"] = _precise_bn(precise_bn, plan.steps, model)
    if plan.run is not None and plan.chief:
        plan.run.write_args(
            {"model": model_or_name, "data": str(folder.root), "image_size": folder.image_size,
             "validation_split": folder.validation_split, "test_split": folder.test_split,
             "strategy": describe(strategy), "save_freq": save_freq, **settings}
        )  # fmt: skip
    backup = _output_callbacks(plan, save_freq, verbose) if plan.run is not None else None
    guard = cb.StopOnNonFinite()
    plan.callbacks = [guard, *plan.callbacks, *callbacks]
    history = _train(model, plan, settings, backup, verbose if plan.chief else 0)
    _finish(model, plan, settings, backup, guard, verbose)
    model.class_names = folder.class_names
    history.set_model(model)
    return history
