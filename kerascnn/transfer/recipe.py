"""The two-phase fine-tuning recipe: a new head on a frozen backbone, then the top blocks too,
the backbone at a smaller learning rate (flat, or decaying block by block from the head down)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras

from kerascnn.errors import UserError
from kerascnn.resolve import LoadedModel, is_path, load
from kerascnn.training.callbacks import RunHistory
from kerascnn.training.run import RunFolder
from kerascnn.training.settings import augmenter
from kerascnn.transfer import batchnorm, freezing, rates
from kerascnn.transfer.head import find_feature_layer, swap_head

__all__ = ["FinetuneResult", "finetune"]

_NOT_RECORDED = ("model_or_spec", "data", "callbacks", "verbose", "optimizer", "force")
_LOSS = "sparse_categorical_crossentropy"


@dataclass
class FinetuneResult:
    """What :func:`finetune` returns; ``history`` has one dict per phase."""

    model: Any
    classes: list[str]
    preprocessing: str
    history: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    model_path: Path | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _preprocess(mode: str) -> Any:
    """The ``tf.data`` map applying preprocessing ``mode`` to ``(pixels, label)``, or None."""
    from kerascnn.preprocessing import get_preprocessing

    pre = get_preprocessing(mode)
    if mode == "none":
        return None
    import tensorflow as tf

    def fn(x: Any, y: Any) -> tuple[Any, Any]:
        x = tf.reverse(x, axis=[-1]) if pre.bgr else x
        return x * tf.constant(pre.scale) + tf.constant(pre.offset), y

    return fn


def _pretrained_spec(spec: str) -> str:
    """``name:variant``; a bare zoo name takes its default published weights."""
    from kerascnn.registry import get_model_card
    from kerascnn.weights.cards import parse_spec

    name, variant = parse_spec(spec)
    if variant is not None:
        return spec
    card = get_model_card(name)
    if not card.weights:
        raise UserError(
            f"{name} has no published weights to fine-tune; give its weights as a .keras file "
            f"or run folder, or train it from scratch with `kerascnn train {name}`"
        )
    has_top = any(c.include_top for c in card.weights.values())
    return f"{name}:{card.default_variant() if has_top else next(iter(card.weights))}"


def _backbone(spec: Any, image_size: tuple[int, int] | None) -> tuple[LoadedModel, tuple]:
    """The pretrained network (``kerascnn.load``) and the size to train at. A zoo spec keeps
    its classifier only at the size its weights were made for (the full top loads only there)."""
    if not isinstance(spec, str) or is_path(spec):
        loaded = load(spec)
        return loaded, tuple(image_size or loaded.input_size)
    from kerascnn.registry import get_model_card
    from kerascnn.weights.cards import parse_spec

    spec = _pretrained_spec(spec)
    name, variant = parse_spec(spec)
    model_card = get_model_card(name)
    card = model_card.weight(variant)
    default = card.input_shape or model_card.input_shape or (224, 224, 3)
    size = tuple(image_size or default[:2])
    if size == tuple(default[:2]) and card.include_top:
        return load(spec), size
    return load(spec, include_top=False, input_shape=(*size, default[2])), size


def _optimizer(optimizer: Any, lr: float) -> keras.optimizers.Optimizer:
    base = keras.optimizers.get(optimizer)
    return type(base).from_config({**base.get_config(), "learning_rate": lr})


def _check(classes: Any, head_epochs: int, finetune_epochs: int, lr_decay: Any) -> None:
    if classes != "auto" and (isinstance(classes, bool) or not isinstance(classes, int)):
        raise UserError(f"classes must be 'auto' or an integer, got {classes!r}; e.g. 'auto'")
    if classes != "auto" and classes < 2:
        raise UserError(f"classes must be at least 2, got {classes}; or use 'auto'")
    if head_epochs < 0 or finetune_epochs < 0 or head_epochs + finetune_epochs == 0:
        raise UserError(
            f"head_epochs and finetune_epochs must be >= 0 and not both 0, got "
            f"{head_epochs} and {finetune_epochs}; e.g. 5 and 5"
        )
    number = isinstance(lr_decay, int | float) and not isinstance(lr_decay, bool)
    if lr_decay is not None and not (number and 0 < lr_decay <= 1):
        raise UserError(
            f"lr_decay (--lr-decay) must be in (0, 1], got {lr_decay!r}; give each block's "
            "learning rate over the block above it, e.g. 0.7, or leave it out"
        )


def _augmentation(augmentation: Any, spec: Any, model: Any = None) -> dict[str, Any] | None:
    """The training augmentation's arguments. ``"auto"``: the zoo card's, for a zoo spec or
    a model (file) of a zoo architecture (its name); else none. ``None``: not known before
    ``model`` is loaded."""
    if augmentation == "auto":
        from kerascnn.registry import get_model_card, list_models
        from kerascnn.weights.cards import parse_spec

        if isinstance(spec, str) and not is_path(spec):
            name = parse_spec(spec)[0]
        elif model is None:
            return None
        else:
            name = model.name if model.name in list_models() else None
        return dict(get_model_card(name).training.get("augmentation", {})) if name else {}
    if augmentation is not None and not isinstance(augmentation, dict):
        raise UserError(
            f"augmentation must be 'auto', None or a dict, got {augmentation!r}; "
            "e.g. {'flip': True, 'pad': 4}"
        )
    return dict(augmentation or {})


def _data(data, size, classes, preprocessing, augment, validation_split, seed, batch_size):
    """The image folder, its class names checked, and its preprocessed datasets: training
    (augmented first by ``augment``, if any), validation and training unaugmented."""
    from kerascnn.training.data import image_folder

    folder = image_folder(data, size, validation_split, seed, batch_size=batch_size)
    names = list(folder.class_names)
    if len(names) < 2:
        raise UserError(f"{data}: found {len(names)} class folder(s); need at least 2, add one")
    if classes != "auto" and classes != len(names):
        raise UserError(
            f"{data} has {len(names)} class folders ({', '.join(names)}) but classes={classes}; "
            "use classes='auto'"
        )
    if keras.backend.backend() != "tensorflow":
        return folder, *_py_datasets(folder, augment, preprocessing, batch_size)
    train = plain = folder.train
    if augment is not None:  # on pixels in [0, 255], as in kerascnn train
        import tensorflow as tf

        train = plain.map(lambda x, y: (augment(x, training=True), y), tf.data.AUTOTUNE)
    datasets = train, folder.validation, plain
    fn = _preprocess(preprocessing)
    if fn is not None:
        datasets = tuple(d.map(fn) if d is not None else None for d in datasets)
    return folder, *datasets


def _py_datasets(folder: Any, augment: Any, mode: str, batch_size: int) -> tuple:
    """``_data``'s datasets on JAX and torch, without TensorFlow (``FolderBatches``)."""
    import copy

    from kerascnn.preprocessing import get_preprocessing
    from kerascnn.training.pydata import FolderBatches

    pre = None if mode == "none" else get_preprocessing(mode)
    train = FolderBatches(folder, "train", batch_size, augment=augment, transform=pre)
    val = None
    if folder.files["validation"]:
        val = FolderBatches(folder, "validation", batch_size, transform=pre)
    plain = copy.copy(train)  # the same decoded images, not augmented
    plain.augment = None
    return train, val, plain.once()


