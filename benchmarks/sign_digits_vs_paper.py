"""Our gesture recipe vs the CNN of Mavi (2020) on the Sign Language Digits, same split and budget.

    python benchmarks/sign_digits_vs_paper.py [--data DIR] [--epochs 30] [--output DIR]

(a) ``gesture_cnn:sign-digits``'s recipe (``zoo/recipes/gesture_cnn_sign_digits.py``);
(b) the CNN of arXiv:2011.08927 as its author's public code builds it
(ardamavi/Vocalize-Sign-Language, ``get_model.py``): a 64x64 grey input,
conv 3x3 32 - conv 3x3 64 - pool - conv 3x3 64 - pool - conv 3x3 128 - pool -
FC 526 - dropout 0.4 - FC 128 - FC 10 softmax, Adadelta (learning rate 1.0, the
Keras 2 default of the time), no augmentation. Both train through
``kerascnn.fit`` for the same number of epochs and batch size on the same
split (seed 0, 20% held out by a sha256 of each file name) and are scored on
the same 427 held-out photos. Prints accuracy, errors, training time and size.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sign-language-digits" / "images"
SPLIT = {"seed": 0, "validation_split": 0.0, "test_split": 0.2}


def paper_cnn(classes: int = 10):
    """The paper's CNN (see the module docstring), fed RGB [0, 255] and turning it grey itself."""
    import keras
    from keras import layers

    inputs = keras.Input((64, 64, 3))
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Lambda(lambda t: keras.ops.image.rgb_to_grayscale(t), name="grey")(x)
    for filters, pool in ((32, False), (64, True), (64, True), (128, True)):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        if pool:
            x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(526, activation="relu")(x)
    x = layers.Dropout(0.4)(x)
    x = layers.Dense(128, activation="relu")(x)
    outputs = layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="mavi2020_cnn")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--epochs", type=int, default=30, help="the recipe's budget")
    parser.add_argument("--output", type=Path, default=Path("runs/sign_digits_vs_paper"))
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"{args.data}: no data folder; pass --data")

    from kerascnn.training import engine as train
    from kerascnn.training.data import image_folder
    from kerascnn.training.evaluate import evaluate
    from kerascnn.zoo.recipes import get_recipe, reproduce

    recipe = get_recipe("gesture_cnn:sign-digits")
    rows = []
    ours = reproduce("gesture_cnn:sign-digits", args.data, args.output / "ours", epochs=args.epochs)
    rows.append(("ours: gesture_cnn recipe", ours, ours["train_seconds"], None))

    folder = image_folder(
        args.data,
        (64, 64),
        SPLIT["validation_split"],
        SPLIT["seed"],
        test_split=SPLIT["test_split"],
        batch_size=recipe["batch_size"],
    )
    start = time.perf_counter()
    history = train.fit(
        paper_cnn,
        folder,
        epochs=args.epochs,
        batch_size=recipe["batch_size"],
        optimizer="adadelta",
        learning_rate=1.0,
        seed=SPLIT["seed"],
        output_dir=args.output / "paper",
        verbose=2,
    )
    seconds = time.perf_counter() - start
    paper = evaluate(history.model, args.data, split="test", split_info=SPLIT).as_dict()
    rows.append(("Mavi (2020) CNN", paper, seconds, history.model.count_params()))

    print(f"\nSign Language Digits, {args.epochs} epochs each, batch {recipe['batch_size']}:")
    print(f"{'model':28s} {'test accuracy':>14s} {'errors':>10s} {'train s':>9s}")
    for name, result, secs, _ in rows:
        acc = f"{100 * result['accuracy']:.2f}%"
        errors = f"{result['errors']}/{result['count']}"
        print(f"{name:28s} {acc:>14s} {errors:>10s} {secs:9.0f}")
    print(f"time ratio (ours / paper's): {rows[0][2] / rows[1][2]:.2f}")
    summary = [
        {"model": n, "accuracy": r["accuracy"], "errors": r["errors"], "count": r["count"],
         "train_seconds": s}
        for n, r, s, _ in rows
    ]  # fmt: skip
    (args.output / "summary.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
