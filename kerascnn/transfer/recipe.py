"""The two-phase fine-tuning recipe: a new head on a frozen backbone, then the top blocks too,
the backbone at a smaller learning rate (flat, or decaying block by block from the head down)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from kerascnn.errors import UserError, deprecated, renamed_argument
from kerascnn.resolve import LoadedModel, is_path, load
from kerascnn.training.config import FinetuneConfig
from kerascnn.training.engine import Phase, TrainResult, run_phases
from kerascnn.transfer import freezing, rates
from kerascnn.transfer.head import find_feature_layer, swap_head

if TYPE_CHECKING:
    import keras

    from kerascnn.resolve import ModelSource
    from kerascnn.training.backends import Strategy
    from kerascnn.training.data import ImageFolder
    from kerascnn.training.plan import Plan

__all__ = ["finetune"]


def __getattr__(name: str) -> type[TrainResult]:
    if name == "FinetuneResult":  # the name before 0.2; finetune returns the engine's result
        deprecated("kerascnn.transfer.recipe.FinetuneResult", "kerascnn.TrainResult")
        return TrainResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


def _backbone(
    spec: ModelSource | None, image_size: tuple[int, int] | None
) -> tuple[LoadedModel, tuple[int, int]]:
    """The pretrained network (``kerascnn.load``) and the size to train at. A zoo spec keeps
    its classifier only at the size its weights were made for (the full top loads only there)."""
    if not isinstance(spec, str) or is_path(spec):
        loaded = load(spec)
        return loaded, cast("tuple[int, int]", tuple(image_size or loaded.input_size))
    from kerascnn.registry import get_model_card
    from kerascnn.weights.cards import parse_spec

    spec = _pretrained_spec(spec)
    name, variant = parse_spec(spec)
    assert variant is not None  # _pretrained_spec names one
    model_card = get_model_card(name)
    card = model_card.weight(variant)
    default = card.input_shape or model_card.input_shape or (224, 224, 3)
    size = cast("tuple[int, int]", tuple(image_size or default[:2]))
    if size == tuple(default[:2]) and card.include_top:
        return load(spec), size
    return load(spec, include_top=False, input_shape=(*size, default[2])), size


def _check(classes: Any, head_epochs: int, finetune_epochs: int, lr_decay: float | None) -> None:
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


def _augmentation(
    augmentation: Mapping[str, Any] | str | None,
    spec: ModelSource | None,
    model: keras.Model | None = None,
) -> dict[str, Any] | None:
    """The training augmentation's arguments. ``"auto"``: the zoo card's, for a zoo spec or
    a model (file) of a zoo architecture (its name); else none. ``None``: not known before
    ``model`` is loaded."""
    if augmentation == "auto":
        from kerascnn.registry import get_model_card, list_models
        from kerascnn.weights.cards import parse_spec

        name: str | None
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


def _folder(
    data: str | os.PathLike[str], size: tuple[int, int], config: FinetuneConfig
) -> ImageFolder:
    """The image folder, its class count checked against ``config.classes``."""
    from kerascnn.training.data import image_folder

    assert config.batch_size is not None  # check_numbers saw a positive one
    folder = image_folder(data, size, config.validation_split, config.seed,
                          test_split=config.test_split, batch_size=config.batch_size)  # fmt: skip
    names = list(folder.class_names)
    if len(names) < 2:
        raise UserError(f"{data}: found {len(names)} class folder(s); need at least 2, add one")
    if config.classes != "auto" and config.classes != len(names):
        raise UserError(
            f"{data} has {len(names)} class folders ({', '.join(names)}) but "
            f"classes={config.classes}; use classes='auto'",
            arguments={f"classes={config.classes}": "classes", "classes='auto'": "classes"},
        )
    return folder


def _fresh(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """A new optimizer of the same configuration (each phase compiles with its own)."""
    return type(optimizer).from_config(optimizer.get_config())


def _phases(config: FinetuneConfig, settings: dict[str, Any], feature: str) -> list[Phase]:
    """Phase 1: the head on the frozen backbone; phase 2: also the layers from ``unfreeze`` on,
    the backbone at ``learning_rate x backbone_lr_mult`` (or decaying by ``lr_decay``)."""
    from kerascnn.training.settings import build_optimizer

    def optimizer(epochs: int, steps: int) -> keras.optimizers.Optimizer:
        return _fresh(build_optimizer({**settings, "epochs": epochs}, steps))

    def head(model: keras.Model, steps: int) -> keras.optimizers.Optimizer:
        freezing.freeze(model, up_to=feature)
        return optimizer(config.head_epochs, steps)

    def backbone(model: keras.Model, steps: int) -> keras.optimizers.Optimizer:
        freezing.freeze(model, up_to=feature)
        freezing.unfreeze(model, from_=config.unfreeze)
        if config.lr_decay is None:
            mults = rates.backbone_multipliers(
                model, config.backbone_lr_mult, feature_layer=feature
            )
        else:  # the top block x lr_decay, the next x lr_decay**2, ...; the head x1
            mults = rates.geometric_multipliers(model, config.lr_decay, feature_layer=feature)
        base = optimizer(config.finetune_epochs, steps)
        return rates.discriminative_optimizer(model, mults, optimizer=base)

    phases = [Phase("head", config.head_epochs, head)] if config.head_epochs else []
    if config.finetune_epochs:
        phases.append(Phase("finetune", config.finetune_epochs, backbone))
    return phases


def _adapt(batch_size: int) -> Callable[[keras.Model, Plan], None]:
    """AdaBN before the first phase: batch-norm statistics of one pass over the new data."""
    from kerascnn.training.batchnorm import adapt_batch_norm
    from kerascnn.training.feeds import bn_batches

    def first(model: keras.Model, plan: Plan) -> None:
        adapt_batch_norm(model, bn_batches(plan, batch_size), max_batches=plan.steps)

    return first


def finetune(
    model: ModelSource | None = None,
    data: str | os.PathLike[str] | None = None,
    config: FinetuneConfig | None = None,
    *,
    output_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    force: bool = False,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = "auto",
    **settings: Any,
) -> TrainResult:
    """Fine-tune a pretrained network on a folder of class folders, as two phases of the
    training engine (``kerascnn.training.fit``): its run folder, resume, devices, mixed
    precision and divergence guard.

    Phase 1 (``head_epochs``) trains a new head (``swap_head``) on the frozen backbone at
    ``learning_rate``; phase 2 (``finetune_epochs``) also the layers from ``unfreeze`` on (a
    layer, or ``"top-N-blocks"``: blocks are layer-name prefixes before ``_``), at
    ``learning_rate x backbone_lr_mult`` (or each block at ``lr_decay`` x the rate of the block
    above); batch norm stays frozen.

    Args:
        model, data: anything ``kerascnn.load`` takes (a bare zoo name: its default published
            weights; ``model_or_spec=``: deprecated); a folder of class folders.
        config: a :class:`kerascnn.training.config.FinetuneConfig`; ``**settings`` replace its
            fields (``head_epochs=2``, ``learning_rate=1e-4``, ...).
        output_dir, resume, force, callbacks, verbose: as :func:`kerascnn.training.fit`.
    """
    from kerascnn.training.backends import resolve_devices
    from kerascnn.training.batchnorm import batch_norm_layers
    from kerascnn.training.engine import check_numbers
    from kerascnn.training.run import RunFolder
    from kerascnn.training.settings import augmenter, check_regularisers, resolve_settings

    model = renamed_argument("kerascnn.finetune", "model_or_spec", model, settings)
    data = renamed_argument("kerascnn.finetune", "data", data, {}, "data")
    assert data is not None  # renamed_argument refuses None
    if "lr" in settings:
        deprecated("kerascnn.finetune(lr=...)", "kerascnn.finetune(learning_rate=...)", 3)
        settings["learning_rate"] = settings.pop("lr")
    config = (config or FinetuneConfig()).replace(**settings)
    if config.epochs is not None:
        raise UserError(
            f"finetune trains head_epochs + finetune_epochs, got epochs={config.epochs}; "
            "set head_epochs and finetune_epochs (--head-epochs, --finetune-epochs)"
        )
    if config.bn_lr_mult not in (None, 1):
        raise UserError(
            f"finetune sets its rates with backbone_lr_mult or lr_decay, got bn_lr_mult="
            f"{config.bn_lr_mult!r}; drop bn_lr_mult"
        )
    _check(config.classes, config.head_epochs, config.finetune_epochs, config.lr_decay)
    check_numbers(batch_size=config.batch_size, learning_rate=config.learning_rate)
    check_regularisers(config.weight_decay, config.label_smoothing)
    augmentation = _augmentation(config.augmentation, model)
    augmenter(augmentation or {}, config.seed)  # a bad name fails here
    if output_dir is not None:  # before the model loads
        RunFolder(output_dir).check(force=force, resumable=True)
    strategy = resolve_devices(config.strategy)
    base, size = _backbone(model, config.image_size)
    if augmentation is None:  # "auto" for a file: by its architecture's name
        augmentation = _augmentation(config.augmentation, model, base.model)
    if config.adapt_batch_norm and not batch_norm_layers(base.model):
        raise UserError(
            f"{base.model.name} has no BatchNormalization layers; drop adapt_batch_norm"
        )
    folder = _folder(data, size, config)
    feature = find_feature_layer(base.model, config.feature_layer)
    total = config.head_epochs + config.finetune_epochs
    resolved = resolve_settings(None, config.replace(augmentation=augmentation, epochs=total))

    def build() -> keras.Model:  # runs before the run writes any file
        net = swap_head(_in_scope(base.model, strategy), len(folder.class_names),
                        hidden=config.hidden, dropout=config.dropout, pooling=config.pooling,
                        feature_layer=feature)  # fmt: skip
        if config.finetune_epochs:
            freezing.resolve_start(net, config.unfreeze)  # a bad layer fails before training
        return net

    return run_phases(
        build, folder, resolved, _phases(config, resolved, feature), strategy=strategy,
        output_dir=output_dir, resume=resume, force=force, callbacks=callbacks, verbose=verbose,
        preprocessing=base.preprocessing, args={"model": base.source},
        first=_adapt(resolved["batch_size"]) if config.adapt_batch_norm else None,
    )  # fmt: skip


def _in_scope(model: keras.Model, strategy: Strategy) -> keras.Model:
    """``model``, or a copy made in the current strategy scope when training on several devices
    (its variables must live there)."""
    from kerascnn.training.plan import copy_model

    return model if strategy.num_replicas_in_sync == 1 else copy_model(model)