def finetune(
    model_or_spec: Any,
    data: str | os.PathLike[str],
    *,
    classes: int | str = "auto",
    head_epochs: int = 5,
    finetune_epochs: int = 5,
    unfreeze: str | int = "top-2-blocks",
    lr: float = 1e-3,
    backbone_lr_mult: float = 0.1,
    lr_decay: float | None = None,
    optimizer: str | keras.optimizers.Optimizer = "adam",
    image_size: tuple[int, int] | None = None,
    batch_size: int = 32,
    validation_split: float = 0.2,
    seed: int = 0,
    hidden: Sequence[int] = (),
    dropout: float = 0.5,
    pooling: str | None = None,
    feature_layer: str | int | None = None,
    augmentation: dict[str, Any] | str | None = "auto",
    adapt_batch_norm: bool = False,
    output_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
    callbacks: Sequence[Any] = (),
    verbose: Any = "auto",
) -> FinetuneResult:
    """Fine-tune a pretrained network on a folder of class folders, in two phases.

    Phase 1 (``head_epochs``) trains a new head (``swap_head``) on the frozen backbone at ``lr``;
    phase 2 (``finetune_epochs``) also the layers from ``unfreeze`` on (a layer, or
    ``"top-N-blocks"``: blocks are layer-name prefixes before ``_``), at ``lr x backbone_lr_mult``
    (or each block at ``lr_decay`` x the rate of the block above); batch norm stays frozen.

    Args:
        model_or_spec, data: anything ``kerascnn.load`` takes (a bare zoo name: its default
            published weights); a folder of class folders.
        classes: ``"auto"`` (the folder's) or the number of class folders expected.
        head_epochs, finetune_epochs, unfreeze, lr, backbone_lr_mult, optimizer: as above.
        lr_decay: layer-wise decay in (0, 1]; replaces ``backbone_lr_mult``'s flat multiplier.
        image_size, batch_size, validation_split, seed: the input size and data split.
        hidden, dropout, pooling, feature_layer: the new head (``swap_head``).
        augmentation: ``kerascnn.layers.classic_augmentation`` arguments for the training
            images; ``"auto"``: the zoo card's, for a zoo spec or a zoo architecture's model.
        adapt_batch_norm: first re-estimate the backbone's batch-norm statistics (AdaBN).
        output_dir, force: the run folder (``kerascnn.training.run``); replace a run there.
        callbacks, verbose: as ``model.fit``.
    """
    arguments = {k: v for k, v in locals().items() if k not in _NOT_RECORDED}
    _check(classes, head_epochs, finetune_epochs, lr_decay)
    arguments["augmentation"] = _augmentation(augmentation, model_or_spec)
    augment = augmenter(arguments["augmentation"] or {}, seed)  # a bad name fails here
    run = RunFolder(output_dir).check(force=force) if output_dir is not None else None
    base, size = _backbone(model_or_spec, image_size)
    if arguments["augmentation"] is None:  # "auto" for a file: by its architecture's name
        arguments["augmentation"] = _augmentation(augmentation, model_or_spec, base.model)
        augment = augmenter(arguments["augmentation"], seed)
    folder, train, val, plain = _data(
        data, size, classes, base.preprocessing, augment, validation_split, seed, batch_size
    )
    names = list(folder.class_names)
    feature = find_feature_layer(base.model, feature_layer)
    head_args = {"hidden": hidden, "dropout": dropout, "pooling": pooling, "feature_layer": feature}
    model = swap_head(base.model, len(names), **head_args)
    if finetune_epochs:
        freezing.resolve_start(model, unfreeze)  # a bad layer name fails before training
    if adapt_batch_norm and not batchnorm.adapt_batch_norm(model, plain):
        raise UserError(f"{model.name} has no BatchNormalization layers; drop adapt_batch_norm")
    callbacks = [RunHistory(run), *callbacks] if run is not None else [*callbacks]
    # the pipeline shuffles itself; shuffle=False only silences Keras' warning
    fit = dict(x=train, validation_data=val, callbacks=callbacks, verbose=verbose, shuffle=False)
    lrs = (optimizer, lr, backbone_lr_mult, lr_decay)
    with warnings.catch_warnings():  # the folder's dataset has no known length: not a problem
        warnings.filterwarnings("ignore", message=".*ran out of data")
        history = _phases(model, feature, (head_epochs, finetune_epochs), unfreeze, lrs, fit)
    result = FinetuneResult(model, names, base.preprocessing, history, skipped=list(folder.skipped))
    if run is not None:
        result.model_path = run.write_model(model, names, base.preprocessing)
        run.write_split(folder.to_json())
        run.write_args({"model": base.source, "data": str(data), **arguments})
    return result


