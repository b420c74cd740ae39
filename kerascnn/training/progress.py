"""Training progress people can read: a live bar at a terminal, one plain line per epoch elsewhere.

Keras' progress bar believes every POSIX stream is a terminal: written to a file it leaves one
line of thousands of characters per epoch, full of backspaces and escape codes. So
``progress_callbacks(verbose, epochs)`` keeps Keras' bar only where it can move (a terminal,
a notebook) and otherwise hands ``model.fit`` an ``EpochLog`` callback: one line per epoch,

    epoch 3/10: loss 0.5123, accuracy 0.8120, val_loss 0.6011, val_accuracy 0.7900 (12.3 s)

logged at INFO on the ``kerascnn.training`` logger (the CLI prints it on stdout; in Python,
``logging.basicConfig(level=logging.INFO)`` shows it).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import keras

from kerascnn.errors import UserError

if TYPE_CHECKING:
    from kerascnn._typing import Logs

__all__ = ["EpochLog", "format_epoch", "live_display", "logger", "progress_callbacks"]

logger = logging.getLogger("kerascnn.training")


def live_display() -> bool:
    """Whether a progress bar can redraw itself in place: stdout is a terminal, or a notebook."""
    stdout = sys.stdout
    try:
        tty = stdout is not None and stdout.isatty()
    except (AttributeError, ValueError, OSError):  # closed or replaced by something odd
        tty = False
    return tty or "ipykernel" in sys.modules


def _number(value: float) -> str:
    if not math.isfinite(value) or value == 0 or 1e-3 <= abs(value) < 1e6:
        return f"{value:.4f}"
    return f"{value:.3e}"


def format_epoch(epoch: int, epochs: int, logs: Logs, seconds: float) -> str:
    """``epoch 3/10: loss 0.5123, ..., val_accuracy 0.7900 (12.3 s)``.

    Args:
        epoch, epochs: this epoch, counted from 1, and the run's total.
        logs: Keras' logs of the epoch: training metrics first, then validation ones, each
            led by its loss, the rest in Keras' order; values not single numbers left out.
        seconds: how long the epoch took, its validation included.
    """
    values = []
    for key, value in (logs or {}).items():
        try:
            number = float(value)
        except (TypeError, ValueError):  # an array, a string: not for one line
            continue
        validation = key.startswith("val_")
        values.append(((validation, key.removeprefix("val_") != "loss"), key, number))
    values.sort(key=lambda item: item[0])  # stable: Keras' order within each group
    metrics = ", ".join(f"{key} {_number(value)}" for _, key, value in values)
    return f"epoch {epoch}/{epochs}: {metrics} ({seconds:.1f} s)"


class EpochLog(keras.callbacks.Callback):
    """One plain line per epoch (``format_epoch``) through ``log`` (default: INFO on the
    ``kerascnn.training`` logger). ``epochs`` is the run's total: with ``initial_epoch``
    (a resumed run, fine-tuning's second phase) the numbers go on from there."""

    def __init__(self, epochs: int, log: Callable[[str], object] | None = None) -> None:
        super().__init__()
        self.epochs = epochs
        self.log = log or logger.info
        self._start: float | None = None

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        self._start = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        seconds = time.monotonic() - self._start if self._start is not None else 0.0
        self.log(format_epoch(epoch + 1, self.epochs, logs, seconds))


def progress_callbacks(
    verbose: int | str, epochs: int
) -> tuple[int, list[keras.callbacks.Callback]]:
    """``(verbose for model.fit, callbacks to add)`` for a run of ``epochs`` epochs in all.

    ``verbose``: 0/False: nothing (also whenever ``KERASCNN_QUIET=1``); 1: Keras' bar;
    2: one ``EpochLog`` line per epoch; ``"auto"`` (or True): Keras' live bar where it can
    redraw itself (``live_display``), else one line per epoch.
    """
    if not verbose or os.environ.get("KERASCNN_QUIET") == "1":
        return 0, []
    if verbose == "auto" or verbose is True:
        verbose = 1 if live_display() else 2
    if verbose == 1:
        return 1, []
    if verbose == 2:
        return 0, [EpochLog(epochs)]
    raise UserError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}; use one of those")
