"""Write weights in the legacy Keras ``.h5`` layout that Keras applications publish.

Root attributes ``layer_names`` (and ``keras_version``, ``backend``); one group per
layer with a ``weight_names`` attribute and one dataset per weight, in layer order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np


def write_legacy_h5(model: Any, path: Path) -> Path:
    layers = [layer for layer in model.layers if layer.weights]
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([layer.name.encode() for layer in layers])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for layer in layers:
            group = f.create_group(layer.name)
            names = [f"{layer.name}/{w.path.split('/')[-1]}:0".encode() for w in layer.weights]
            group.attrs["weight_names"] = np.array(names)
            for name, weight in zip(names, layer.weights, strict=True):
                group.create_dataset(name.decode(), data=np.asarray(weight.numpy()))
    return path
