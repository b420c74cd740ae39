"""A model's outputs as class probabilities, and the most probable classes of each image.

Shared by ``kerascnn.predict``, export checks, benchmarks and the server; imports nothing of
kerascnn but its errors, and NumPy only when called.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Prediction", "is_distribution", "probabilities", "top_predictions"]


@dataclass
class Prediction:
    """One class of one image: its name, index in the model's output, and probability."""

    label: str
    index: int
    probability: float

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def is_distribution(outputs: Any) -> bool:
    """Whether a batch of outputs are probabilities already (non-negative rows summing to 1)."""
    import numpy as np

    outputs = np.asarray(outputs, np.float64).reshape(len(outputs), -1)
    return bool(outputs.min() >= 0 and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-3))


def probabilities(outputs: Any) -> Any:
    """A batch of outputs as probabilities: logits (not already a distribution) get a softmax."""
    import numpy as np

    outputs = np.asarray(outputs, np.float64).reshape(len(outputs), -1)
    if is_distribution(outputs):
        return outputs
    shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def top_predictions(probs: Any, names: Sequence[str] | None, top: int) -> list[list[Prediction]]:
    """Each row's ``top`` classes, most probable first (ties: the lower index first).

    Args:
        probs: ``N x classes`` probabilities.
        names: the class names in output order (``None``: the indices as names).
        top: classes per row.
    """
    import numpy as np

    results = []
    for row in np.asarray(probs, np.float64):
        order = np.argsort(-row, kind="stable")[:top]
        results.append(
            [Prediction(names[i] if names else str(i), int(i), float(row[i])) for i in order]
        )
    return results
