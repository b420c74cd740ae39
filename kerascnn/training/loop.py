"""The engine's training loop: the phases in order from where the run stands, precise BN before
every validation, the backups, and the run's last files (``kerascnn.training.engine``)."""

from __future__ import annotations

import logging
import os
import shutil
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from kerascnn.errors import UserError
from kerascnn.training.flips import ALTERNATE, first_flips
from kerascnn.training.plan import (
    Plan,
    build_model,
    compile_model,
    make_plan,
    output_callbacks,
    restore,
)
from kerascnn.training.result import Phase, TrainResult

if TYPE_CHECKING:
    import keras

    from kerascnn.training.backends import Strategy
    from kerascnn.training.batchnorm import PreciseBN
    from kerascnn.training.callbacks import StopOnNonFinite, TrainingBackup
    from kerascnn.training.data import ImageFolder
    from kerascnn.training.feeds import Feeds

__all__ = ["augmentation", "finished_result", "plan_run", "train"]

log = logging.getLogger("kerascnn.training")


def plan_run(strategy: Strategy, folder: ImageFolder, settings: dict[str, Any], epochs: int,
             output_dir: str | os.PathLike[str] | None, resume: bool,
             force: bool) -> Plan:  # fmt: skip
    """The run's plan, checked before any work, with its training augmentation.

    Args:
        strategy, folder, settings: the devices, the data and the resolved settings.
        epochs: of all phases; output_dir, resume, force: as ``fit``.
    """
    plan = make_plan(strategy, folder, settings["batch_size"], output_dir, epochs, resume, force)
    plan.augment = augmentation(settings["augmentation"], settings["seed"], strategy)
    if settings["augmentation"].get("flip") == ALTERNATE:
        plan.flips = first_flips(folder.count("train"), settings["seed"])
    return plan


def augmentation(spec: dict[str, Any], seed: int, strategy: Strategy) -> keras.Sequential | None:
    """The training augmentation of ``spec``; each process of a run draws its own."""
    from kerascnn.training.backends import process_index
    from kerascnn.training.settings import augmenter

    return augmenter(spec, seed + process_index(strategy))


def finished_result(plan: Plan, phases: Sequence[Phase], preprocessing: str) -> TrainResult:
    """The result of a run that already trained every epoch asked for (nothing trains)."""
    from kerascnn.saved import load_saved_model
    from kerascnn.training.plot import read_history

    assert plan.run is not None  # a finished run is one of a run folder
    history = read_history(plan.run.path / "history.csv")
    log.info("%s already holds a finished run of %d epochs", plan.run.path, plan.start[0])
    model = load_saved_model(plan.run.path / "model.keras")
    return TrainResult(model, list(plan.folder.class_names), history, plan.run.path,
                       preprocessing, _bounds(phases), list(plan.folder.skipped),
                       trained=False)  # fmt: skip


def _bounds(phases: Sequence[Phase]) -> dict[str, tuple[int, int]]:
    bounds, first = {}, 0
    for phase in phases:
        bounds[phase.name] = (first, first + phase.epochs)
        first += phase.epochs
    return bounds


def _precise_bn(plan: Plan, model: keras.Model, settings: dict[str, Any]) -> PreciseBN | None:
    """The ``PreciseBN`` callback of the run, or None (``precise_bn`` False, or no batch norm)."""
    from kerascnn.training.batchnorm import PreciseBN, batch_norm_layers, precise_bn_batches
    from kerascnn.training.feeds import bn_batches

    requested = settings["precise_bn"]
    if not batch_norm_layers(model):
        if requested is True:
            raise UserError(
                f"{model.name} has no BatchNormalization layers; drop precise_bn=True",
                arguments={"precise_bn=True": "precise_bn"},
            )
        return None
    if requested is False:
        return None
    return PreciseBN(lambda: bn_batches(plan, settings["batch_size"]),
                     precise_bn_batches(plan.steps))  # fmt: skip


