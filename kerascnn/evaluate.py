"""Evaluating a classifier on an image folder: accuracy, per-class accuracy, confusion matrix."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from kerascnn.errors import UserError

__all__ = ["evaluate", "load_model_and_split"]


def load_model_and_split(model_or_file: str) -> tuple[Any, dict[str, Any] | None]:
    """A model from a ``.keras`` file, a run folder (its ``best.keras``) or ``name[:variant]``,
    plus the split recorded next to it (``split.json``) or on its weights card, if any."""
    path = Path(model_or_file).expanduser()
    if path.is_dir():
        for name in ("best.keras", "model.keras"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise UserError(f"{path}: no best.keras or model.keras in this folder")
    if path.is_file():
        from kerascnn.saved import load_saved_model

        model = load_saved_model(path)
        split_file = path.parent / "split.json"
        split = json.loads(split_file.read_text("utf-8")) if split_file.is_file() else None
        return model, split
    from kerascnn.registry import create_model, get_model_card

    name, _, variant = model_or_file.partition(":")
    card = get_model_card(name)
    if not variant:
        raise UserError(f"{name}: evaluating needs trained weights: use {name}:VARIANT or a file")
    split = card.get("weights", {}).get(variant, {}).get("split")
    return create_model(model_or_file), split


def evaluate(
    model: Any,
    data: str | os.PathLike[str],
    *,
    split: str = "all",
    split_info: dict[str, Any] | None = None,
    validation_split: float = 0.2,
    test_split: float = 0.0,
    seed: int = 0,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Accuracy of ``model`` on ``split`` of the folder ``data``.

    The split is recomputed from ``split_info`` (a recorded ``split.json`` or a
    card's ``split``: seed and fractions) when given, else from the arguments.
    Returns ``accuracy``, ``count``, ``errors``, ``per_class`` and ``confusion``
    (rows: true class, columns: predicted).
    """
    from kerascnn.data import image_folder

    if split_info:
        seed = split_info.get("seed", seed)
        validation_split = split_info.get("validation_split", validation_split)
        test_split = split_info.get("test_split", test_split)
    size = model.input_shape[1:3]
    if None in size:
        raise UserError("the model accepts any input size; cannot tell which size to evaluate at")
    folder = image_folder(data, size, validation_split, seed, test_split=test_split)
    classes = folder.class_names
    if split_info and split_info.get("class_names") not in (None, classes):
        raise UserError(f"{data}: its classes {classes} differ from the model's training classes")
    outputs = model.output_shape[-1]
    if outputs != len(classes):
        raise UserError(f"the model predicts {outputs} classes but {data} has {len(classes)}")
    ds = folder.dataset(split, batch_size=batch_size, shuffle=False)
    truth, predicted = [], []
    for x, y in ds:
        predicted.append(np.argmax(np.asarray(model.predict_on_batch(x)), axis=-1))
        truth.append(np.asarray(y))
    truth_a, pred_a = np.concatenate(truth), np.concatenate(predicted)
    confusion = np.zeros((len(classes), len(classes)), dtype=int)
    np.add.at(confusion, (truth_a, pred_a), 1)
    per_class = {
        name: (float(confusion[i, i] / confusion[i].sum()) if confusion[i].sum() else None)
        for i, name in enumerate(classes)
    }
    correct = int(np.trace(confusion))
    return {
        "split": split,
        "count": int(len(truth_a)),
        "errors": int(len(truth_a) - correct),
        "accuracy": correct / max(1, len(truth_a)),
        "class_names": classes,
        "per_class": per_class,
        "confusion": confusion.tolist(),
        "skipped": [{"path": p, "reason": r} for p, r in folder.skipped],
    }
