"""What one run of the engine does before it trains: its devices, batches, run folder, where it
resumes, and its model compiled in the strategy's scope (``kerascnn.training.engine``)."""

from __future__ import annotations

import logging
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kerascnn.errors import UserError

if TYPE_CHECKING:
    import keras
    import numpy as np

    from kerascnn.preprocessing import Preprocessing
    from kerascnn.training.backends import Strategy
    from kerascnn.training.callbacks import TrainingBackup
    from kerascnn.training.data import ImageFolder
    from kerascnn.training.pydata import FolderBatches
    from kerascnn.training.run import RunFolder

__all__ = ["MIXED_PRECISION", "Plan", "compile_model", "dtype_policy", "make_plan",
           "output_callbacks", "resolve_jit_compile"]  # fmt: skip

log = logging.getLogger("kerascnn.training")

DEFAULT_SAVE_FREQ = 500  # steps between mid-epoch backups (and one at every epoch end)
MIXED_PRECISION = {None: None, "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}


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


def dtype_policy(mixed_precision: str | None) -> str | None:
    """The Keras dtype policy of ``mixed_precision`` (``None``: keep the current one), ``auto``
    resolved (``kerascnn._devices``); warns when bfloat16 is asked of a CPU that emulates it."""
    from kerascnn._devices import native_bfloat16, resolve_mixed_precision

    if mixed_precision == "bfloat16" and not native_bfloat16():
        log.warning("bfloat16 on a CPU without AMX is emulated: benchmarks/mixed_precision_cpu.py "
                    "measured training 8 times slower than float32 on such a CPU; "
                    "mixed_precision 'auto' trains in float32 here")  # fmt: skip
    return MIXED_PRECISION[resolve_mixed_precision(mixed_precision)]


@dataclass
class Plan:
    """One run: its strategy, batches, output and where it resumes."""

    strategy: Strategy
    folder: ImageFolder
    global_batch: int
    steps: int
    chief: bool
    run: RunFolder | None = None
    backup_dir: Path | None = None
    weights: str | None = None  # the backup's weights file, when resuming
    start: tuple[int, int] = (0, 0)  # the (epoch, step) where training starts
    finished: bool = False  # the run folder holds a finished run of all the epochs asked for
    scratch: Path | None = None
    augment: keras.Model | None = None  # the training augmentation, or None
    transform: Preprocessing | None = None  # the preprocessing after augmentation, or None
    flips: np.ndarray | None = None  # alternating flips: the images mirrored first (flips.py)
    py_train: FolderBatches | None = None  # the training batches (JAX, torch), once made
    callbacks: list[keras.callbacks.Callback] = field(default_factory=list)


def make_plan(strategy: Strategy, folder: ImageFolder, batch_size: int,
              output_dir: str | os.PathLike[str] | None, epochs: int, resume: bool,
              force: bool = False) -> Plan:  # fmt: skip
    """The plan of a run; with ``output_dir``, where its backup says it stands.

    Args:
        strategy, folder, batch_size: the devices, the data, images per replica.
        output_dir, epochs, resume, force: the run folder, the epochs of all phases, as ``fit``.
    """
    from kerascnn.training.backends import is_chief, worker_id
    from kerascnn.training.callbacks import read_backup
    from kerascnn.training.run import RunFolder

    global_batch = int(batch_size) * strategy.num_replicas_in_sync
    steps = max(1, math.ceil(folder.count("train") / global_batch))
    plan = Plan(strategy, folder, global_batch, steps, is_chief(strategy))
    if output_dir is None:
        return plan
    plan.run = RunFolder(output_dir).check(force=force, resumable=True)
    out = plan.run.path
    plan.backup_dir = out / "backup" if plan.chief else out / "backup" / worker_id(strategy)
    state = read_backup(plan.backup_dir)
    if state:
        plan.weights, plan.start = state["weights"], (state["epoch"], state["step"])
        if state["finished"] and state["epoch"] >= epochs:
            plan.finished = True
        elif state["finished"] and not resume:
            raise UserError(
                f"{out} holds a finished run of {state['epoch']} epochs; pass resume=True to "
                "train it further, or choose another output_dir",
                arguments={"resume=True": "resume", "output_dir": "output_dir"},
            )
    # every epoch trained, killed before the run's last files: only the finish is left to do
    trained = state is not None and not state["finished"] and plan.start == (epochs, 0)
    if plan.start[0] >= epochs and not plan.finished and not trained:
        raise UserError(
            f"{out} has already trained {plan.start[0]} epochs; ask for more with --epochs "
            f"(above {plan.start[0]}) and --resume"
        )
    return plan


def compile_model(
    plan: Plan, model: keras.Model, optimizer: keras.optimizers.Optimizer, settings: dict[str, Any]
) -> None:
    """Compile ``model`` with ``optimizer``, the loss and metrics of ``settings``.

    Args:
        plan, model, optimizer: the run, its model and the phase's optimizer.
        settings: resolved settings (label smoothing, jit_compile, batch size).
    """
    import keras

    from kerascnn.training.settings import loss_and_metrics

    loss, metrics = loss_and_metrics(settings["label_smoothing"])
    with plan.strategy.scope():
        model.compile(
            optimizer=optimizer,
            loss=loss,
            metrics=metrics,
            jit_compile=resolve_jit_compile(settings["jit_compile"]),
        )
        if keras.backend.backend() == "tensorflow":
            _tf_workarounds(plan.strategy, model, plan.folder.image_size, settings["batch_size"])


def build_model(
    plan: Plan, build: Callable[[], keras.Model], settings: dict[str, Any]
) -> keras.Model:
    """``build()`` in the strategy's scope, seeded, in the run's dtype policy."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype_policy(settings["mixed_precision"]) or previous)
    keras.utils.set_random_seed(settings["seed"])  # initial weights, dropout: the same each time
    try:
        with plan.strategy.scope():
            return build()
    finally:
        keras.config.set_dtype_policy(previous)


def copy_model(model: keras.Model) -> keras.Model:
    """A copy of ``model`` with its weights, its variables made in the current (strategy's)
    scope."""
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def restore(plan: Plan, model: keras.Model) -> None:
    """Load the backup's weights and optimizer state into the compiled ``model``."""
    assert plan.backup_dir is not None and plan.weights is not None  # a run that resumes
    with plan.strategy.scope():
        model.optimizer.build(model.trainable_variables)
        model.load_weights(plan.backup_dir / plan.weights)


def _tf_workarounds(
    strategy: Strategy, model: keras.Model, image_size: tuple[int, int], batch_size: int
) -> None:
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


def output_callbacks(plan: Plan, save_freq: int | None, preprocessing: str) -> TrainingBackup:
    """Backups, best model, history and TensorBoard logs of a run with an output folder."""
    import keras

    from kerascnn.training import callbacks as cb
    from kerascnn.training.run import RunFolder

    run, backup_dir = plan.run, plan.backup_dir
    assert run is not None and backup_dir is not None  # a run with an output folder
    if plan.chief:
        run.write_split(plan.folder.to_json())
        run.write_metadata(plan.folder.class_names, preprocessing)
    else:  # other workers keep their files out of the run folder
        plan.scratch = Path(tempfile.mkdtemp(prefix="kerascnn-worker-"))
        run = RunFolder(plan.scratch)
    every = save_freq or (DEFAULT_SAVE_FREQ if plan.steps > DEFAULT_SAVE_FREQ else "epoch")
    backup = cb.TrainingBackup(backup_dir, every)
    monitor = "val_loss" if plan.folder.files["validation"] else "loss"
    # the backup last: a kill after it never loses an epoch's history row or best model
    plan.callbacks += [cb.RunHistory(run), cb.BestModel(run / "best.keras", monitor), backup]
    if _importable("tensorboard") and _importable("tensorflow"):  # Keras' callback uses tf
        plan.callbacks.append(keras.callbacks.TensorBoard(str(run / "logs")))
    elif plan.chief:
        log.info("no TensorBoard logs: pip install tensorboard (or kerascnn[tensorboard])")
    return backup
