"""Recipe of ``alexnet_cifar:cifar10``: a whitened AlexNet-style net trained on CIFAR-10.

Run it with ``kerascnn zoo reproduce alexnet_cifar:cifar10 --data DATA`` or
``python -m kerascnn.zoo.recipes.alexnet_cifar_cifar10 DATA OUTPUT_DIR [OVERRIDES_JSON]``
(``DATA``: ``cifar10-jpeg.zip`` or the folder holding it; ``OVERRIDES_JSON`` e.g.
``'{"epochs": 20}'``). Each epoch's test accuracy is printed and the weights are saved
to ``OUTPUT_DIR`` after every epoch. The input pipeline is numpy (a ``keras.utils.PyDataset``)
and training is ``model.fit``, so the recipe runs on every Keras backend: the published
weights were trained with ``KERAS_BACKEND=jax`` on one GPU (see the weight card).
"""

from __future__ import annotations

import io
import json
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from kerascnn.atomic import atomic_path, write_json
from kerascnn.errors import UserError

__all__ = [
    "RECIPE",
    "augmented_images",
    "build_model",
    "compile_model",
    "evaluate",
    "export_float16",
    "fixed_sample",
    "load_cifar10",
    "load_fixed_sample",
    "main",
    "run",
    "train",
    "whitening_kernel",
    "with_overrides",
]

RECIPE: dict[str, Any] = {
    "model": "alexnet_cifar",
    "variant": "cifar10",
    "data": "cifar10-jpeg.zip: train/<class>/NNNN.jpg, test/<class>/NNNN.jpg (32x32 JPEG)",
    "split": "the archive's own: 50,000 train / 10,000 test; classes in sorted order",
    "model_args": {
        "filters": [64, 256, 256],
        "kernel_size": 3,
        "convs_per_stage": 2,
        "norm": "bn",
        "dense": [],
        "dropout": 0.0,
        "whiten": 2,
        "global_pool": "avg",
    },
    "whitening": {"eps": 5e-4, "patches": 10000},
    "augmentation": {"flip": True, "pad_crop": 4, "pad_mode": "REFLECT"},
    "label_smoothing": 0.2,
    "optimizer": {"name": "sgd", "momentum": 0.9, "nesterov": True, "weight_decay": 5e-3},
    "schedule": {"name": "cosine", "peak_lr": 0.2, "warmup_epochs": 2},
    "epochs": 40,
    "batch_size": 512,
    "mixed_precision": "mixed_bfloat16",
    "seed": 0,
}


def load_cifar10(data: str | Path) -> tuple[np.ndarray, ...]:
    """``(x_train, y_train, x_test, y_test, classes)`` from the JPEG archive, uint8 pixels."""
    from PIL import Image

    path = Path(data)
    if path.is_dir():
        path = path / "cifar10-jpeg.zip"
    if not path.is_file():
        raise UserError(f"{data}: no cifar10-jpeg.zip there; pass the archive or its folder")
    split: dict[str, tuple[list[np.ndarray], list[str]]] = {"train": ([], []), "test": ([], [])}
    with zipfile.ZipFile(path) as archive:
        for member in sorted(archive.namelist()):
            parts = member.split("/")
            if len(parts) != 3 or parts[0] not in split or not parts[2].endswith(".jpg"):
                continue
            with Image.open(io.BytesIO(archive.read(member))) as image:
                split[parts[0]][0].append(np.asarray(image.convert("RGB"), dtype=np.uint8))
            split[parts[0]][1].append(parts[1])
    classes = sorted(set(split["train"][1]))
    index = {name: i for i, name in enumerate(classes)}
    arrays: list[Any] = []
    for images, labels in split.values():
        arrays += [np.stack(images), np.array([index[c] for c in labels], dtype=np.int32)]
    return (*arrays, classes)


