"""Transfer learning: swap a network's classifier, freeze layers, discriminative
learning rates, and the two-phase fine-tuning recipe (``finetune``)."""

from kerascnn.training.batchnorm import adapt_batch_norm
from kerascnn.transfer.freezing import block_of, blocks, freeze, unfreeze
from kerascnn.transfer.head import find_feature_layer, swap_head
from kerascnn.transfer.rates import (
    ScaledSchedule,
    backbone_multipliers,
    discriminative_optimizer,
    geometric_multipliers,
)
from kerascnn.transfer.recipe import finetune

__all__ = [
    "ScaledSchedule",
    "adapt_batch_norm",
    "backbone_multipliers",
    "block_of",
    "blocks",
    "discriminative_optimizer",
    "find_feature_layer",
    "finetune",
    "freeze",
    "geometric_multipliers",
    "swap_head",
    "unfreeze",
]


def __getattr__(name: str) -> object:
    if name == "FinetuneResult":  # the name before 0.2
        from kerascnn.errors import deprecated
        from kerascnn.training.result import TrainResult

        deprecated("kerascnn.transfer.FinetuneResult", "kerascnn.TrainResult")
        return TrainResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
