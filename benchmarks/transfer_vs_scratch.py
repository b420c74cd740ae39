"""Fine-tuning a pretrained network vs the same architecture from scratch, on little data.

With only ``--per-class`` (20) training images per class of the Sign Language
Digits, fine-tune ``--weights`` (default ``alexnet_cifar:cifar10``) with
``kerascnn.transfer.finetune`` and train the same architecture (the fine-tuned
model cloned with fresh weights) from scratch on the same images, for the same
number of epochs; print both test accuracies on the held-out test split (the
gesture recipe's: see ``split_of``) for each of ``--seeds`` and their means. The
scratch model is scored twice: as trained, and with its batch-norm statistics
re-estimated on the training images; the difference is taken against the better.

    python benchmarks/transfer_vs_scratch.py [--weights MODEL:FILE.weights.h5] [--seeds 0 1 2]

``--task cifar-halves`` runs the CIFAR-10 half-to-half design instead (A = five
classes to pretrain on, B = the other five to transfer to): see ``cifar_halves.py``.

    python benchmarks/transfer_vs_scratch.py --task cifar-halves [--per-class 10 20 50]

``--pretrain-standin FILE`` instead trains a quick stand-in for the CIFAR-10
weights (``--cifar-per-class`` images per class from the CIFAR-10 JPEG zip) and
saves them, for when the published variant is not available yet.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from statistics import mean

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def split_of(name: str, seed: int = 0, test_split: float = 0.2) -> str:
    """``"test"`` or ``"train"``: the gesture recipe's held-out split (training.data.split_of)."""
    from kerascnn.training.data import split_of as engine_split

    return engine_split(name, seed, 0.0, test_split)


def same_architecture(tuned, spec: str, train, seed: int):
    """The fine-tuned model's architecture (backbone and new head) with fresh weights.

    A fixed whitening layer (``whiten=k`` in the card's ``model_args``) is not learned
    by gradient descent: as in the CIFAR-10 recipe, its filters are computed from the
    (same 200) training images.
    """
    import keras

    import kerascnn

    model = keras.models.clone_model(tuned)  # new layers, new initial weights
    for layer in model.layers:
        layer.trainable = True
    name, variant = kerascnn.weights.cards.parse_spec(spec)
    card = kerascnn.get_model_card(name).weights.get(variant)
    patch = card.model_args.get("whiten") if card else None
    if patch:
        from kerascnn.zoo.recipes.alexnet_cifar_cifar10 import RECIPE, whitening_kernel

        images = np.concatenate([np.asarray(x) for x, _ in train])
        w = RECIPE["whitening"]
        kernel = whitening_kernel(images, patch, w["eps"], w["patches"], seed)
        model.get_layer("whiten").set_weights(list(kernel))
        model.get_layer("whiten").trainable = False
    return model


def make_splits(images: Path, per_class: int, work: Path) -> tuple[Path, Path, int, int]:
    """Link ``per_class`` training images per class and every test image into two folders."""
    n_train = n_test = 0
    for cls in sorted(p for p in images.iterdir() if p.is_dir()):
        files = sorted(f.name for f in cls.iterdir() if f.is_file())
        train = [f for f in files if split_of(f) == "train"]
        test = [f for f in files if split_of(f) == "test"]
        # a deterministic sample of the training pool: by hash order
        train = sorted(train, key=lambda f: hashlib.sha256(f"pick/{f}".encode()).digest())
        for split, chosen in (("train", train[:per_class]), ("test", test)):
            (work / split / cls.name).mkdir(parents=True, exist_ok=True)
            for f in chosen:
                (work / split / cls.name / f).symlink_to(cls / f)
        n_train += min(per_class, len(train))
        n_test += len(test)
    return work / "train", work / "test", n_train, n_test


def accuracy(model, folder: Path, size, preprocessing: str) -> float:
    from kerascnn.training.data import image_folder
    from kerascnn.transfer.recipe import _preprocess

    ds = image_folder(folder, size, validation_split=0.0, batch_size=64).train
    fn = _preprocess(preprocessing)
    ds = ds.map(fn) if fn else ds
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return float(model.evaluate(ds, verbose=0, return_dict=True)["accuracy"])