def whitening_kernel(images: np.ndarray, patch: int, eps: float, count: int, seed: int):
    """PCA-whitening filters of ``patch x patch`` patches: ``(kernel, bias)`` for a Conv2D.

    Each eigenvector ``v`` of the patch covariance, scaled by ``1/sqrt(lambda + eps)``,
    appears as ``v`` and ``-v``; the bias centres the patches. Pixels are taken /255.

    Args:
        images, patch, eps: the training images; the patch side; added to the eigenvalues.
        count, seed: how many images (drawn at random) the covariance is taken over.
    """
    rng = np.random.default_rng(seed)
    x = (
        images[rng.choice(len(images), min(count, len(images)), replace=False)].astype(np.float64)
        / 255.0
    )
    h, w, c = x.shape[1:]
    patches = np.stack(
        [
            x[:, i : i + h - patch + 1, j : j + w - patch + 1]
            for i in range(patch)
            for j in range(patch)
        ],
        axis=3,
    ).reshape(-1, patch * patch * c)  # order (kh, kw, channel) as a Keras kernel
    mean = patches.mean(axis=0)
    eigval, eigvec = np.linalg.eigh(np.cov(patches, rowvar=False))
    filters = eigvec / np.sqrt(eigval + eps)  # columns
    filters = np.concatenate([filters, -filters], axis=1) / 255.0  # model sees [0, 255]
    kernel = filters.reshape(patch, patch, c, -1)
    bias = -(mean * 255.0) @ filters
    return kernel.astype(np.float32), bias.astype(np.float32)