def train(build: Callable[[], keras.Model], plan: Plan, settings: dict[str, Any],
          phases: Sequence[Phase], callbacks: Sequence[keras.callbacks.Callback],
          verbose: int | str, preprocessing: str, args: dict[str, Any],
          first: Callable[[keras.Model, Plan], None] | None) -> TrainResult:  # fmt: skip
    """Build, train through ``phases`` from ``plan.start``, write the run; a ``TrainResult``.

    Args:
        build, plan, settings, phases: as ``engine.run_phases`` (``plan`` from :func:`plan_run`).
        callbacks, verbose, preprocessing, args, first: as ``engine.run_phases``.
    """
    from kerascnn.preprocessing import get_preprocessing
    from kerascnn.training import callbacks as cb
    from kerascnn.training.backends import describe
    from kerascnn.training.progress import progress_callbacks

    folder, strategy = plan.folder, plan.strategy
    plan.transform = None if preprocessing == "none" else get_preprocessing(preprocessing)
    epochs = sum(p.epochs for p in phases)
    record = {**args, **settings, "image_size": folder.image_size,
              "strategy": describe(strategy), "phases": _bounds(phases)}  # fmt: skip
    if plan.run is not None and plan.weights is not None:
        _same_run(plan, record)
    if verbose and plan.chief:
        log.info("%s; global batch %d = %d per replica x %d; %d training images, %d steps per "
                 "epoch", describe(strategy), plan.global_batch, settings["batch_size"],
                 strategy.num_replicas_in_sync, folder.count("train"), plan.steps)  # fmt: skip
    model = build_model(plan, build, settings)
    precise = _precise_bn(plan, model, settings)
    record["dtype_policy"] = model.dtype_policy.name  # mixed_precision "auto", resolved
    if verbose and plan.chief and settings["mixed_precision"] == "auto":
        log.info("mixed_precision auto: %s on this machine", record["dtype_policy"])
    if plan.run is not None and plan.chief:
        plan.run.write_args(record)
    backup = output_callbacks(plan, settings["save_freq"], preprocessing) if plan.run else None
    guard = cb.StopOnNonFinite()
    keras_verbose, progress = progress_callbacks(verbose if plan.chief else 0, epochs)
    plan.callbacks = [guard, *([precise] if precise else []), *plan.callbacks, *progress,
                      *callbacks]  # fmt: skip
    history = _phases(model, plan, settings, phases, backup, first, keras_verbose)
    _finish(model, plan, settings, backup, guard, epochs, preprocessing)
    if precise is not None and precise.seconds and verbose and plan.chief:
        log.info("precise BN: batch-norm statistics re-estimated before each validation on %d "
                 "training batches (%.1f s an epoch)", precise.batches,
                 sum(precise.seconds) / len(precise.seconds))  # fmt: skip
    out = plan.run.path if plan.run else None
    classes, skipped = list(folder.class_names), list(folder.skipped)
    return TrainResult(model, classes, history, out, preprocessing, _bounds(phases), skipped)


# what may change when a run resumes: more epochs (--resume), other devices (and the dtype
# policy mixed_precision 'auto' picks there), backup frequency
_MAY_CHANGE = {"epochs", "phases", "finetune_epochs", "strategy", "save_freq", "jit_compile",
               "dtype_policy"}  # fmt: skip
# settings added after runs were made, with the value those runs trained with
_ADDED = {"bn_lr_mult": 1.0}


def _same_run(plan: Plan, record: dict[str, Any]) -> None:
    """Refuse to resume a run with other settings or data: the two would mix in one folder
    (its history, best model and weights), and its numbers would describe neither."""
    assert plan.run is not None
    changed = plan.run.changed_args(record, _MAY_CHANGE, _ADDED)
    split = plan.run.path / "split.json"
    if split.is_file():
        import json

        old = json.loads(split.read_text(encoding="utf-8"))
        new = plan.folder.to_json()
        changed += [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in ("class_names", "counts")
                    if old.get(k) != new.get(k)]  # fmt: skip
    if changed:
        shown = "; ".join(changed[:3]) + ("; ..." if len(changed) > 3 else "")
        raise UserError(
            f"{plan.run.path} holds a run with other settings or data ({shown}); resuming would "
            "mix two runs: give the same settings, another --output, or --force to start over"
        )


