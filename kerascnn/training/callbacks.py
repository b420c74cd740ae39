"""Callbacks of a training run with an output folder: mid-epoch backups, best model, history.

Every file goes through :mod:`kerascnn.atomic`, so a kill never leaves a broken one.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import keras

from kerascnn import compat
from kerascnn.atomic import atomic_path, write_json

__all__ = ["BestModel", "RunHistory", "StopOnNonFinite", "TrainingBackup", "read_backup"]

STATE_FILE = "state.json"


def read_backup(backup_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The last backup's state (``epoch``, ``step``, ``weights``, ``finished``), or ``None``."""
    folder = Path(backup_dir)
    if not (folder / STATE_FILE).is_file():
        return None
    state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    return state if (folder / state["weights"]).is_file() else None


class TrainingBackup(keras.callbacks.BackupAndRestore):
    """Back up weights and optimizer state every ``save_freq`` steps and at each epoch end.

    Keras' ``BackupAndRestore`` resumes only at an epoch; ``fit`` restores these at the exact
    step and sets ``offset``, the steps of the epoch done before this ``fit`` call.
    """

    def __init__(self, backup_dir: str | os.PathLike[str], save_freq: int | str = "epoch") -> None:
        super().__init__(str(backup_dir), save_freq=save_freq, delete_checkpoint=False)
        self.offset = 0
        self._epoch = 0

    def on_train_begin(self, logs: Any = None) -> None:  # restore happens in fit()
        compat.reset_backup_counts(self)

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        steps = self.params.get("steps")
        if compat.should_save_on_batch(self, batch) and (steps is None or batch + 1 < steps):
            self.save(self._epoch, self.offset + batch + 1)

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        compat.reset_backup_counts(self, batches_since_save=False)
        self.offset = 0
        self.save(epoch + 1, 0)

    def on_train_end(self, logs: Any = None) -> None:
        pass

    def save(self, epoch: int, step: int, finished: bool = False) -> None:
        """Write ``ckpt-<epoch>-<step>.weights.h5``, then point ``state.json`` at it."""
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

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
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

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            self.where = (self._epoch, batch, loss)
            self.model.stop_training = True


class RunHistory(keras.callbacks.Callback):
    """After every epoch, rewrite the run's ``history.csv`` and ``history.png``; rows an
    interrupted run left at or after the current epoch are replaced: one run on resuming."""

    def __init__(self, run: Any) -> None:
        super().__init__()
        self.run = run
        self.rows: list[dict[str, Any]] = []

    def on_train_begin(self, logs: Any = None) -> None:
        self.rows = self.run.read_history()

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.rows = [r for r in self.rows if int(float(r["epoch"])) < epoch]
        values = {k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"}
        self.rows.append({"epoch": epoch, **values})
        self.run.write_history(self.rows)
