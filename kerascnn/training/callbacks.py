"""Callbacks of a training run with an output folder: mid-epoch backups, best model, history.

Every file goes through :mod:`kerascnn.atomic`, so a kill never leaves a broken one.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import keras

from kerascnn import compat
from kerascnn.atomic import atomic_path, remove_temporaries, write_json
from kerascnn.errors import UserError

if TYPE_CHECKING:
    from kerascnn._typing import Logs
    from kerascnn.training.run import RunFolder

__all__ = [
    "BestModel",
    "RunHistory",
    "StopOnNonFinite",
    "TrainingBackup",
    "claim_backup",
    "read_backup",
]

STATE_FILE = "state.json"
LOCK_FILE = "lock"
_CLAIMED: dict[str, TextIO] = {}  # backup folder -> its locked file, held while this process lives


def claim_backup(backup_dir: str | os.PathLike[str]) -> None:
    """Make ``backup_dir`` this process's until its run is finished (or the process ends), or
    raise a ``UserError`` while another live process trains into it: a rerun started before the
    run it resumes was dead would load a checkpoint that the other then deletes
    (``FileNotFoundError``), and both would write the run's files. Creates the folder; a no-op
    where ``fcntl`` is missing (Windows)."""
    try:
        import fcntl
    except ImportError:
        return
    folder = Path(backup_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path, key = folder / LOCK_FILE, str(folder.resolve())
    held = _CLAIMED.get(key)  # held already, unless its file went (a diverged run's folder)
    with contextlib.suppress(OSError):
        if held is not None and os.path.samestat(os.fstat(held.fileno()), path.stat()):
            return
    if held is not None:
        held.close()
    f = open(path, "a+", encoding="ascii")  # noqa: SIM115 (held open: the lock is the open file)
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.seek(0)
        pid = f.read().strip()
        f.close()
        raise UserError(
            f"another process{f' (pid {pid})' if pid else ''} is training into {folder.parent}; "
            "wait for it to end (or stop it), then rerun"
        ) from None
    f.truncate(0)
    f.write(str(os.getpid()))
    f.flush()
    _CLAIMED[key] = f


def _release_backup(backup_dir: str | os.PathLike[str]) -> None:
    held = _CLAIMED.pop(str(Path(backup_dir).resolve()), None)
    if held is not None:
        held.close()  # closing the file releases its lock


def read_backup(backup_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The last backup's state (``epoch``, ``step``, ``weights``, ``finished``), or ``None``;
    an unfinished one is claimed first (:func:`claim_backup`): no other process moves it on."""
    folder = Path(backup_dir)
    if not (folder / STATE_FILE).is_file():
        return None
    claim_backup(folder)
    state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    if state["finished"]:
        _release_backup(folder)  # nothing left to train; extending it claims it again
    return state if (folder / state["weights"]).is_file() else None


class TrainingBackup(keras.callbacks.BackupAndRestore):
    """Back up weights and optimizer state every ``save_freq`` steps and at each epoch end.

    Keras' ``BackupAndRestore`` resumes only at an epoch; ``fit`` restores these at the exact
    step and sets ``offset``, the steps of the epoch done before this ``fit`` call.

    A rerun resumes from the last backup and never writes an earlier epoch's files again, so an
    epoch's end is backed up only once every callback is done with it (``best.keras``,
    ``history.csv``, ...): at the next epoch's start or at the end of ``fit``, with the weights
    the next epoch starts from. Killed before that, a rerun resumes from the epoch's last
    backup inside it and ends the epoch again, files included.
    """

    def __init__(self, backup_dir: str | os.PathLike[str], save_freq: int | str = "epoch") -> None:
        super().__init__(str(backup_dir), save_freq=save_freq, delete_checkpoint=False)
        claim_backup(backup_dir)
        self.offset = 0
        self._epoch = 0
        self._pending: tuple[int, int] | None = None  # an epoch end not backed up yet

    def on_train_begin(self, logs: Logs = None) -> None:  # restore happens in fit()
        compat.reset_backup_counts(self)

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        self._save_pending()
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Logs = None) -> None:
        steps = self.params.get("steps")
        if compat.should_save_on_batch(self, batch) and (steps is None or batch + 1 < steps):
            self.save(self._epoch, self.offset + batch + 1)

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        compat.reset_backup_counts(self, batches_since_save=False)
        self.offset = 0
        self._pending = (epoch + 1, 0)  # callbacks after this one still write the epoch's files

    def on_train_end(self, logs: Logs = None) -> None:
        self._save_pending()

    def _save_pending(self) -> None:
        if self._pending is not None:
            self.save(*self._pending)

    def save(self, epoch: int, step: int, finished: bool = False) -> None:
        """Write ``ckpt-<epoch>-<step>.weights.h5``, then point ``state.json`` at it; then
        delete the older checkpoints and what killed writes left behind."""
        self._pending = None
        folder = Path(self.backup_dir)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"ckpt-{epoch}-{step}.weights.h5"
        with atomic_path(folder / name) as tmp:
            self.model.save_weights(tmp, overwrite=True)
        state = {"epoch": epoch, "step": step, "weights": name, "finished": finished}
        write_json(folder / STATE_FILE, state)
        for old in folder.glob("ckpt-*.weights.h5"):
            if old.name != name:
                old.unlink(missing_ok=True)
        remove_temporaries(folder)
        if finished:
            _release_backup(folder)


class BestModel(keras.callbacks.Callback):
    """Save the model to ``path`` whenever ``monitor`` improves; the best value so far lives in
    ``<path>.json`` so that it survives restarts."""

    def __init__(self, path: str | os.PathLike[str], monitor: str = "val_loss") -> None:
        super().__init__()
        self.path = Path(path)
        self.monitor = monitor
        self.state_path = self.path.with_suffix(".json")
        self.higher_is_better = "acc" in monitor
        self.best: float | None = None
        if self.state_path.is_file():
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
            if state.get("monitor") == monitor:
                self.best = state.get("value")

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            return
        value = float(value)
        if self.best is None or (value > self.best if self.higher_is_better else value < self.best):
            with atomic_path(self.path) as tmp:
                self.model.save(tmp)
            self.best = value
            write_json(self.state_path, {"monitor": self.monitor, "value": value, "epoch": epoch})


class StopOnNonFinite(keras.callbacks.Callback):
    """Stop at the first batch whose loss is NaN or infinite; ``fit`` then reports it."""

    def __init__(self) -> None:
        super().__init__()
        self.where: tuple[int, int, float] | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Logs = None) -> None:
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            self.where = (self._epoch, batch, loss)
            self.model.stop_training = True


class RunHistory(keras.callbacks.Callback):
    """After every epoch, rewrite the run's ``history.csv`` and ``history.png``; rows an
    interrupted run left at or after the current epoch are replaced: one run on resuming."""

    def __init__(self, run: RunFolder) -> None:
        super().__init__()
        self.run = run
        self.rows: list[dict[str, Any]] = []

    def on_train_begin(self, logs: Logs = None) -> None:
        self.rows = self.run.read_history()

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        self.rows = [r for r in self.rows if int(float(r["epoch"])) < epoch]
        values = {k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"}
        self.rows.append({"epoch": epoch, **values})
        self.run.write_history(self.rows)
