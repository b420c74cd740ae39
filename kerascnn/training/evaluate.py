"""Evaluating a classifier on an image folder: accuracy, per-class accuracy, confusion matrix.

The folder's class folders are paired with the model's outputs by name when the model knows
its class names (its weights' card, its ``.classes.json``, its run's ``split.json``): a folder
may hold all of them or some, in any order. Folders whose names are not the model's classes are
refused, unless ``map_by_index=True`` pairs them by position (same count only), which the report
says (``mapped_by_index``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from kerascnn.errors import UserError
from kerascnn.training.result import EvalResult

__all__ = ["EvalResult", "evaluate", "model_classes", "pair_classes"]

_INDEX_FIX = "or pass map_by_index=True to pair them by position"
_BY_INDEX = {"map_by_index=True": "map_by_index"}  # the CLI says --map-by-index


def _shorten(names: list[str], most: int = 4) -> str:
    """``0, 1, ..., 9``: a list of names as one short line."""
    shown = names if len(names) <= most else [*names[: most - 2], "...", names[-1]]
    return ", ".join(map(str, shown))


def model_classes(loaded: Any, split_info: dict[str, Any] | None, outputs: int) -> Any:
    """The model's class names in the order of its outputs, or None when unknown."""
    names = loaded.classes or (split_info or {}).get("class_names")
    if not names:
        return None
    names = [str(n) for n in names]
    if len(names) != outputs:
        raise UserError(
            f"{loaded.source}: its class names list {len(names)} classes but the model predicts "
            f"{outputs}; fix or delete its class names (model.classes.json)"
        )
    return names


def pair_classes(
    data: Any, classes: list[str], model_classes: list[str] | None, outputs: int, by_index: bool
) -> tuple[list[int], list[str], bool]:
    """``(output index of each class folder, the report's class names, mapped_by_index)``.

    Args:
        data: the folder, for messages.
        classes: its class folders, in order.
        model_classes: the model's class names (``None``: outputs are the folders, in order).
        outputs: the model's number of outputs.
        by_index: pair differently named folders with the outputs in order.
    """
    if model_classes is None:  # a model without names: its outputs are the folders, in order
        if outputs != len(classes):
            raise UserError(
                f"the model predicts {outputs} classes but {data} has {len(classes)}; "
                "give the folder the model was trained on"
            )
        return list(range(outputs)), classes, False
    unknown = [name for name in classes if name not in model_classes]
    if not unknown:  # all of the model's classes or some of them, paired by name
        return [model_classes.index(name) for name in classes], model_classes, False
    theirs = f"the model's {len(model_classes)} classes ({_shorten(model_classes)})"
    if len(classes) != len(model_classes):
        predicts = f"the model predicts {len(model_classes)} classes ({_shorten(model_classes)})"
        if by_index:
            raise UserError(
                f"{predicts} but {data} has {len(classes)} class folders ({_shorten(classes)}), "
                f"which map_by_index=True cannot pair by position; evaluate on a folder with "
                f"{len(model_classes)} class folders",
                arguments=_BY_INDEX,
            )
        raise UserError(
            f"{predicts} but {data} has {len(classes)} class folders, and "
            f"{_shorten(unknown)} {'is' if len(unknown) == 1 else 'are'} not among them; "
            "evaluate on a folder whose class folders are the model's classes (all or some)"
        )
    if not by_index:
        are = "are not" if len(unknown) == len(classes) else "are not among"
        raise UserError(
            f"{data}: its class folders ({_shorten(unknown)}) {are} {theirs}; evaluate on a "
            f"folder with the model's class folders, {_INDEX_FIX}",
            arguments=_BY_INDEX,
        )
    return list(range(outputs)), classes, True


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
    map_by_index: bool = False,
) -> EvalResult:
    """Accuracy, per-class accuracy and ``confusion`` (rows: true class) of ``model`` on ``split``.

    Args:
        model: anything :func:`kerascnn.load` takes (a bare zoo name: its default weights).
        data: a folder of class sub-folders, named as the model's classes (all or some).
        split: ``"train"``, ``"validation"``, ``"test"`` or ``"all"`` (the whole folder).
        split_info: a run's ``split.json`` or a card's ``split``; default: the model's own.
        validation_split, test_split, seed: the split when none is recorded.
        batch_size: images per batch.
        map_by_index: pair class folders whose names are not the model's classes with its
            outputs by position (as many folders as classes); the result's ``mapped_by_index``.

    Returns:
        An :class:`EvalResult`: its ``class_names`` (the confusion matrix's order) are the
        model's classes when they are known and paired by name, else the folder's;
        ``model_class_names`` the model's (None when unknown), ``folder_class_names`` the
        folder's.
    """
    from kerascnn.resolve import load
    from kerascnn.training.data import image_folder
    from kerascnn.training.feeds import split_batches

    loaded = load(model)
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
    outputs = model.output_shape[-1]
    names = model_classes(loaded, split_info, outputs)
    to_output, classes, mapped = pair_classes(
        data, folder.class_names, names, outputs, map_by_index
    )
    truth, predicted = [], []
    for x, y in split_batches(folder, split, batch_size):
        x = loaded.preprocess(np.asarray(x))
        predicted.append(np.argmax(np.asarray(model.predict_on_batch(x)), axis=-1))
        truth.append(np.asarray(to_output)[np.asarray(y)])
    truth_a, pred_a = np.concatenate(truth), np.concatenate(predicted)
    confusion = np.zeros((len(classes), len(classes)), dtype=int)
    np.add.at(confusion, (truth_a, pred_a), 1)
    per_class = {
        name: (float(confusion[i, i] / confusion[i].sum()) if confusion[i].sum() else None)
        for i, name in enumerate(classes)
    }
    correct = int(np.trace(confusion))
    return EvalResult(
        split=split,
        count=int(len(truth_a)),
        errors=int(len(truth_a) - correct),
        accuracy=correct / max(1, len(truth_a)),
        class_names=classes,
        model_class_names=names,
        folder_class_names=folder.class_names,
        mapped_by_index=mapped,
        per_class=per_class,
        confusion=confusion.tolist(),
        skipped=list(folder.skipped),
    )
