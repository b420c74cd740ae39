"""Evaluating a classifier on an image folder: accuracy, per-class accuracy, confusion matrix."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from kerascnn.errors import UserError

__all__ = ["evaluate"]


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
    """Accuracy, per-class accuracy and ``confusion`` (rows: true class) of ``model`` on ``split``.

    Args:
        model: anything :func:`kerascnn.load` takes (a bare zoo name: its default weights).
        data: a folder of class sub-folders.
        split: ``"train"``, ``"validation"``, ``"test"`` or ``"all"``.
        split_info: a run's ``split.json`` or a card's ``split``; default: the model's own.
        validation_split, test_split, seed: the split when none is recorded.
        batch_size: images per batch.
    """
    from kerascnn.resolve import load
    from kerascnn.training.data import image_folder
    from kerascnn.training.feeds import split_batches

    loaded = load(model, default_weights=True)
    if not loaded.pretrained:
        raise UserError(
            f"{loaded.source}: evaluating needs trained weights; use NAME:VARIANT, "
            "a .keras file or a run folder"
        )
    model, split_info = loaded.model, split_info or loaded.split
    if split_info:
        seed = split_info.get("seed", seed)
        validation_split = split_info.get("validation_split", validation_split)
        test_split = split_info.get("test_split", test_split)
    folder = image_folder(data, loaded.input_size, validation_split, seed, test_split=test_split)
    classes = folder.class_names
    if split_info and split_info.get("class_names") not in (None, classes):
        raise UserError(
            f"{data}: its classes {classes} differ from the model's training classes; "
            "evaluate on a folder with the same class folders"
        )
    outputs = model.output_shape[-1]
    if outputs != len(classes):
        raise UserError(
            f"the model predicts {outputs} classes but {data} has {len(classes)}; "
            "give the folder the model was trained on"
        )
    truth, predicted = [], []
    for x, y in split_batches(folder, split, batch_size):
        x = loaded.preprocess(np.asarray(x))
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
