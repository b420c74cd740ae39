"""Recipe of ``gesture_cnn:sign-digits``: the gesture CNN on the Sign Language Digits photos.

The recipe is plain data (``RECIPE``), run by :func:`run` through the public API
(``kerascnn.training.data.image_folder``, ``kerascnn.train.fit``,
``kerascnn.training.evaluate``), so it doubles as an example. The split is kerascnn's
file-name hash split: ``sha256(seed, class/file)`` puts each photo in train or test,
about 80/20 per class, the same on every run and machine.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from kerascnn.atomic import atomic_path

__all__ = ["RECIPE", "build_augmentation", "run"]

RECIPE: dict[str, Any] = {
    "model": "gesture_cnn",
    "model_args": {"batch_norm": True, "hidden": 64, "dropout": 0.0},
    "data": "sign-language-digits/images",  # under ../shared/data
    "image_size": [64, 64],
    "split": {"seed": 0, "validation_split": 0.0, "test_split": 0.2},
    "augmentation": {"translation": 0.08, "zoom": 0.08, "rotation": 0.03, "contrast": 0.1},
    "optimizer": "adamw",
    "learning_rate": 1e-3,
    "schedule": "cosine",
    "epochs": 30,
    "batch_size": 32,
    "seed": 0,
    "weights_file": "gesture_cnn_sign_digits.weights.h5",
}


def build_augmentation(spec: dict[str, float], seed: int) -> Any:
    """Keras' random layers for a recipe's ``augmentation`` entry (training only)."""
    import keras

    steps = []
    if spec.get("translation"):
        t = spec["translation"]
        steps.append(keras.layers.RandomTranslation(t, t, fill_mode="nearest", seed=seed))
    if spec.get("zoom"):
        steps.append(keras.layers.RandomZoom(spec["zoom"], fill_mode="nearest", seed=seed))
    if spec.get("rotation"):
        steps.append(keras.layers.RandomRotation(spec["rotation"], fill_mode="nearest", seed=seed))
    if spec.get("contrast"):
        steps.append(keras.layers.RandomContrast(spec["contrast"], value_range=(0, 255), seed=seed))
    return keras.Sequential(steps, name="augmentation")


def run(
    data_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    epochs: int | None = None,
) -> dict[str, Any]:
    """Train on ``data_dir``; write the weights file into ``output_dir``; return the test result.

    ``epochs`` overrides the recipe's (for budget comparisons).
    """
    import keras

    from kerascnn.registry import create_model
    from kerascnn.training import engine as train
    from kerascnn.training import evaluate
    from kerascnn.training.data import image_folder

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
    shape = (*recipe["image_size"], 3)
    holder: dict[str, Any] = {}

    def build() -> Any:  # the zoo model behind the recipe's augmentation
        net = create_model(recipe["model"], input_shape=shape, classes=10, **recipe["model_args"])
        holder["net"] = net
        inputs = keras.Input(shape)
        augmented = build_augmentation(recipe["augmentation"], recipe["seed"])(inputs)
        return keras.Model(inputs, net(augmented), name=f"{recipe['model']}_training")

    start = time.perf_counter()
    history = train.fit(
        build,
        folder,
        epochs=epochs or recipe["epochs"],
        batch_size=recipe["batch_size"],
        optimizer=recipe["optimizer"],
        learning_rate=recipe["learning_rate"],
        schedule=recipe["schedule"],
        seed=recipe["seed"],
        output_dir=out,
        verbose=2,
    )
    seconds = time.perf_counter() - start
    net = history.model.get_layer(holder["net"].name)
    weights = out / recipe["weights_file"]
    with atomic_path(weights) as tmp:
        net.save_weights(tmp)
    result = evaluate.evaluate(net, data_dir, split="test", split_info=split)
    return {"train_seconds": seconds, "weights": str(weights), **result}
