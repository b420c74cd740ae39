"""Training: the engine (``fit``), image-folder data, callbacks, distribution, evaluation."""

from kerascnn.training.engine import fit

__all__ = ["fit"]
