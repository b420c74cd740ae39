"""The run folder of ``kerascnn train`` and ``kerascnn finetune``: ``model.keras`` and its
``model.classes.json``, ``args.json``, ``split.json``, ``history.csv``/``.png``; ``train`` adds
``best.keras``, ``backup/`` and (with TensorBoard) ``logs/``; all go through ``kerascnn.atomic``."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kerascnn import atomic
from kerascnn.errors import UserError
from kerascnn.saved import write_metadata

if TYPE_CHECKING:
    from collections.abc import Mapping

    import keras

__all__ = ["RUN_FILES", "RunFolder"]

RUN_FILES = (
    "model.keras", "model.classes.json", "best.keras", "best.json", "args.json", "split.json",
    "history.csv", "history.png", "backup", "logs",
)  # fmt: skip


def _jsonable(value: object) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


class RunFolder:
    """The output folder of a training run; :meth:`check` it before any work starts."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()

    def check(self, *, force: bool = False, resumable: bool = False) -> RunFolder:
        """Before any work: the folder can be written, and holds no run unless ``force`` (its
        files are deleted) or ``resumable`` with a backup. Creates nothing; else a ``UserError``."""
        found = [n for n in RUN_FILES if (self.path / n).exists()] if self.path.is_dir() else []
        trained = [n for n in found if n in ("model.keras", "best.keras", "backup")]
        others = sorted(p.name for p in self.path.iterdir()) if self.path.is_dir() else []
        others = [n for n in others if n not in RUN_FILES and ".tmp." not in n]
        if others and not found and not force:
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise UserError(
                f"{self.path} is a folder of other files ({shown}), not a run folder; choose "
                "another --output, or pass --force to write the run's files into it"
            )
        if found and force:
            for name in found:
                target = self.path / name
                shutil.rmtree(target) if target.is_dir() else target.unlink()
        elif trained and not (resumable and "backup" in found):
            raise UserError(
                f"{self.path} holds a run ({', '.join(trained)}); pass --force to start "
                "over, or choose another --output"
            )
        atomic.check_folder(self.path, "choose another --output")
        self._existed = self.path.is_dir()
        self._before = (
            {n for n in RUN_FILES if (self.path / n).exists()} if self._existed else set()
        )
        return self

    def remove_new(self, *, backup: bool = False) -> None:
        """Delete the run files written since :meth:`check` (``backup/`` too when ``backup``),
        and the folder when :meth:`check` found none and it is left empty: a failed run
        leaves nothing."""
        before: set[str] = getattr(self, "_before", set())
        for name in RUN_FILES:
            target = self.path / name
            if (name not in before or (backup and name == "backup")) and target.exists():
                shutil.rmtree(target) if target.is_dir() else target.unlink()
        if not getattr(self, "_existed", True) and self.path.is_dir():
            with contextlib.suppress(OSError):
                self.path.rmdir()

    def create(self) -> Path:
        """Create the folder (written files call this first)."""
        self.path.mkdir(parents=True, exist_ok=True)
        return self.path

    def __truediv__(self, name: str) -> Path:
        return self.create() / name

    def write_metadata(self, classes: list[str], preprocessing: str = "none") -> Path:
        """``model.classes.json``: the class names of every model file in the folder."""
        return write_metadata(self / "model.keras", classes, preprocessing)

    def write_model(
        self,
        model: keras.Model,
        classes: list[str],
        preprocessing: str = "none",
        name: str = "model.keras",
    ) -> Path:
        """Save ``model`` as ``name`` with its class-names sidecar."""
        with atomic.atomic_path(self / name) as tmp:
            model.save(tmp)
        write_metadata(self.path / name, classes, preprocessing)
        self.remove_temporaries()
        return self.path / name

    def changed_args(
        self, args: dict[str, Any], ignore: set[str], added: Mapping[str, Any] | None = None
    ) -> list[str]:
        """What ``args`` sets otherwise than the run's ``args.json`` (``key: was -> now``),
        the keys in ``ignore`` left out; empty when there is no ``args.json``. A key of
        ``added`` (settings newer than some runs) missing from the file counts as its value."""
        path = self.path / "args.json"
        if not path.is_file():
            return []
        was, now = json.loads(path.read_text(encoding="utf-8")), _jsonable(args)
        was = {**_jsonable(dict(added or {})), **was}
        keys = sorted((set(was) | set(now)) - ignore)
        return [f"{k}: {was.get(k)!r} -> {now.get(k)!r}" for k in keys if was.get(k) != now.get(k)]

    def write_args(self, args: dict[str, Any]) -> Path:
        """``args.json``: the arguments the run actually used."""
        return atomic.write_json(self / "args.json", _jsonable(args))

    def write_split(self, split: dict[str, Any]) -> Path:
        """``split.json``: an ``ImageFolder.to_json()``."""
        return atomic.write_json(self / "split.json", split)

    def read_history(self) -> list[dict[str, str]]:
        """The rows of ``history.csv`` (empty when there is none)."""
        path = self.path / "history.csv"
        if not path.is_file():
            return []
        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    def write_history(self, rows: list[dict[str, Any]]) -> None:
        """``history.csv`` and ``history.png`` from rows of ``{"epoch": 0, "loss": ...}``."""
        from kerascnn.training.plot import plot_history

        columns = list(dict.fromkeys(k for row in rows for k in row))
        text = io.StringIO()
        writer = csv.DictWriter(text, columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic.write_text(self / "history.csv", text.getvalue())
        nan = float("nan")  # drawn from the rows in memory, not read back from the file
        series = {
            k: [nan if r.get(k) in (None, "") else float(r[k]) for r in rows] for k in columns
        }
        plot_history(series, self.path / "history.png")
        self.remove_temporaries()

    def remove_temporaries(self) -> None:
        """Delete the temporary files of the run's files that killed writes left behind (called
        between the run's writes: no write is under way)."""
        for name in RUN_FILES:
            atomic.remove_temporaries(self.path, name)
