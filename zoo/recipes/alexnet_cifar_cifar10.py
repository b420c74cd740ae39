"""Recipe of ``alexnet_cifar:cifar10``: a whitened AlexNet-style net trained on CIFAR-10.

Run it with ``kerascnn zoo reproduce alexnet_cifar:cifar10 --data DATA`` or
``python -m kerascnn.zoo.recipes.alexnet_cifar_cifar10 DATA OUTPUT_DIR [OVERRIDES_JSON]``
(``DATA``: ``cifar10-jpeg.zip`` or the folder holding it; ``OVERRIDES_JSON`` e.g.
``'{"epochs": 20}'``). It trains through ``kerascnn.fit`` on any Keras backend:
the archive is extracted once into class folders (``cifar_data.cifar_folder``), a
builder sets the model's fixed whitening layer from the training images
(``cifar_init.WhitenedBuilder``), and every other entry of :data:`RECIPE` is one of ``fit``'s
arguments (:func:`fit_args`). ``OUTPUT_DIR`` is the engine's run folder (rerunning an
interrupted recipe resumes it); the archive's test images are its validation set, so each
epoch's test accuracy is printed. The bundled weights are this recipe's output on
TensorFlow and 2 CPU cores (their card's ``training`` says how long it took).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from kerascnn.atomic import atomic_path
from kerascnn.errors import UserError
from kerascnn.zoo.recipes.cifar_data import (
    cifar_folder,
    fixed_sample,
    load_fixed_sample,
    read_split,
    split_arrays,
    whitening_kernel,
)
from kerascnn.zoo.recipes.cifar_init import WhitenedBuilder, builder_args

__all__ = [  # whitening_kernel, load_fixed_sample, WhitenedBuilder: from cifar_*, as before
    "FIT_ARGS", "RECIPE", "WhitenedBuilder", "at_epochs", "evaluate", "export_float16", "fit_args",
    "load_fixed_sample", "main", "run", "whitening_kernel", "with_overrides",
]  # fmt: skip

RECIPE: dict[str, Any] = {
    "model": "alexnet_cifar",
    "variant": "cifar10",
    "data": "cifar10-jpeg.zip: train/<class>/NNNN.jpg, test/<class>/NNNN.jpg (32x32 JPEG)",
    "split": "the archive's own: 50,000 train / 10,000 test (the validation set); classes sorted",
    "image_size": [32, 32],
    "model_args": {
        "filters": [64, 256, 256],
        "kernel_size": 3,
        "convs_per_stage": 2,
        "norm": "bn",
        "dense": [],
        "dropout": 0.0,
        "whiten": 2,
        "global_pool": "max",
        "early_pool": True,  # pool after each stage's first convolution, as airbench
        "head_scale": 1 / 9,  # the classifier learns 81x slower than the convolutions
    },
    "whitening": {"eps": 5e-4, "patches": 10000},
    # airbench's start (kerascnn.zoo.recipes.cifar_init): identity filters; no learned BN scale
    "identity_init": True,
    "fixed_bn_scale": True,
    # each image mirrored every other epoch; 2-pixel translations of the reflect-padded image
    "augmentation": {"flip": "alternate", "pad": 2, "pad_mode": "reflect"},
    "label_smoothing": 0.2,
    "optimizer": {"name": "sgd", "momentum": 0.9, "nesterov": True},
    "weight_decay": 1e-3,
    "bn_lr_mult": 1.0,  # batch-norm variables' rate multiple (airbench: 64, biases only)
    # linear rise from 0 to the peak rate over warmup_epochs, then linear fall to 0
    "learning_rate": 1.0,
    "schedule": "triangular",
    "warmup_epochs": 5,
    "epochs": 20,
    "batch_size": 512,
    # bfloat16 on GPUs, TPUs and AMX CPUs (the bundled weights' machine); float32 on CPUs that
    # would emulate it, 8x slower (kerascnn._devices, benchmarks/mixed_precision_cpu.py)
    "mixed_precision": "auto",
    "seed": 0,
    # the card's test-time augmentation (kerascnn.tta): the result reports both figures
    "tta": "flip+shift",
}
# the entries of RECIPE that are kerascnn.fit's arguments of the same name
FIT_ARGS = ("epochs", "batch_size", "optimizer", "learning_rate", "schedule", "warmup_epochs",
            "weight_decay", "bn_lr_mult", "label_smoothing", "augmentation", "model_args",
            "mixed_precision", "seed")  # fmt: skip


def fit_args(recipe: dict[str, Any]) -> dict[str, Any]:
    """The recipe's settings as ``kerascnn.fit`` keywords (copies of the dicts)."""
    return {k: dict(recipe[k]) if isinstance(recipe[k], dict) else recipe[k] for k in FIT_ARGS}


