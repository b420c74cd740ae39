"""Recipe of ``gesture_cnn:sign-digits``: the gesture CNN on the Sign Language Digits photos.

The recipe is plain data (``RECIPE``), run by :func:`run` through the public API
(``kerascnn.training.data.image_folder``, ``kerascnn.fit``,
``kerascnn.training.evaluate``), so it doubles as an example: every training setting is
one of ``fit``'s arguments (:func:`fit_args`), and it trains on any Keras backend. The
split is kerascnn's file-name hash split: ``sha256(seed, class/file)`` puts each photo in
train or test, about 80/20 per class, the same on every run and machine.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from kerascnn.atomic import atomic_path

__all__ = ["FIT_ARGS", "RECIPE", "fit_args", "run"]

RECIPE: dict[str, Any] = {
    "model": "gesture_cnn",
    "model_args": {"batch_norm": True, "hidden": 64, "dropout": 0.0},
    "data": "sign-language-digits/images",  # under ../shared/data
    "image_size": [64, 64],
    "split": {"seed": 0, "validation_split": 0.0, "test_split": 0.2},
    # Keras' random layers (edges: nearest pixel), in this order, in training only
    "augmentation": {"translation": 0.08, "zoom": 0.08, "rotation": 0.03, "contrast": 0.1},
    "optimizer": "adamw",
    "learning_rate": 1e-3,
    "weight_decay": 0.004,  # Keras' AdamW default, which the published weights trained with
    "schedule": "cosine",
    "warmup_epochs": 0,
    "label_smoothing": 0.0,
    "epochs": 30,
    "batch_size": 32,
    "seed": 0,
    "weights_file": "gesture_cnn_sign_digits.weights.h5",
}
# the entries of RECIPE that are kerascnn.fit's arguments of the same name
FIT_ARGS = ("epochs", "batch_size", "optimizer", "learning_rate", "schedule", "warmup_epochs",
            "weight_decay", "label_smoothing", "augmentation", "model_args", "seed")  # fmt: skip


def fit_args(recipe: dict[str, Any]) -> dict[str, Any]:
    """The recipe's settings as ``kerascnn.fit`` keywords (copies of the dicts)."""
    return {k: dict(recipe[k]) if isinstance(recipe[k], dict) else recipe[k] for k in FIT_ARGS}


def run(
    data_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    epochs: int | None = None,
) -> dict[str, Any]:
    """Train on ``data_dir``; write the weights file into the run folder ``output_dir``;
    return the test result.

    ``epochs`` overrides the recipe's (for budget comparisons).
    """
    from kerascnn.training.data import image_folder
    from kerascnn.training.engine import fit
    from kerascnn.training.evaluate import evaluate

    recipe = RECIPE
    out = Path(output_dir)
    split = recipe["split"]
    folder = image_folder(
        data_dir,
        tuple(recipe["image_size"]),
        split["validation_split"],
        split["seed"],
        test_split=split["test_split"],
        batch_size=recipe["batch_size"],
    )
    settings = fit_args(recipe)
    if epochs:
        settings["epochs"] = epochs
    start = time.perf_counter()
    history = fit(recipe["model"], folder, **settings, output_dir=out, verbose=2)
    seconds = time.perf_counter() - start
    net = history.model
    weights = out / recipe["weights_file"]
    with atomic_path(weights) as tmp:
        net.save_weights(tmp)
    result = evaluate(net, data_dir, split="test", split_info=split)
    return {"train_seconds": seconds, "weights": str(weights), **result.as_dict()}