def augmented_images(
    x: np.ndarray, y: np.ndarray, batch_size: int, augmentation: dict[str, Any], seed: int
) -> Any:
    """A ``keras.utils.PyDataset`` of shuffled, flipped, randomly translated training batches.

    Backend-neutral (numpy): each epoch draws a new order, flips and translations for all
    images at once; labels are one-hot float32.

    Args:
        x, y, batch_size: the images and integer labels; the batch size.
        augmentation: ``flip``, ``pad_crop`` (pixels of translation) and ``pad_mode``
            (``"REFLECT"`` or ``"CONSTANT"``).
        seed: the random seed.
    """
    import keras

    classes = int(y.max()) + 1
    onehot = keras.utils.to_categorical(y, classes).astype(np.float32)
    pad = int(augmentation.get("pad_crop", 0))
    mode = augmentation.get("pad_mode", "REFLECT")
    if mode not in ("REFLECT", "CONSTANT"):
        raise UserError(f"pad_mode must be REFLECT or CONSTANT, got {mode!r}; use one of them")

    class _Epochs(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.on_epoch_end()

        def __len__(self) -> int:
            return -(-len(x) // batch_size)

        def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
            part = slice(i * batch_size, (i + 1) * batch_size)
            return self.images[part].astype(np.float32), self.labels[part]

        def on_epoch_end(self) -> None:
            order = self.rng.permutation(len(x))
            images = x[order]
            if augmentation.get("flip"):
                flip = self.rng.random(len(images)) < 0.5
                images[flip] = images[flip, :, ::-1]
            if pad:
                h, w = images.shape[1:3]
                padded = np.pad(images, [(0, 0), (pad, pad), (pad, pad), (0, 0)], mode=mode.lower())
                dy, dx = self.rng.integers(0, 2 * pad + 1, (2, len(images)))
                for oy in range(2 * pad + 1):
                    for ox in range(2 * pad + 1):
                        at = np.flatnonzero((dy == oy) & (dx == ox))
                        images[at] = padded[at, oy : oy + h, ox : ox + w]
            self.images, self.labels = images, onehot[order]

    return _Epochs()


def _builder_args(recipe: dict[str, Any]) -> dict[str, Any]:
    """The recipe's ``model_args`` as builder keywords (JSON lists become tuples)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in recipe["model_args"].items()}


def build_model(recipe: dict[str, Any], x_train: np.ndarray, classes: int = 10) -> Any:
    """The recipe's model, whitening layer set from ``x_train``, compiled for training."""
    import keras

    import kerascnn

    keras.utils.set_random_seed(recipe["seed"])
    if recipe.get("mixed_precision"):
        keras.config.set_dtype_policy(recipe["mixed_precision"])
    args = _builder_args(recipe)
    model = kerascnn.create_model(recipe["model"], classes=classes, **args)
    keras.config.set_dtype_policy("float32")
    if args.get("whiten"):
        w = recipe["whitening"]
        model.get_layer("whiten").set_weights(
            list(whitening_kernel(x_train, args["whiten"], w["eps"], w["patches"], recipe["seed"]))
        )
    return compile_model(model, recipe, len(x_train))


def compile_model(model: Any, recipe: dict[str, Any], images: int) -> Any:
    """Compile ``model``: SGD, linear warm-up to the peak rate, then cosine decay to 0."""
    import keras

    steps = -(-images // recipe["batch_size"])
    schedule, epochs = recipe["schedule"], recipe["epochs"]
    warmup = schedule.get("warmup_epochs", 0)
    if epochs <= warmup:
        raise UserError(
            f"epochs ({epochs}) must be more than schedule.warmup_epochs ({warmup}); "
            "raise epochs or lower warmup_epochs"
        )
    lr = keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else schedule["peak_lr"],
        decay_steps=steps * (epochs - warmup),
        warmup_target=schedule["peak_lr"] if warmup else None,
        warmup_steps=steps * warmup,
    )
    opt = recipe["optimizer"]
    model.compile(
        optimizer=keras.optimizers.SGD(
            lr, momentum=opt["momentum"], nesterov=opt["nesterov"], weight_decay=opt["weight_decay"]
        ),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe["label_smoothing"]),
        metrics=["accuracy"],
    )
    return model


def train(model: Any, recipe: dict[str, Any], arrays: tuple[np.ndarray, ...], callbacks: list):
    """The training call: ``model.fit`` on the augmented batches, test accuracy every epoch.

    Args:
        model, recipe, callbacks: the compiled model; the recipe; ``model.fit``'s callbacks.
        arrays: ``(x_train, y_train, x_test, y_test)``.
    """
    import keras

    x_train, y_train, x_test, y_test = arrays
    batches = augmented_images(
        x_train, y_train, recipe["batch_size"], recipe["augmentation"], recipe["seed"]
    )
    classes = int(y_train.max()) + 1
    test = (x_test.astype(np.float32), keras.utils.to_categorical(y_test, classes))
    return model.fit(
        batches,
        validation_data=test,
        validation_batch_size=1000,
        epochs=recipe["epochs"],
        callbacks=callbacks,
        verbose=2,
    )


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


def fixed_sample(labels: np.ndarray, per_class: int = 10) -> np.ndarray:
    """Indices of the fixed test sample: the first ``per_class`` images of each class."""
    return np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)])


