"""Keras layers of the classic CNN literature, registered for serialisation."""

from kerascnn.layers.augmentation import PaddedRandomCrop, PCAColorJitter, classic_augmentation
from kerascnn.layers.normalization import LocalResponseNormalization
from kerascnn.layers.pooling import AdaptiveAveragePooling
from kerascnn.layers.preprocessing import MeanSubtraction, PixelAffine, Whitening
from kerascnn.layers.tta import MeanOfViews, TestTimeViews

__all__ = [
    "AdaptiveAveragePooling",
    "LocalResponseNormalization",
    "MeanOfViews",
    "MeanSubtraction",
    "PCAColorJitter",
    "PaddedRandomCrop",
    "PixelAffine",
    "TestTimeViews",
    "Whitening",
    "classic_augmentation",
]
