"""What training and evaluation return: a run's :class:`Phase` s and :class:`TrainResult`, and
the :class:`EvalResult` of a model on a folder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras

from kerascnn.errors import deprecated

__all__ = ["EvalResult", "Phase", "TrainResult"]


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


@dataclass
class EvalResult:
    """What :func:`kerascnn.evaluate` measured.

    Attributes:
        split: the part of the folder evaluated (``"all"``: the whole folder).
        count, errors, accuracy: images, wrong top-1 predictions, their share right.
        class_names: the confusion matrix's order: the model's classes when known and paired
            by name, else the folder's.
        model_class_names: the model's classes (None when unknown).
        folder_class_names: the folder's class folders.
        mapped_by_index: whether differently named class folders were paired by position.
        per_class: each class's accuracy (None for a class without images).
        confusion: rows: the true class; columns: the predicted one.
        skipped: ``(path, reason)`` of the images that could not be read.
    """

    split: str
    count: int
    errors: int
    accuracy: float
    class_names: list[str]
    model_class_names: list[str] | None
    folder_class_names: list[str]
    mapped_by_index: bool
    per_class: dict[str, float | None]
    confusion: list[list[int]]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``kerascnn evaluate --json``); ``skipped`` as path/reason dicts."""
        out = asdict(self)
        out["skipped"] = [{"path": p, "reason": r} for p, r in self.skipped]
        return out

    def __getitem__(self, key: str) -> Any:  # the dict evaluate returned before 0.2
        deprecated(f"evaluate(...)[{key!r}]", f"the attribute: result.{key}")
        return self.as_dict()[key]

    def keys(self) -> list[str]:
        """Deprecated: the fields (the dict evaluate returned before 0.2 had these keys)."""
        deprecated("evaluate(...).keys()", "the attributes, or result.as_dict()")
        return list(self.as_dict())