def pretrain_standin(out: Path, per_class: int, epochs: int) -> None:
    """Train alexnet_cifar on a CIFAR-10 subset (JPEG zip) and save its weights."""
    import keras

    import kerascnn

    zpath = DATA / "cifar10-jpeg" / "cifar10-jpeg.zip"
    from PIL import Image

    xs, ys = [], []
    with zipfile.ZipFile(zpath) as zf:
        names = sorted(n for n in zf.namelist() if n.startswith("train/") and n.endswith(".jpg"))
        classes = sorted({n.split("/")[1] for n in names})
        for label, cls in enumerate(classes):
            for n in [n for n in names if n.split("/")[1] == cls][:per_class]:
                xs.append(np.asarray(Image.open(io.BytesIO(zf.read(n))).convert("RGB")))
                ys.append(label)
    order = np.random.default_rng(0).permutation(len(xs))  # classes mixed for the val split
    x, y = np.stack(xs).astype("float32")[order], np.array(ys)[order]
    keras.utils.set_random_seed(0)
    model = kerascnn.create_model("alexnet_cifar")
    model.compile(
        keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    start = time.time()
    hist = model.fit(x, y, epochs=epochs, batch_size=64, validation_split=0.1, verbose=2)
    model.save_weights(out)
    print(
        f"stand-in: alexnet_cifar on {len(x)} CIFAR-10 JPEG train images, {epochs} epochs, "
        f"{time.time() - start:.0f} s, val accuracy {hist.history['val_accuracy'][-1]:.3f}"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", default="alexnet_cifar:cifar10", help="MODEL:VARIANT or MODEL:FILE")
    p.add_argument("--data", type=Path, default=DATA / "sign-language-digits" / "images")
    p.add_argument("--task", choices=["sign-digits", "cifar-halves"], default="sign-digits")
    p.add_argument("--per-class", type=int, nargs="+", default=None, help="20; halves: 10 20 50")
    p.add_argument("--cifar-zip", type=Path, default=DATA / "cifar10-jpeg" / "cifar10-jpeg.zip")
    p.add_argument("--cache", type=Path, default=Path(__file__).parent / ".cache" / "transfer")
    p.add_argument("--limit", type=int, help="halves: images per class and split (default all)")
    p.add_argument("--pretrain-epochs", type=int, help="halves: epochs on A (the recipe's)")
    p.add_argument("--lr-decay", type=float, default=0.7, help="halves: the decay row's factor")
    p.add_argument("--head-epochs", type=int, default=5)
    p.add_argument("--finetune-epochs", type=int, default=25)
    p.add_argument("--unfreeze", default="top-2-blocks")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--backbone-lr-mult", type=float, default=0.1)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--pooling", default="avg", choices=["avg", "max", "flatten"])
    p.add_argument(
        "--no-adapt-batch-norm",
        dest="adapt_batch_norm",
        action="store_false",
        help="keep the pretrained batch-norm statistics (default: AdaBN on the training images)",
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], metavar="SEED")
    p.add_argument("--pretrain-standin", type=Path, help="train stand-in weights, save, exit")
    p.add_argument("--cifar-per-class", type=int, default=1000)
    p.add_argument("--cifar-epochs", type=int, default=6)
    args = p.parse_args()
    if args.task == "cifar-halves":
        if not args.cifar_zip.is_file():
            print(f"error: {args.cifar_zip}: no such file; pass --cifar-zip", file=sys.stderr)
            return 2
        import cifar_halves

        args.per_class = args.per_class or [10, 20, 50]
        return cifar_halves.run(args)
    args.per_class = (args.per_class or [20])[0]
    if args.pretrain_standin:
        pretrain_standin(args.pretrain_standin, args.cifar_per_class, args.cifar_epochs)
        return 0
    if not args.data.is_dir():
        print(f"error: {args.data}: no such data folder", file=sys.stderr)
        return 2
    import kerascnn

    name = kerascnn.weights.cards.parse_spec(args.weights)[0]
    try:
        kerascnn.create_model(args.weights)
    except kerascnn.UserError as exc:
        print(
            f"error: pretrained weights {args.weights!r} are not available ({exc}); "
            f"pass --weights {name}:VARIANT or {name}:FILE.weights.h5",
            file=sys.stderr,
        )
        return 2
    epochs = args.head_epochs + args.finetune_epochs
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        train_dir, test_dir, n_train, n_test = make_splits(args.data, args.per_class, Path(tmp))
        print(f"{n_train} training images ({args.per_class} per class), {n_test} test images, "
              f"{epochs} epochs each")  # fmt: skip
        for seed in args.seeds:
            rows.append(one_seed(args, seed, train_dir, test_dir, n_test))
    print(f"mean of {len(rows)} seeds, {n_test} test images:")
    labels = ("fine-tuned", "from scratch", "from scratch, BN re-estimated")
    for label, values in zip(labels, zip(*rows, strict=True), strict=True):
        print(f"  {label}: {mean(values):.3f} (min {min(values):.3f}, max {max(values):.3f}; "
              f"{mean(round((1 - v) * n_test) for v in values):.1f} errors)")  # fmt: skip
    diff = [t - max(a, b) for t, a, b in rows]
    print(f"  difference, fine-tuned - best from scratch: {mean(diff):+.3f} "
          f"(min {min(diff):+.3f}, max {max(diff):+.3f})")  # fmt: skip
    return 0


