"""Each trick of the alexnet_cifar:cifar10 recipe switched off in turn, at a reduced budget.

Trains the recipe (``kerascnn.zoo.recipes.alexnet_cifar_cifar10``) as it is, then once per
trick with only that trick off, all at ``--epochs`` (the schedule follows, its warm-up the
same share of the epochs), through the same engine and seed. Each run is scored on the
10,000 test JPEGs without test-time augmentation and with ``flip+shift`` (so the TTA row
needs no run of its own). A trick the recipe does not use is listed as such, not run.
Finished rows are kept in ``OUT/ablation.json`` and every run folder resumes, so a killed
ablation continues where it stopped.

    python benchmarks/cifar_ablation.py [--data ../shared/data] [--epochs 4] [--out OUT]
        [--only ROW ...]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
from _data import cifar_recipe_arguments, cifar_recipe_test  # noqa: E402

from kerascnn.atomic import atomic_path  # noqa: E402
from kerascnn.zoo.recipes import alexnet_cifar_cifar10 as cifar  # noqa: E402

TTA = "flip+shift"
TRAIN_IMAGES = 50_000


def rows(recipe: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
    """Row name -> the overrides that switch one trick off (None: the recipe does not use it).
    Weight averaging, which the recipe leaves out, gets a row that switches it on."""
    optimizer, augmentation = recipe["optimizer"], recipe["augmentation"]
    steps = math.ceil(TRAIN_IMAGES / recipe["batch_size"])  # EMA copied in at each epoch's end
    ema = {"use_ema": True, "ema_momentum": 0.99, "ema_overwrite_frequency": steps}
    return {
        "recipe": {},
        "no whitening": {"model_args": {"whiten": 0}} if recipe["model_args"].get("whiten")
        else None,
        "random flips, not alternating": {"augmentation": {"flip": True}}
        if augmentation.get("flip") == "alternate" else None,
        "ReLU, not GELU": {"model_args": {"activation": "relu"}}
        if recipe["model_args"].get("activation") == "gelu" else None,
        "no head scale": {"model_args": {"head_scale": 1.0}}
        if recipe["model_args"].get("head_scale", 1) != 1 else None,
        "random start, not identity filters": {"identity_init": False}
        if recipe.get("identity_init") else None,
        "learned batch-norm scale": {"fixed_bn_scale": False}
        if recipe.get("fixed_bn_scale") else None,
        "no EMA": {"optimizer": {**optimizer, "use_ema": False}}
        if optimizer.get("use_ema") else None,
        "with EMA of the weights (not in the recipe)": {"optimizer": {**optimizer, **ema}}
        if not optimizer.get("use_ema") else None,
        "batch norm at the common rate": {"bn_lr_mult": 1.0}
        if recipe.get("bn_lr_mult", 1) != 1 else None,
        "batch norm at 64x the rate (not in the recipe)": {"bn_lr_mult": 64.0}
        if recipe.get("bn_lr_mult", 1) == 1 else None,
        "no label smoothing": {"label_smoothing": 0.0} if recipe["label_smoothing"] else None,
        "constant rate, not the schedule": {"schedule": "constant", "warmup_epochs": 0}
        if recipe["schedule"] not in (None, "constant") else None,
    }  # fmt: skip


def run_row(name: str, overrides: dict, args: argparse.Namespace, test: tuple) -> dict:
    """Train one row's recipe at ``args.epochs`` and score it without and with TTA."""
    recipe = cifar.at_epochs(cifar.with_overrides(cifar.RECIPE, overrides), args.epochs)
    folder = args.out / name.split(",")[0].replace(" ", "_")
    start = time.perf_counter()
    result = cifar.run(args.data / "cifar10-jpeg", folder, recipe)
    seconds = time.perf_counter() - start
    x_test, y_test, classes = test
    with_tta = cifar.evaluate(recipe, result["weights"], x_test, y_test, classes, tta=TTA)
    return {"row": name, "overrides": overrides, "top1": result["test_accuracy"],
            "top1_tta": with_tta["test_accuracy"], "train_seconds": result["train_seconds"],
            "wall_seconds": round(seconds)}  # fmt: skip


def print_table(results: dict[str, Any], args: argparse.Namespace) -> None:
    """The rows as a Markdown table, each against the recipe (a string: why not run)."""
    base = results["recipe"]
    print(
        f"\nalexnet_cifar:cifar10 recipe, {args.epochs} epochs, Keras {keras.__version__} "
        f"({keras.backend.backend()}), {os.cpu_count()} CPUs; test top-1 on 10,000 images"
    )
    print("| trick | top-1 | vs recipe | top-1, TTA | vs recipe | train s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, r in results.items():
        if isinstance(r, str):
            print(f"| {name} | {r} | | | | |")
            continue
        print(f"| {name} | {r['top1']:.2f}% | {r['top1'] - base['top1']:+.2f} | "
              f"{r['top1_tta']:.2f}% | {r['top1_tta'] - base['top1_tta']:+.2f} | "
              f"{r['train_seconds']} |")  # fmt: skip
    print(
        f"| test-time augmentation ({TTA}) | {base['top1']:.2f}% (none) | | "
        f"{base['top1_tta']:.2f}% | {base['top1'] - base['top1_tta']:+.2f} if off | |"
    )


def main() -> None:
    parser = cifar_recipe_arguments(__doc__, "runs/cifar_ablation")
    parser.add_argument("--only", nargs="*", help="Run only these rows (the recipe always).")
    args = parser.parse_args()
    store = args.out / "ablation.json"
    done = json.loads(store.read_text()) if store.exists() else {}
    if done.get("epochs", args.epochs) != args.epochs:
        raise SystemExit(f"Error: {store} holds {done['epochs']} epochs; pass --epochs "
                         f"{done['epochs']} or another --out")  # fmt: skip
    test = cifar_recipe_test(args.data, cifar.RECIPE["seed"])
    results: dict[str, Any] = {}
    for name, overrides in rows(cifar.RECIPE).items():
        kept = done.get("rows", {}).get(name)
        if overrides is None:
            results[name] = "not in the recipe"
        elif isinstance(kept, dict):
            results[name] = kept
        elif args.only and name != "recipe" and name not in args.only:
            results[name] = "not run (--only)"
        else:
            results[name] = run_row(name, overrides, args, test)
            print(json.dumps(results[name]), flush=True)
            finished = {k: v for k, v in results.items() if isinstance(v, dict)}
            with atomic_path(store) as part:  # only trained rows: the others are recomputed
                part.write_text(json.dumps({"epochs": args.epochs, "rows": finished}, indent=1))
    print_table(results, args)


if __name__ == "__main__":
    main()