def load_fixed_sample(data: str | Path, per_class: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The fixed test sample read straight from the archive (images in file-name order)."""
    from PIL import Image

    path = Path(data)
    path = path / "cifar10-jpeg.zip" if path.is_dir() else path
    with zipfile.ZipFile(path) as archive:
        names = sorted(
            n for n in archive.namelist() if n.startswith("test/") and n.endswith(".jpg")
        )
        classes = sorted({n.split("/")[1] for n in names})
        chosen = [
            n for c in classes for n in [m for m in names if m.split("/")[1] == c][:per_class]
        ]
        images = []
        for name in chosen:
            with Image.open(io.BytesIO(archive.read(name))) as image:
                images.append(np.asarray(image.convert("RGB"), dtype=np.uint8))
    labels = np.array([classes.index(n.split("/")[1]) for n in chosen], dtype=np.int32)
    return np.stack(images), labels


def evaluate(
    recipe: dict[str, Any],
    weights: str | Path,
    x_test: np.ndarray,
    y_test: np.ndarray,
    classes: int = 10,
) -> dict[str, Any]:
    """Errors of the weights in a float32 model as users build it (no test-time augmentation).

    Args:
        recipe, weights: the recipe (its model and builder arguments); the weights file.
        x_test, y_test, classes: the test images and integer labels; the number of classes.
    """
    import kerascnn

    args = _builder_args(recipe)
    model = kerascnn.create_model(recipe["model"], weights=str(weights), classes=classes, **args)
    predicted = np.argmax(model.predict(x_test, batch_size=1000, verbose=0), axis=1)
    wrong = predicted != y_test
    return {
        "test_accuracy": round(100.0 * (1 - wrong.mean()), 2),
        "test_images": len(y_test),
        "errors": int(wrong.sum()),
        "fixed_sample_errors": int(wrong[fixed_sample(y_test)].sum()),
    }


def with_overrides(recipe: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``recipe`` with ``overrides``; dict values are merged one level deep."""
    merged = dict(recipe)
    for key, value in overrides.items():
        if key not in recipe:
            raise UserError(f"unknown recipe key {key!r}; keys: {', '.join(sorted(recipe))}")
        if isinstance(value, dict) and isinstance(recipe[key], dict):
            unknown = sorted(set(value) - set(recipe[key]))
            if unknown and key != "model_args":  # model_args: any builder argument
                known = ", ".join(sorted(recipe[key]))
                raise UserError(f"unknown key {unknown[0]!r} in recipe[{key!r}]; keys: {known}")
            value = {**recipe[key], **value}
        merged[key] = value
    return merged


def run(
    data: str | Path,
    output_dir: str | Path,
    recipe: dict[str, Any] | None = None,
    *,
    epochs: int | None = None,
) -> dict[str, Any]:
    """Train the recipe on ``data``; write float16 weights to ``output_dir``; test figures.

    Args:
        data, output_dir: the CIFAR-10 JPEG archive (or its folder); the folder written.
        recipe, epochs: default :data:`RECIPE`; overrides its epochs (the schedule follows).
    """
    import keras

    recipe = with_overrides(recipe or RECIPE, {} if epochs is None else {"epochs": epochs})
    x_train, y_train, x_test, y_test, classes = load_cifar10(data)  # bad data: nothing written
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = build_model(recipe, x_train, len(classes))
    checkpoint = out / "checkpoint.weights.h5"
    (out / "history.csv").unlink(missing_ok=True)

    def save_checkpoint(epoch: int, logs: Any = None) -> None:  # whole or not at all
        with atomic_path(checkpoint) as tmp:
            model.save_weights(tmp)

    from kerascnn.training.callbacks import RunHistory
    from kerascnn.training.run import RunFolder

    callbacks = [
        keras.callbacks.LambdaCallback(on_epoch_end=save_checkpoint),
        RunHistory(RunFolder(out)),  # history.csv and history.png, atomically
    ]
    start = time.perf_counter()
    train(model, recipe, (x_train, y_train, x_test, y_test), callbacks)
    seconds = time.perf_counter() - start  # the checkpoint holds the last epoch's weights
    weights = export_float16(checkpoint, out / f"{recipe['model']}_{recipe['variant']}.weights.h5")
    checkpoint.unlink()
    result = evaluate(recipe, weights, x_test, y_test, len(classes))
    result.update(train_seconds=round(seconds), classes=classes, weights=str(weights))
    result.update(backend=keras.backend.backend(), epochs=recipe["epochs"])
    # the keys every recipe returns (see kerascnn.zoo.recipes)
    result.update(accuracy=result["test_accuracy"] / 100, count=result["test_images"])
    write_json(out / "result.json", result)
    return result


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
            bundled = cached_path(card)
            weights = args[2] if len(args) == 3 else bundled
            *_, x_test, y_test, classes = load_cifar10(args[1])
            result = evaluate(RECIPE, weights, x_test, y_test, len(classes))
            print(json.dumps({**result, "card_top1": card.accuracy["top1"]}, indent=1))
            return
        recipe = with_overrides(RECIPE, _overrides(args[2]) if len(args) == 3 else {})
        print(json.dumps(run(args[0], args[1], recipe), indent=1))
    except UserError as exc:
        raise SystemExit(f"Error: {exc}") from None


if __name__ == "__main__":
    main()
