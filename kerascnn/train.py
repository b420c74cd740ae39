"""``kerascnn.train.fit``: train a zoo model (or any Keras model) under ``tf.distribute``.

One call picks the strategy, builds and compiles the model in its scope,
feeds it a ``tf.data`` pipeline with the global batch, and, given an output
folder, backs up every ``save_freq`` steps so that rerunning the same call after
a crash resumes at the step where it stopped (see ``kerascnn.callbacks``).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from kerascnn.errors import UserError

__all__ = ["MIXED_PRECISION", "fit", "model_image_size", "resolve_jit_compile"]

DEFAULT_SAVE_FREQ = 500  # steps between mid-epoch backups (and one at every epoch end)
MIXED_PRECISION = {None: None, "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}


def resolve_jit_compile(jit_compile: bool | str, strategy: Any) -> bool:
    """``"auto"``: XLA on GPUs only; on CPU ``benchmarks/jit_compile_cpu.py`` measured it slower."""
    if jit_compile != "auto":
        return bool(jit_compile)
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def _strategy_name(strategy: Any) -> str:
    import tensorflow as tf

    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "MultiWorkerMirroredStrategy"
    name = type(strategy).__name__
    return "default strategy (one device)" if name.startswith("_Default") else name


def _has_tensorboard() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def model_image_size(
    model_or_name: Any, image_size: Any, model_args: dict[str, Any]
) -> tuple[int, int]:
    """(height, width): ``image_size``, else the model's ``input_shape`` argument, card or input."""
    if image_size is not None:
        return int(image_size[0]), int(image_size[1])
    if isinstance(model_or_name, str):
        from kerascnn.registry import get_model_card

        shape = model_args.get("input_shape") or get_model_card(model_or_name).get("input_shape")
        if shape:
            return int(shape[0]), int(shape[1])
    shape = getattr(model_or_name, "input_shape", None)
    if shape and shape[1] and shape[2]:
        return int(shape[1]), int(shape[2])
    raise UserError("cannot tell the model's input size; pass image_size=(height, width)")


def _build_model(model_or_name: Any, classes: int, size: tuple[int, int], args: dict) -> Any:
    import keras

    if isinstance(model_or_name, str):
        from kerascnn.registry import create_model

        args = {"classes": classes, "input_shape": (*size, 3), **args}
        return create_model(model_or_name, **args)
    if isinstance(model_or_name, keras.Model):
        clone = keras.models.clone_model(model_or_name)  # variables in the strategy's scope
        clone.set_weights(model_or_name.get_weights())
        return clone
    if callable(model_or_name):
        return model_or_name()
    raise UserError(f"model must be a zoo name, a keras.Model or a builder, got {model_or_name!r}")


def _optimizer(optimizer: Any, learning_rate: Any, total_steps: int, schedule: str | None) -> Any:
    import keras

    if schedule == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, total_steps)
    elif schedule not in (None, "constant"):
        raise UserError(f"unknown schedule {schedule!r}; use 'constant' or 'cosine'")
    if isinstance(optimizer, str):
        try:
            cls = type(keras.optimizers.get(optimizer))
        except ValueError:
            raise UserError(f"unknown optimizer {optimizer!r}; e.g. 'adam', 'sgd'") from None
        return cls(learning_rate=learning_rate)
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return optimizer
    return optimizer(learning_rate)


def _train_data(data: Any, model: Any, image_size: Any, args: dict, split: float, seed: int) -> Any:
    from kerascnn.data import ImageFolder, image_folder

    if isinstance(data, ImageFolder):
        return data
    if isinstance(data, (str, os.PathLike)):
        return image_folder(data, model_image_size(model, image_size, args), split, seed)
    raise UserError(f"data must be a folder path or a kerascnn.data.ImageFolder, got {data!r}")