def _phases(model, feature, epochs: tuple, unfreeze, lrs: tuple, fit: dict) -> dict:
    """Phase 1 on the frozen backbone, phase 2 from ``unfreeze`` on; each phase's history."""
    (head_epochs, finetune_epochs), (optimizer, lr, backbone_lr_mult, lr_decay) = epochs, lrs
    history: dict[str, dict[str, list[float]]] = {}
    freezing.freeze(model, up_to=feature)  # phase 2 unfreezes from `unfreeze` on
    if head_epochs:
        model.compile(_optimizer(optimizer, lr), _LOSS, metrics=["accuracy"])
        history["head"] = model.fit(epochs=head_epochs, **fit).history
    if finetune_epochs:
        freezing.unfreeze(model, from_=unfreeze)
        if lr_decay is None:
            mults = rates.backbone_multipliers(model, backbone_lr_mult, feature_layer=feature)
        else:  # the top block x lr_decay, the next x lr_decay**2, ...; the head x1
            mults = rates.geometric_multipliers(model, lr_decay, feature_layer=feature)
        opt = rates.discriminative_optimizer(model, mults, optimizer=optimizer, learning_rate=lr)
        model.compile(opt, _LOSS, metrics=["accuracy"])
        total = head_epochs + finetune_epochs
        history["finetune"] = model.fit(initial_epoch=head_epochs, epochs=total, **fit).history
    return {p: {k: [float(v) for v in vs] for k, vs in h.items()} for p, h in history.items()}