def export_float16(source: str | Path, target: str | Path, min_size: int = 1024) -> Path:
    """Copy a ``.weights.h5`` file without its optimizer state, arrays of ``min_size``+ values
    stored as float16.

    Small arrays (the whitening filters, biases, batch-norm statistics) stay float32;
    Keras casts the values back to the model's float32 variables on loading.
    """
    import h5py

    target = Path(target)
    # the HDF5 file closes before atomic_path renames it into place
    with atomic_path(target) as part, h5py.File(source, "r") as src, h5py.File(part, "w") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value

        def copy(name: str, item: Any) -> None:
            if name.split("/")[0] == "optimizer":  # training state, not needed to predict
                return
            if isinstance(item, h5py.Group):
                group = dst.require_group(name)
                for key, value in item.attrs.items():
                    group.attrs[key] = value
                return
            data = item[()]
            if data.dtype == np.float32 and data.size >= min_size:
                data = data.astype(np.float16)
            dst.create_dataset(name, data=data)
            for key, value in item.attrs.items():
                dst[name].attrs[key] = value

        src.visititems(copy)
    return target


def evaluate(
    recipe: dict[str, Any],
    weights: str | Path,
    x_test: np.ndarray,
    y_test: np.ndarray,
    classes: int = 10,
    tta: str = "none",
) -> dict[str, Any]:
    """Errors of the weights in a float32 model as users build it.

    Args:
        recipe, weights: the recipe (its model and builder arguments); the weights file.
        x_test, y_test, classes: the test images and integer labels; the number of classes.
        tta: test-time augmentation (``kerascnn.tta.MODES``), default none.
    """
    import kerascnn
    from kerascnn.tta import average, check_mode

    args = builder_args(recipe)
    model = kerascnn.create_model(recipe["model"], weights=str(weights), classes=classes, **args)
    probabilities = average(
        lambda x: model.predict(x, batch_size=1000, verbose=0), x_test, check_mode(tta)
    )
    wrong = np.argmax(probabilities, axis=1) != y_test
    return {
        "test_accuracy": round(100.0 * (1 - wrong.mean()), 2),
        "test_images": len(y_test),
        "errors": int(wrong.sum()),
        "fixed_sample_errors": int(wrong[fixed_sample(y_test)].sum()),
    }


# dict entries whose keys are the recipe's own (the others: builder, Keras, engine options)
_CLOSED = ("whitening",)