def _phases(model: keras.Model, plan: Plan, settings: dict[str, Any], phases: Sequence[Phase],
            backup: TrainingBackup | None, first: Callable[[keras.Model, Plan], None] | None,
            verbose: int) -> dict[str, list[float]]:  # fmt: skip
    """Each phase from where the run stands; the backup is restored in the phase that wrote it
    (its optimizer state has that phase's shape)."""
    from kerascnn.training.feeds import datasets

    epoch, step = plan.start
    bounds = list(_bounds(phases).values())
    written = epoch - 1 if step == 0 else epoch  # the epoch the backup was written in
    restore_in = next((i for i, (a, b) in enumerate(bounds) if a <= written < b), None)
    restore_in = restore_in if plan.weights else None
    feeds = datasets(plan, settings)
    history: dict[str, list[float]] = {}
    for i, phase in enumerate(phases):
        end = bounds[i][1]
        if end <= epoch and i != restore_in:
            continue
        with plan.strategy.scope():  # a tf.distribute optimizer belongs to one strategy
            optimizer = phase.prepare(model, plan.steps)
        compile_model(plan, model, optimizer, settings)
        if i == restore_in:
            restore(plan, model)
            log.info("resuming at epoch %d, step %d of %d", epoch + 1, step, plan.steps)
        elif plan.weights is None and epoch == 0 and step == 0 and first is not None:
            first(model, plan)
        if end <= epoch:
            continue
        _fit(model, plan, feeds, (epoch, step), end, backup, verbose, history)
        epoch, step = end, 0
        if model.stop_training:
            break
    return history


def _fit(model: keras.Model, plan: Plan, feeds: Feeds, start: tuple[int, int], end: int,
         backup: TrainingBackup | None,
         verbose: int, history: dict[str, list[float]]) -> None:  # fmt: skip
    """``model.fit`` from ``start`` (epoch, step) to epoch ``end``, adding to ``history``."""
    train_from, validation = feeds
    epoch, step = start
    if backup is not None:
        backup.offset = step
    common = {"validation_data": validation, "callbacks": plan.callbacks,
              "verbose": verbose if plan.chief else 0}  # fmt: skip
    with warnings.catch_warnings():  # the validation set's unknown length; our own shuffling
        warnings.filterwarnings("ignore", message=".*(ran out of data|`shuffle=True` was passed)")
        while epoch < end:  # an interrupted epoch first, from where it stopped
            stop = epoch + 1 if step else end
            data, steps = train_from(epoch * plan.steps + step)
            done = model.fit(data, initial_epoch=epoch, epochs=stop, steps_per_epoch=steps,
                             **common)  # fmt: skip
            history.setdefault("epoch", []).extend(float(e) for e in done.epoch)
            for key, values in done.history.items():
                history.setdefault(key, []).extend(float(v) for v in values)
            epoch, step = stop, 0
            if model.stop_training:
                return


def _finish(model: keras.Model, plan: Plan, settings: dict[str, Any],
            backup: TrainingBackup | None, guard: StopOnNonFinite,
            epochs: int, preprocessing: str) -> None:  # fmt: skip
    """After the last epoch: refuse a diverged model (and leave nothing new behind); write the
    final model and mark the backup finished."""
    if guard.where is not None:
        epoch, step, loss = guard.where
        if plan.run is not None:
            plan.run.remove_new(backup=True)  # its last backups may hold non-finite weights
        raise UserError(
            f"training diverged: the loss became {loss} at epoch {epoch + 1}, step {step + 1}, "
            f"and no model was saved; lower the learning rate (--lr, was "
            f"{settings['learning_rate']!r})"
        )
    if plan.run is not None:
        assert backup is not None  # a run folder has its backup
        if plan.chief:
            plan.run.write_model(model, plan.folder.class_names, preprocessing)
        backup.set_model(model)  # no fit ran when a kill came after the last epoch's backup
        backup.save(epochs, 0, finished=True)
        if plan.scratch is not None:
            shutil.rmtree(plan.scratch, ignore_errors=True)
