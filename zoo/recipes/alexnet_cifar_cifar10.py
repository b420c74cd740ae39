"""Recipe of ``alexnet_cifar:cifar10``: a whitened AlexNet-style net trained on CIFAR-10 on CPU.

Run it with ``python -m kerascnn.zoo.recipes.alexnet_cifar_cifar10 DATA OUTPUT_DIR``
(``DATA``: ``cifar10-jpeg.zip`` or the folder holding it). Each epoch's test accuracy is
printed and the weights are saved to ``OUTPUT_DIR`` after every epoch.
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

from kerascnn.errors import UserError

__all__ = [
    "RECIPE",
    "build_model",
    "compile_phase",
    "evaluate",
    "export_float16",
    "finetune",
    "fixed_sample",
    "load_cifar10",
    "load_fixed_sample",
    "run",
    "train",
    "whitening_kernel",
]

RECIPE: dict[str, Any] = {
    "model": "alexnet_cifar",
    "variant": "cifar10",
    "data": "cifar10-jpeg.zip: train/<class>/NNNN.jpg, test/<class>/NNNN.jpg (32x32 JPEG)",
    "split": "the archive's own: 50,000 train / 10,000 test; classes in sorted order",
    "model_args": {
        "filters": [64, 128, 256, 512],
        "kernel_size": 3,
        "convs_per_stage": 1,
        "norm": "bn",
        "dense": [],
        "dropout": 0.0,
        "whiten": 2,
    },
    "whitening": {"eps": 5e-4, "patches": 10000},
    "augmentation": {"flip": True, "pad_crop": 4, "pad_mode": "REFLECT"},
    "label_smoothing": 0.2,
    "optimizer": {"name": "sgd", "momentum": 0.9, "nesterov": True, "weight_decay": 5e-3},
    "schedule": {"name": "cosine", "peak_lr": 0.2, "warmup_epochs": 2},
    "epochs": 14,
    "finetune": {"epochs": 10, "peak_lr": 0.05},
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


def _augment(images: Any, labels: Any, pad: int, mode: str) -> tuple[Any, Any]:
    """Random horizontal flip and random ``pad``-pixel translation, per image of a batch."""
    import tensorflow as tf

    images = tf.image.random_flip_left_right(images)
    size = tf.shape(images)[1:3]
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode=mode)
    n = tf.shape(images)[0]
    dy = tf.random.uniform([n, 1], 0, 2 * pad + 1, dtype=tf.int32)
    dx = tf.random.uniform([n, 1], 0, 2 * pad + 1, dtype=tf.int32)
    padded = tf.gather(padded, dy + tf.range(size[0])[None], axis=1, batch_dims=1)
    padded = tf.gather(padded, dx + tf.range(size[1])[None], axis=2, batch_dims=1)
    return padded, labels


def build_model(recipe: dict[str, Any], x_train: np.ndarray) -> Any:
    """The recipe's model, whitening layer set from ``x_train``, compiled for training."""
    import keras

    import kerascnn

    keras.utils.set_random_seed(recipe["seed"])
    if recipe.get("mixed_precision"):
        keras.config.set_dtype_policy(recipe["mixed_precision"])
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in recipe["model_args"].items()}
    model = kerascnn.create_model(recipe["model"], **args)
    keras.config.set_dtype_policy("float32")
    if args.get("whiten"):
        w = recipe["whitening"]
        model.get_layer("whiten").set_weights(
            list(whitening_kernel(x_train, args["whiten"], w["eps"], w["patches"], recipe["seed"]))
        )
    return compile_phase(model, recipe, recipe["schedule"], recipe["epochs"], len(x_train))


def compile_phase(
    model: Any, recipe: dict[str, Any], schedule: dict[str, Any], epochs: int, images: int
) -> Any:
    """Compile ``model`` with a fresh optimizer: linear warm-up, then cosine decay to 0."""
    import keras

    steps = -(-images // recipe["batch_size"])
    warmup = schedule.get("warmup_epochs", 0)
    if warmup:
        lr = keras.optimizers.schedules.CosineDecay(
            0.0,
            decay_steps=steps * (epochs - warmup),
            warmup_target=schedule["peak_lr"],
            warmup_steps=steps * warmup,
        )
    else:
        lr = keras.optimizers.schedules.CosineDecay(schedule["peak_lr"], steps * epochs)
    opt = recipe["optimizer"]
    model.compile(
        optimizer=keras.optimizers.SGD(
            lr, momentum=opt["momentum"], nesterov=opt["nesterov"], weight_decay=opt["weight_decay"]
        ),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe["label_smoothing"]),
        metrics=["accuracy"],
    )
    return model