def with_overrides(recipe: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``recipe`` with ``overrides``; dict values are merged one level deep."""
    merged = dict(recipe)
    for key, value in overrides.items():
        if key not in recipe:
            raise UserError(f"unknown recipe key {key!r}; keys: {', '.join(sorted(recipe))}")
        if isinstance(value, dict) and isinstance(recipe[key], dict):
            unknown = sorted(set(value) - set(recipe[key]))
            if unknown and key in _CLOSED:
                known = ", ".join(sorted(recipe[key]))
                raise UserError(f"unknown key {unknown[0]!r} in recipe[{key!r}]; keys: {known}")
            value = {**recipe[key], **value}
        merged[key] = value
    return merged


def at_epochs(recipe: dict[str, Any], epochs: int) -> dict[str, Any]:
    """A copy of ``recipe`` trained for ``epochs``, its warm-up the same share of them (at
    least one epoch when it has one, and fewer than ``epochs``): the schedule's shape at
    another budget."""
    warmup = recipe["warmup_epochs"] or 0
    scaled = min(max(1, round(warmup * epochs / recipe["epochs"])), epochs - 1) if warmup else 0
    return with_overrides(recipe, {"epochs": epochs, "warmup_epochs": scaled})


def _check(recipe: dict[str, Any]) -> None:
    epochs, warmup = recipe["epochs"], recipe["warmup_epochs"] or 0
    if isinstance(epochs, int) and isinstance(warmup, int) and epochs <= warmup:
        raise UserError(
            f"epochs ({epochs}) must be more than warmup_epochs ({warmup}); "
            "raise epochs or lower warmup_epochs"
        )


def run(
    data: str | Path,
    output_dir: str | Path,
    recipe: dict[str, Any] | None = None,
    *,
    epochs: int | None = None,
    cache: str | Path | None = None,
    callbacks: list[Any] | None = None,
) -> dict[str, Any]:
    """Train the recipe on ``data`` through ``kerascnn.fit``; write float16 weights to
    the run folder ``output_dir``; return the test figures.

    Args:
        data, output_dir: the CIFAR-10 JPEG archive (or its folder); the run folder.
        recipe, epochs: default :data:`RECIPE`; other epochs (the schedule follows, its
            warm-up scaled by :func:`at_epochs`).
        cache: where the archive is extracted (default: kerascnn's cache folder).
        callbacks: Keras callbacks for ``fit`` (e.g. timing each epoch).
    """
    import keras

    from kerascnn.training import fit  # kerascnn.fit

    recipe = recipe or RECIPE
    recipe = recipe if epochs is None else at_epochs(recipe, epochs)
    _check(recipe)
    folder = cifar_folder(data, tuple(recipe["image_size"]), recipe["seed"], cache)
    out = Path(output_dir)
    start = time.perf_counter()
    history = fit(
        WhitenedBuilder(recipe, folder),
        folder,
        **fit_args(recipe),
        output_dir=out,
        callbacks=callbacks or (),
        verbose=2,
    )
    seconds = time.perf_counter() - start
    weights = out / f"{recipe['model']}_{recipe['variant']}.weights.h5"
    with tempfile.TemporaryDirectory() as tmp:
        history.model.save_weights(Path(tmp) / "full.weights.h5")
        export_float16(Path(tmp) / "full.weights.h5", weights)
    x_test, y_test = split_arrays(folder, "validation")  # the archive's test images
    result = evaluate(recipe, weights, x_test, y_test, len(folder.class_names))
    if recipe.get("tta", "none") != "none":
        views = evaluate(recipe, weights, x_test, y_test, len(folder.class_names), recipe["tta"])
        result.update(tta=recipe["tta"], accuracy_tta=views["test_accuracy"] / 100,
                      errors_tta=views["errors"])  # fmt: skip
    result.update(train_seconds=round(seconds), classes=folder.class_names, weights=str(weights))
    result.update(backend=keras.backend.backend(), epochs=recipe["epochs"])
    # the keys every recipe returns (see kerascnn.zoo.recipes)
    result.update(accuracy=round(result["test_accuracy"] / 100, 4), count=result["test_images"])
    return result  # kerascnn.zoo.recipes.reproduce keeps it in result.json


def _overrides(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise UserError(
            f"OVERRIDES_JSON must be a JSON object, got {text!r}; e.g. '{{\"epochs\": 20}}'"
        )
    return value


def main(argv: list[str] | None = None) -> None:
    """``python -m kerascnn.zoo.recipes.alexnet_cifar_cifar10 DATA OUT [OVERRIDES_JSON]``
    trains; ``... --evaluate DATA [WEIGHTS]`` scores WEIGHTS (default: the bundled file)
    on the archive's test images."""
    args = sys.argv[1:] if argv is None else argv
    evaluating = args[:1] == ["--evaluate"]
    if len(args) not in (2, 3) or (not evaluating and args[0].startswith("-")):
        raise SystemExit(main.__doc__)
    try:
        if evaluating:
            from kerascnn.registry import get_model_card
            from kerascnn.weights.cache import cached_path

            card = get_model_card(RECIPE["model"]).weights[RECIPE["variant"]]
            weights = args[2] if len(args) == 3 else cached_path(card)
            x_test, y_test, classes = read_split(args[1], "test")
            result = evaluate(RECIPE, weights, x_test, y_test, len(classes))
            print(json.dumps({**result, "card_top1": card.accuracy["top1"]}, indent=1))
            return
        from kerascnn.zoo.recipes import reproduce

        overrides = (
            {"recipe": with_overrides(RECIPE, _overrides(args[2]))} if len(args) == 3 else {}
        )
        spec = f"{RECIPE['model']}:{RECIPE['variant']}"
        print(json.dumps(reproduce(spec, args[0], args[1], **overrides), indent=1))
    except UserError as exc:
        raise SystemExit(f"Error: {exc}") from None


if __name__ == "__main__":
    main()
