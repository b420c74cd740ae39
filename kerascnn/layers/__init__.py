"""Keras layers of the classic CNN literature, registered for serialisation."""

from kerascnn.layers.normalization import LocalResponseNormalization
from kerascnn.layers.pooling import AdaptiveAveragePooling

__all__ = ["AdaptiveAveragePooling", "LocalResponseNormalization"]