def _datasets(recipe: dict[str, Any], arrays: tuple[np.ndarray, ...], seed: int) -> tuple[Any, Any]:
    import tensorflow as tf

    x_train, y_train, x_test, y_test = arrays
    n_classes = int(y_train.max()) + 1
    aug = recipe["augmentation"]
    train = (
        tf.data.Dataset.from_tensor_slices((x_train, tf.one_hot(y_train, n_classes)))
        .shuffle(len(x_train), seed=seed, reshuffle_each_iteration=True)
        .batch(recipe["batch_size"])
        .map(lambda x, y: _augment(x, y, aug["pad_crop"], aug["pad_mode"]))
        .prefetch(2)
    )
    test = (
        tf.data.Dataset.from_tensor_slices((x_test, tf.one_hot(y_test, n_classes)))
        .batch(1000)
        .prefetch(2)
    )
    return train, test


def finetune(
    model: Any, recipe: dict[str, Any], arrays: tuple[np.ndarray, ...], callbacks: list
) -> Any:
    """The recipe's second phase: fresh optimizer and data order (seed + 1)."""
    import keras

    phase = recipe["finetune"]
    keras.utils.set_random_seed(recipe["seed"] + 1)
    compile_phase(model, recipe, phase, phase["epochs"], len(arrays[0]))
    train_data, test_data = _datasets(recipe, arrays, recipe["seed"] + 1)
    return train(model, train_data, test_data, phase["epochs"], callbacks)


def train(model: Any, train_data: Any, test_data: Any, epochs: int, callbacks: list) -> Any:
    """The training call (plain ``model.fit``; to become ``kerascnn.train.fit``)."""
    return model.fit(
        train_data, validation_data=test_data, epochs=epochs, callbacks=callbacks, verbose=2
    )


def export_float16(source: str | Path, target: str | Path, min_size: int = 1024) -> Path:
    """Copy a ``.weights.h5`` file without its optimizer state, arrays of ``min_size``+ values
    stored as float16.

    Small arrays (the whitening filters, biases, batch-norm statistics) stay float32;
    Keras casts the values back to the model's float32 variables on loading.
    """
    import h5py

    target = Path(target)
    part = target.with_name(target.name + ".part")
    with h5py.File(source, "r") as src, h5py.File(part, "w") as dst:
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
    part.replace(target)
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


def evaluate(recipe: dict[str, Any], weights: str | Path, x_test: np.ndarray, y_test: np.ndarray):
    """Errors of the weights in a float32 model as users build it (no test-time augmentation)."""
    import kerascnn

    args = {k: tuple(v) if isinstance(v, list) else v for k, v in recipe["model_args"].items()}
    model = kerascnn.create_model(recipe["model"], weights=str(weights), **args)
    predicted = np.argmax(model.predict(x_test, batch_size=1000, verbose=0), axis=1)
    wrong = predicted != y_test
    return {
        "test_accuracy": round(100.0 * (1 - wrong.mean()), 2),
        "test_images": len(y_test),
        "errors": int(wrong.sum()),
        "fixed_sample_errors": int(wrong[fixed_sample(y_test)].sum()),
    }


def run(data: str, output_dir: str, recipe: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train the recipe on ``data``; write float16 weights to ``output_dir``; test figures."""
    import keras

    recipe = recipe or RECIPE
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    x_train, y_train, x_test, y_test, classes = load_cifar10(data)
    model = build_model(recipe, x_train)
    arrays = (x_train, y_train, x_test, y_test)
    train_data, test_data = _datasets(recipe, arrays, recipe["seed"])
    checkpoint = out / "checkpoint.weights.h5"
    (out / "history.csv").unlink(missing_ok=True)
    callbacks = [
        keras.callbacks.ModelCheckpoint(checkpoint, save_weights_only=True),
        keras.callbacks.CSVLogger(out / "history.csv", append=True),
    ]
    start = time.perf_counter()
    train(model, train_data, test_data, recipe["epochs"], callbacks)
    if recipe.get("finetune"):  # a second, short cosine cycle from a small rate
        finetune(model, recipe, arrays, callbacks)
    seconds = time.perf_counter() - start
    model.save_weights(checkpoint)
    weights = export_float16(checkpoint, out / f"{recipe['model']}_{recipe['variant']}.weights.h5")
    result = evaluate(recipe, weights, x_test, y_test)
    result.update(train_seconds=round(seconds), classes=classes, weights=str(weights))
    # the keys every recipe returns (see kerascnn.zoo.recipes)
    result.update(accuracy=result["test_accuracy"] / 100, count=result["test_images"])
    (out / "result.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    return result


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], sys.argv[2]), indent=1))
