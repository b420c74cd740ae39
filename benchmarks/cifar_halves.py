"""CIFAR-10 half-to-half transfer (Yosinski et al. 2014), for ``transfer_vs_scratch.py``.

A = {airplane, automobile, bird, cat, deer}, B = {dog, frog, horse, ship, truck}.
``alexnet_cifar`` is pretrained on A's 25,000 training images through
``kerascnn.fit`` with the ``alexnet_cifar:cifar10`` recipe's settings (``--pretrain-epochs``,
default the recipe's); the run folder is cached with its sha256 and A-test accuracy in
``pretrain.json``.
Then for each ``--per-class`` n and seed, n training images per B class are drawn
and three models trained on them with the same epochs, batch, augmentation and
images (the budget of ``kerascnn finetune``'s defaults):

- ``kerascnn.transfer.finetune`` from the A weights (its default arguments);
- the same, with layer-wise learning-rate decay ``--lr-decay``;
- ``alexnet_cifar`` from scratch, trained as ``kerascnn train`` trains it (the
  card's architecture arguments, optimizer, schedule, weight decay, label smoothing and
  augmentation: what a user gets without the recipe), scored as trained and again with its
  batch-norm statistics re-estimated.

Every score is the accuracy on all 5,000 B test images.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path
from statistics import mean, stdev

import numpy as np

A = ("airplane", "automobile", "bird", "cat", "deer")
B = ("dog", "frog", "horse", "ship", "truck")
MODEL = "alexnet_cifar"


def extract(zpath: Path, out: Path, limit: int | None) -> Path:
    """The halves as folders of links into the archive, extracted once by the CIFAR-10
    recipe (``cifar_data.extract_archive``): ``out/{A,B}/{train,test}/<class>``, at most
    ``limit`` images per class and split."""
    from kerascnn.zoo.recipes.cifar_data import extract_archive

    if (out / "done.json").is_file():
        return out
    root, _ = extract_archive(zpath, out.parent / "archive")
    for split in ("train", "test"):
        for cls in A + B:
            target = out / ("A" if cls in A else "B") / split / cls
            target.mkdir(parents=True, exist_ok=True)
            for file in sorted((root / split / cls).iterdir())[:limit]:
                (target / file.name).symlink_to(file)
    (out / "done.json").write_text(json.dumps({"limit": limit, "archive": str(root)}))
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_arrays(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Every image of a folder of class folders, decoded once: (pixels, labels)."""
    from kerascnn.training.data import image_folder

    ds = image_folder(folder, (32, 32), validation_split=0.0, batch_size=500, cache=False).train
    xs, ys = zip(*((np.asarray(x), np.asarray(y)) for x, y in ds), strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def score(model, test: tuple[np.ndarray, np.ndarray]) -> float:
    logits = model.predict(test[0], batch_size=500, verbose=0)
    return float(np.mean(np.argmax(logits, axis=-1) == test[1]))


def pretrain(images: Path, cache: Path, epochs: int | None) -> tuple[Path, dict]:
    """A float32 ``alexnet_cifar`` trained by the ``alexnet_cifar:cifar10`` recipe's settings
    (its whitening, start, optimizer, schedule, augmentation and bfloat16 compute; ``epochs``
    with the schedule's shape, default the recipe's) on A's training images, A's test images
    as its validation split. The run folder's name holds a hash of those settings; the file
    is trained once, then reused while its sha256 matches ``pretrain.json``."""
    import kerascnn
    from kerascnn.training.run import RunFolder
    from kerascnn.zoo.recipes import alexnet_cifar_cifar10 as cifar
    from kerascnn.zoo.recipes.cifar_data import split_folder
    from kerascnn.zoo.recipes.cifar_init import WhitenedBuilder

    recipe = cifar.RECIPE if epochs is None else cifar.at_epochs(cifar.RECIPE, epochs)
    epochs, key = recipe["epochs"], json.dumps(recipe, sort_keys=True, default=str)
    run = cache / f"pretrain-A-recipe-{hashlib.sha256(key.encode()).hexdigest()[:10]}"
    record, model_file = run / "pretrain.json", run / "float32.keras"
    if record.is_file() and model_file.is_file():
        info = json.loads(record.read_text())
        if info["sha256"] == sha256(model_file):
            print(f"pretrained A weights (cached): {model_file}, sha256 {info['sha256'][:12]}…, "
                  f"A-test accuracy {info['a_test_accuracy']:.4f}")  # fmt: skip
            return model_file, info
        print(f"{model_file}: hash differs from {record}; training again")
    a = images / "A"
    names = sorted(p.relative_to(a).as_posix() for p in a.glob("*/*/*.jpg"))
    folder = split_folder(a, names, tuple(recipe["image_size"]), recipe["seed"])
    builder = WhitenedBuilder(recipe, folder)
    start = time.time()
    trained = kerascnn.fit(builder, folder, **cifar.fit_args(recipe), output_dir=run,
                           force=True, verbose=2).model  # fmt: skip
    seconds = time.time() - start
    model = builder()  # the same network in float32, as the fine-tuned and scratch models run
    model.set_weights(trained.get_weights())
    RunFolder(run).write_model(model, list(folder.class_names), name=model_file.name)
    acc = score(model, test_arrays(a / "test"))
    info = {"sha256": sha256(model_file), "a_test_accuracy": acc, "epochs": epochs,
            "recipe": f"{cifar.RECIPE['model']}:{cifar.RECIPE['variant']}",
            "train_images": len(folder.files["train"]), "seconds": round(seconds)}  # fmt: skip
    record.write_text(json.dumps(info, indent=1))
    print(f"pretrained A weights: {model_file}, {info['train_images']} images, {epochs} epochs "
          f"of the {info['recipe']} recipe, {seconds:.0f} s; A-test accuracy {acc:.4f}; "
          f"sha256 {info['sha256']}")  # fmt: skip
    return model_file, info


def subset(images: Path, work: Path, per_class: int, seed: int) -> Path:
    """``per_class`` B training images per class, drawn with ``seed``, linked into a folder."""
    out = work / f"B-{per_class}-seed{seed}"
    rng = np.random.default_rng(seed)
    for cls in B:
        files = sorted((images / "B" / "train" / cls).iterdir())
        (out / cls).mkdir(parents=True, exist_ok=True)
        for i in rng.choice(len(files), size=per_class, replace=False):
            (out / cls / files[i].name).symlink_to(files[i])
    return out


def one_setting(weights: Path, train: Path, test, seed: int, lr_decay: float) -> dict:
    """The four scores of one (images per class, seed) setting."""
    import keras

    import kerascnn
    from kerascnn.transfer import adapt_batch_norm, finetune

    card = kerascnn.get_model_card(MODEL).training
    augmentation = card["augmentation"]
    scores = {}
    for label, extra in (
        ("fine-tuned", {}),
        (f"fine-tuned, decay {lr_decay}", {"lr_decay": lr_decay}),
    ):
        keras.utils.set_random_seed(seed)
        # finetune's defaults: "auto" augmentation is the card's for a file of a zoo
        # architecture, the same as the scratch model's below
        tuned = finetune(str(weights), train, validation_split=0.0, seed=seed, verbose=0, **extra)
        scores[label] = score(tuned.model, test)
    from kerascnn.training.config import FinetuneConfig

    defaults = {f.name: f.default for f in dataclasses.fields(FinetuneConfig)}
    epochs = defaults["head_epochs"] + defaults["finetune_epochs"]
    keras.utils.set_random_seed(seed)
    history = kerascnn.fit(
        MODEL, train, epochs=epochs, batch_size=defaults["batch_size"],
        augmentation=augmentation, validation_split=0.0, seed=seed, precise_bn=False, verbose=0,
    )  # fmt: skip
    scratch = history.model
    scores["scratch"] = score(scratch, test)
    from kerascnn.training.data import image_folder

    folder = image_folder(train, (32, 32), validation_split=0.0, seed=seed, batch_size=32)
    adapt_batch_norm(scratch, folder.train)
    scores["scratch, BN re-estimated"] = score(scratch, test)
    return scores


def run(args) -> int:
    """Pretrain on A (cached), then the B table; print it."""
    images = extract(args.cifar_zip, args.cache / f"images-{args.limit or 'all'}", args.limit)
    weights, info = pretrain(images, args.cache, args.pretrain_epochs)
    test = test_arrays(images / "B" / "test")
    print(f"B test images: {len(test[1])}; seeds {args.seeds}", flush=True)
    table: dict[int, list[dict]] = {}
    work = args.cache / f"subsets-{time.time_ns()}"
    for n in args.per_class:
        for seed in args.seeds:
            start = time.time()
            scores = one_setting(weights, subset(images, work, n, seed), test, seed, args.lr_decay)
            table.setdefault(n, []).append(scores)
            print(f"{n} per class, seed {seed}: " + ", ".join(
                f"{k} {v:.4f}" for k, v in scores.items()) + f" ({time.time() - start:.0f} s)",
                flush=True)  # fmt: skip
    print_table(table, info)
    return 0


def _ms(values: list[float]) -> str:
    sd = stdev(values) if len(values) > 1 else 0.0
    return f"{100 * mean(values):5.1f} ± {100 * sd:3.1f}"


def print_table(table: dict[int, list[dict]], info: dict) -> None:
    """Mean ± std (accuracy, %) per setting, and fine-tuned minus the better scratch score."""
    labels = list(next(iter(table.values()))[0])
    a_test = 100 * info["a_test_accuracy"]
    print(f"\nalexnet_cifar, CIFAR-10 A -> B (A-test accuracy {a_test:.1f}%, "
          f"{info['epochs']} pretraining epochs); accuracy % on 5,000 B test images, "
          "mean ± std over seeds")  # fmt: skip
    print("| images per B class | " + " | ".join(labels) + " | fine-tuned − better scratch |")
    print("|" + " --- |" * (len(labels) + 2))
    for n, rows in table.items():
        diffs = [r["fine-tuned"] - max(r["scratch"], r["scratch, BN re-estimated"]) for r in rows]
        cells = [_ms([r[k] for r in rows]) for k in labels]
        each = ", ".join(f"{100 * d:+.1f}" for d in diffs)
        print(f"| {n} | " + " | ".join(cells) + f" | {100 * mean(diffs):+.1f} ({each}) |")
