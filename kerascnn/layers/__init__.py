"""Keras layers of the classic CNN literature, registered for serialisation."""

from kerascnn.layers.augmentation import PaddedRandomCrop, PCAColorJitter, classic_augmentation
from kerascnn.layers.normalization import LocalResponseNormalization
from kerascnn.layers.pooling import AdaptiveAveragePooling
from kerascnn.layers.preprocessing import MeanSubtraction, PixelAffine, Whitening

__all__ = [
    "AdaptiveAveragePooling",
    "LocalResponseNormalization",
    "MeanSubtraction",
    "PCAColorJitter",
    "PaddedRandomCrop",
    "PixelAffine",
    "Whitening",
    "classic_augmentation",
]
