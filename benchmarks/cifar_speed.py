"""The alexnet_cifar:cifar10 recipe against the previous one: test accuracy against time.

Both recipes train through ``kerascnn.fit`` at the same reduced ``--epochs`` (each schedule
follows, its warm-up the same share of the epochs), one after the other in one run, on the
same data and seed. After each epoch the test accuracy (the run's validation set) and the
training seconds so far are recorded; at the end both weights are scored on the 10,000 test
JPEGs, without and with ``flip+shift`` TTA. Prints a Markdown table per epoch and the ratio
of the two runs' training times.

    python benchmarks/cifar_speed.py [--data ../shared/data] [--epochs 4] [--out OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
from _data import cifar_recipe_arguments, cifar_recipe_test  # noqa: E402

from kerascnn.zoo.recipes import alexnet_cifar_cifar10 as cifar  # noqa: E402

# the recipe of the weights bundled before (88.89% after its 40 epochs): late pools, average
# pooling, 4-pixel translations, random flips, cosine schedule, no head scale
PREVIOUS: dict[str, Any] = {
    "model_args": {"filters": [64, 256, 256], "kernel_size": 3, "convs_per_stage": 2,
                   "norm": "bn", "dense": [], "dropout": 0.0, "whiten": 2,
                   "global_pool": "avg"},
    "augmentation": {"flip": True, "pad": 4, "pad_mode": "reflect"},
    "label_smoothing": 0.2,
    "optimizer": {"name": "sgd", "momentum": 0.9, "nesterov": True},
    "weight_decay": 5e-3,
    "learning_rate": 0.2,
    "schedule": "cosine",
    "warmup_epochs": 2,
    "epochs": 40,
    "batch_size": 512,
}  # fmt: skip


class EpochClock(keras.callbacks.Callback):
    """Training seconds (validation excluded) and test accuracy after each epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, float]] = []
        self.seconds = 0.0

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.last = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.seconds += self.last - self.start
        accuracy = float((logs or {}).get("val_accuracy", float("nan")))
        self.rows.append({"epoch": epoch + 1, "seconds": self.seconds, "accuracy": accuracy})


def train(name: str, recipe: dict[str, Any], args: argparse.Namespace, test: tuple) -> dict:
    """One recipe at ``args.epochs``: its per-epoch clock and final scores."""
    recipe = cifar.at_epochs(recipe, args.epochs)
    clock = EpochClock()
    result = cifar.run(args.data / "cifar10-jpeg", args.out / name, recipe, callbacks=[clock])
    x_test, y_test, classes = test
    tta = cifar.evaluate(recipe, result["weights"], x_test, y_test, classes, tta="flip+shift")
    print(f"{name}: {result['test_accuracy']:.2f}% ({tta['test_accuracy']:.2f}% with TTA) "
          f"after {clock.seconds:.0f} s of training", flush=True)  # fmt: skip
    return {"epochs": clock.rows, "top1": result["test_accuracy"],
            "top1_tta": tta["test_accuracy"], "train_seconds": clock.seconds}  # fmt: skip


def main() -> None:
    parser = cifar_recipe_arguments(__doc__, "runs/cifar_speed")
    args = parser.parse_args()
    if (args.out / "previous").exists() or (args.out / "recipe").exists():
        raise SystemExit(f"Error: {args.out} holds earlier runs; pass another --out")
    test = cifar_recipe_test(args.data, cifar.RECIPE["seed"])
    runs = {"previous": train("previous", {**cifar.RECIPE, **PREVIOUS}, args, test),
            "recipe": train("recipe", dict(cifar.RECIPE), args, test)}  # fmt: skip
    print(
        f"\n{args.epochs} epochs each, Keras {keras.__version__} ({keras.backend.backend()}), "
        f"{os.cpu_count()} CPUs; test top-1 after each epoch, training seconds so far"
    )
    print("| epoch | previous s | previous top-1 | recipe s | recipe top-1 |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for old, new in zip(runs["previous"]["epochs"], runs["recipe"]["epochs"], strict=True):
        print(f"| {old['epoch']} | {old['seconds']:.0f} | {old['accuracy']:.2%} | "
              f"{new['seconds']:.0f} | {new['accuracy']:.2%} |")  # fmt: skip
    for name, r in runs.items():
        print(f"{name}: {r['top1']:.2f}% (TTA {r['top1_tta']:.2f}%), {r['train_seconds']:.0f} s")
    ratio = runs["previous"]["train_seconds"] / runs["recipe"]["train_seconds"]
    print(f"training time, previous / recipe: {ratio:.2f}x")
    (args.out / "speed.json").write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
