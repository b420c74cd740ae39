"""Training: the engine (``fit``), its settings (``TrainConfig``) and result (``TrainResult``),
image-folder data, callbacks, distribution, evaluation."""

from kerascnn.training.config import FinetuneConfig, TrainConfig
from kerascnn.training.engine import TrainResult, fit

__all__ = ["FinetuneConfig", "TrainConfig", "TrainResult", "fit"]
