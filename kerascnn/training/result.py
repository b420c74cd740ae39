"""A run of the training engine: its :class:`Phase` s and its :class:`TrainResult`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras

__all__ = ["Phase", "TrainResult"]


@dataclass(frozen=True)
class Phase:
    """A stretch of ``epochs`` epochs; ``prepare(model, steps_per_epoch)`` sets what trains and
    returns the optimizer (a fresh one: each phase compiles the model anew)."""

    name: str
    epochs: int
    prepare: Callable[[Any, int], Any]


@dataclass
class TrainResult:
    """What :func:`fit` and ``kerascnn.transfer.finetune`` return.

    Attributes:
        model: the trained ``keras.Model`` (the one saved as ``run_dir/model.keras``).
        classes: the class names, in the order of the model's outputs.
        history: every epoch's numbers (``loss``, ``accuracy``, ``val_loss``, ...), whole run.
        run_dir: the run folder, or None.
        preprocessing: how pixels are fed to the model (``kerascnn.preprocessing``).
        phases: each phase's ``(first, end)`` epochs, e.g. ``{"head": (0, 5), ...}``.
        skipped: ``(path, reason)`` of the images that could not be read.
        trained: False when ``run_dir`` already held the finished run (nothing trained).
    """

    model: keras.Model
    classes: list[str]
    history: dict[str, list[float]]
    run_dir: Path | None = None
    preprocessing: str = "none"
    phases: dict[str, tuple[int, int]] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    trained: bool = True

    @property
    def model_path(self) -> Path | None:
        """``run_dir/model.keras``, or None without a run folder."""
        return None if self.run_dir is None else self.run_dir / "model.keras"

    @property
    def final(self) -> dict[str, float]:
        """The last epoch's numbers: those of the saved model."""
        return {k: v[-1] for k, v in self.history.items() if v and k != "epoch"}

    def phase_history(self, name: str) -> dict[str, list[float]]:
        """The numbers of phase ``name``'s epochs."""
        first, end = self.phases[name]
        epochs = self.history.get("epoch", [])
        keep = [i for i, e in enumerate(epochs) if first <= e < end]
        return {k: [v[i] for i in keep] for k, v in self.history.items() if k != "epoch"}