def one_seed(args, seed: int, train_dir: Path, test_dir: Path, n_test: int) -> tuple[float, ...]:
    """Fine-tune and train from scratch with one seed; print and return the test accuracies.

    The scratch model is also scored after re-estimating its batch-norm statistics on
    the training images ("precise BN"): with 13 steps an epoch its moving averages lag
    behind its weights, and the comparison should not hinge on that.
    """
    import keras

    from kerascnn.training.data import image_folder
    from kerascnn.transfer import adapt_batch_norm, finetune
    from kerascnn.transfer.recipe import _preprocess

    keras.utils.set_random_seed(seed)
    t0 = time.time()
    tuned = finetune(
        args.weights,
        train_dir,
        head_epochs=args.head_epochs,
        finetune_epochs=args.finetune_epochs,
        unfreeze=args.unfreeze,
        learning_rate=args.lr,
        backbone_lr_mult=args.backbone_lr_mult,
        batch_size=args.batch_size,
        pooling=None if args.pooling == "flatten" else args.pooling,
        adapt_batch_norm=args.adapt_batch_norm,
        validation_split=0.0,
        seed=seed,
        verbose=0,
    )
    size = tuple(tuned.model.input_shape[1:3])
    acc_transfer = accuracy(tuned.model, test_dir, size, tuned.preprocessing)
    t1 = time.time()
    keras.utils.set_random_seed(seed)
    train = image_folder(train_dir, size, 0.0, seed, batch_size=args.batch_size).train
    fn = _preprocess(tuned.preprocessing)
    train = train.map(fn) if fn else train
    scratch = same_architecture(tuned.model, args.weights, train, seed)
    scratch.compile(
        keras.optimizers.Adam(args.lr), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    epochs = args.head_epochs + args.finetune_epochs
    scratch.fit(train, epochs=epochs, verbose=0, shuffle=False)
    acc_scratch = accuracy(scratch, test_dir, size, tuned.preprocessing)
    adapt_batch_norm(scratch, train)
    acc_precise = accuracy(scratch, test_dir, size, tuned.preprocessing)
    t2 = time.time()
    name = args.weights.split(":")[0]
    print(f"seed {seed}, input {size[0]}x{size[1]}:")
    for label, acc, seconds in (
        (f"fine-tuned {args.weights}", acc_transfer, t1 - t0),
        (f"from scratch {name}", acc_scratch, t2 - t1),
        ("  its batch-norm statistics re-estimated", acc_precise, None),
    ):
        errors = round((1 - acc) * n_test)
        took = f"; {seconds:.0f} s" if seconds is not None else ""
        print(f"  {label}: test accuracy {acc:.3f} ({errors} errors / {n_test}{took})", flush=True)
    return acc_transfer, acc_scratch, acc_precise


if __name__ == "__main__":
    sys.exit(main())