def fit(
    model_or_name: Any,
    data: Any,
    *,
    epochs: int = 10,
    batch_size: int = 32,
    optimizer: Any = "adam",
    learning_rate: Any = 1e-3,
    strategy: Any = "auto",
    mixed_precision: str | None = None,
    jit_compile: bool | str = "auto",
    output_dir: str | os.PathLike[str] | None = None,
    callbacks: Any = (),
    model_args: dict[str, Any] | None = None,
    image_size: tuple[int, int] | None = None,
    validation_split: float = 0.2,
    seed: int = 0,
    schedule: str | None = None,
    save_freq: int | None = None,
    resume: bool = False,
    verbose: Any = "auto",
) -> Any:
    """Train and return the Keras ``History``.

    ``model_or_name``: a zoo model name (built with ``model_args``, the data's
    class count and ``image_size``), a ``keras.Model`` (cloned into the
    strategy's scope) or a function returning one. ``data``: a folder of class
    sub-folders or a :class:`kerascnn.data.ImageFolder`. ``batch_size`` is per
    replica. ``strategy``: ``"auto"``, ``"mirrored"``, ``"multiworker"``,
    ``"one"`` or a ``tf.distribute.Strategy``. ``mixed_precision``:
    ``"float16"`` (with loss scaling) or ``"bfloat16"``. ``seed`` fixes the split, the
    shuffling and the initial weights (``keras.utils.set_random_seed``). With ``output_dir``
    the run writes ``backup/`` (at each epoch end and every ``save_freq`` steps,
    default 500), ``best.keras``, ``model.keras``, ``split.json``, ``history.csv``,
    ``history.png`` and TensorBoard ``logs/``; calling ``fit`` again with the same
    arguments resumes an interrupted run; ``resume=True`` also extends a finished
    one to ``epochs``.
    """
    from kerascnn.distribute import (
        fix_multiworker_reduce,
        is_chief,
        prebuild,
        require_tensorflow_backend,
        resolve_strategy,
        worker_id,
    )

    require_tensorflow_backend()
    strategy = resolve_strategy(strategy)  # first: multi-worker must start before any TF op
    import keras
    import tensorflow as tf

    from kerascnn import callbacks as cb
    from kerascnn.data import batch_images

    if mixed_precision not in MIXED_PRECISION:
        raise UserError(f"mixed_precision must be float16 or bfloat16, got {mixed_precision!r}")
    if int(epochs) < 1 or int(batch_size) < 1:
        raise UserError("epochs and batch_size must be positive integers")
    model_args = dict(model_args or {})
    folder = _train_data(data, model_or_name, image_size, model_args, validation_split, seed)
    replicas = strategy.num_replicas_in_sync
    global_batch = int(batch_size) * replicas
    train_count = folder.count("train")
    steps = max(1, math.ceil(train_count / global_batch))
    chief = is_chief(strategy)
    if verbose:
        print(
            f"{_strategy_name(strategy)}: {replicas} replica(s); global batch {global_batch} "
            f"= {batch_size} per replica x {replicas}; {train_count} training images, "
            f"{steps} steps per epoch"
        )

    out = Path(output_dir) if output_dir is not None else None
    state = None
    if out is not None:
        backup_dir = out / "backup" if chief else out / "backup" / worker_id(strategy)
        state = cb.read_backup(backup_dir)
        if state and state["finished"] and not resume and state["epoch"] < epochs:
            raise UserError(
                f"{out} holds a finished run of {state['epoch']} epochs; "
                "pass resume=True (--resume) to train it further, or use another output folder"
            )
    start_epoch, start_step = (state["epoch"], state["step"]) if state else (0, 0)
    if start_epoch >= epochs:
        raise UserError(f"{out} has already trained {start_epoch} epochs; ask for more epochs")

    previous_policy = keras.config.dtype_policy()
    if MIXED_PRECISION[mixed_precision]:
        keras.config.set_dtype_policy(MIXED_PRECISION[mixed_precision])
    keras.utils.set_random_seed(seed)  # initial weights, dropout: the same run every time
    try:
        with strategy.scope():
            model = _build_model(
                model_or_name, len(folder.class_names), folder.image_size, model_args
            )
            opt = _optimizer(optimizer, learning_rate, epochs * steps, schedule)
            model.compile(
                optimizer=opt,
                loss="sparse_categorical_crossentropy",
                metrics=["accuracy"],
                jit_compile=resolve_jit_compile(jit_compile, strategy),
            )
            if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
                fix_multiworker_reduce()
            if tf.distribute.has_strategy():  # in a non-default strategy's scope
                prebuild(model, folder.image_size, batch_size)
            if state:
                model.optimizer.build(model.trainable_variables)
                model.load_weights(backup_dir / state["weights"])
                print(f"resuming at epoch {start_epoch + 1}, step {start_step} of {steps}")
    finally:
        keras.config.set_dtype_policy(previous_policy)

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA

    def train_from(step: int) -> Any:
        # The endless shuffled stream from a global step on. A new dataset object each
        # time: its shuffle order then only depends on the seed, as in a fresh process.
        stream = folder.elements("train", repeat=True).with_options(options)
        return batch_images(stream, global_batch, drop_remainder=True).skip(step)

    validation = None
    if folder.files["validation"]:
        validation = batch_images(folder.elements("validation"), global_batch)
        validation = validation.with_options(options)

    all_callbacks: list[Any] = []
    backup = None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        scratch = None if chief else Path(tempfile.mkdtemp(prefix="kerascnn-worker-"))
        files = out if chief else scratch
        if chief:
            folder.save_split(out)
        csv_path = files / "history.csv"
        if state:
            cb.trim_history(csv_path, start_epoch)
        else:
            csv_path.unlink(missing_ok=True)
        every = save_freq or (DEFAULT_SAVE_FREQ if steps > DEFAULT_SAVE_FREQ else "epoch")
        backup = cb.TrainingBackup(backup_dir, every)
        monitor = "val_loss" if validation is not None else "loss"
        all_callbacks += [
            keras.callbacks.CSVLogger(str(csv_path), append=True),
            backup,
            cb.BestModel(files / "best.keras", monitor),
            cb.PlotHistory(csv_path, files / "history.png"),
        ]
        if _has_tensorboard():
            all_callbacks.append(keras.callbacks.TensorBoard(str(files / "logs")))
        elif verbose and chief:
            print("no TensorBoard logs: pip install tensorboard (or kerascnn[tensorboard])")
    all_callbacks += list(callbacks)
    verbose = verbose if chief else 0

    run = {"validation_data": validation, "callbacks": all_callbacks, "verbose": verbose}
    histories = []
    with warnings.catch_warnings():  # the validation set's unknown length; our own shuffling
        warnings.filterwarnings("ignore", message=".*(ran out of data|`shuffle=True` was passed)")
        if start_step:  # finish the interrupted epoch first, from the step it stopped at
            if backup is not None:
                backup.offset = start_step
            histories.append(
                model.fit(
                    train_from(start_epoch * steps + start_step),
                    initial_epoch=start_epoch,
                    epochs=start_epoch + 1,
                    steps_per_epoch=steps - start_step,
                    **run,
                )
            )
            start_epoch += 1
        if start_epoch < epochs:
            histories.append(
                model.fit(
                    train_from(start_epoch * steps),
                    initial_epoch=start_epoch,
                    epochs=epochs,
                    steps_per_epoch=steps,
                    **run,
                )
            )
    history = histories[0]
    for more in histories[1:]:
        for key, values in more.history.items():
            history.history.setdefault(key, []).extend(values)
        history.epoch += more.epoch
    if out is not None:
        if chief:
            cb.atomic_save_model(model, out / "model.keras")
        backup.save(epochs, 0, finished=True)
        if not chief:
            shutil.rmtree(scratch, ignore_errors=True)
    model.class_names = folder.class_names
    history.set_model(model)
    return history
