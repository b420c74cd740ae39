"""The deployable Keras model: RGB pixels in [0, 255] in, the card's preprocessing, the net,
a softmax where the net outputs logits; and the facts written beside the artifact.
"""

from __future__ import annotations

import contextlib
from typing import Any

from kerascnn.errors import UserError

__all__ = ["INPUT_NAME", "check_model", "deployable", "input_size", "metadata"]

INPUT_NAME = "pixels"


def input_size(loaded: Any, image_size: tuple[int, int] | None, fmt: str) -> tuple[int, int]:
    """The static (height, width) to export at: the model's, else the card's, else
    ``image_size``; a model that takes any size needs one, since every format is static here."""
    static = tuple(loaded.model.input_shape[1:3])
    if None not in static:
        if image_size is not None and tuple(image_size) != static:
            raise UserError(
                f"{loaded.source} takes {static[0]}x{static[1]} images, not "
                f"{image_size[0]}x{image_size[1]}; drop --image-size"
            )
        return int(static[0]), int(static[1])
    card = loaded.card or loaded.model_card
    size = image_size if image_size is not None else card and card.input_shape
    if size is None:
        raise UserError(
            f"{loaded.source} takes any input size and the {fmt} export needs a static one; "
            "pass --image-size H W (image_size=(H, W))"
        )
    return int(size[0]), int(size[1])


def check_model(loaded: Any) -> None:
    """The model outputs one score per class and computes in float32."""
    shape = loaded.model.output_shape
    last = loaded.model.layers[-1] if getattr(loaded.model, "layers", None) else None
    features = type(last).__name__.startswith(("Global", "Flatten", "Adaptive"))
    if features or not isinstance(shape, tuple) or len(shape) != 2:
        raise UserError(
            f"{loaded.source} outputs {shape}, not one score per class; export a model "
            "with a classifier (include_top=True)"
        )
    if loaded.model.dtype_policy.compute_dtype != "float32":
        raise UserError(
            f"{loaded.source} computes in {loaded.model.dtype_policy.compute_dtype}; "
            "save it under the float32 dtype policy and export that"
        )


def deployable(loaded: Any, size: tuple[int, int], softmax: bool) -> Any:
    """``pixels -> preprocessing -> net [-> softmax]`` as one Keras model, float32 inputs."""
    import keras

    from kerascnn.preprocessing import get_preprocessing

    mode = get_preprocessing(loaded.preprocessing)
    inputs = keras.Input((*size, 3), dtype="float32", name=INPUT_NAME)
    x = inputs if mode.name == "none" else mode.layer(name="preprocessing")(inputs)
    y = loaded.model(x)
    if softmax:
        y = keras.layers.Softmax(name="probabilities")(y)
    return keras.Model(inputs, y, name=f"{loaded.model.name}_deploy")


def _versions(fmt: str) -> dict[str, str]:
    from importlib import metadata as md

    import keras

    import kerascnn

    found = {"kerascnn": kerascnn.__version__, "keras": keras.__version__}
    backend = keras.backend.backend()
    extra = {"onnx": "tf2onnx" if backend == "tensorflow" else "jax2onnx", "openvino": "openvino"}
    for dist in ("tensorflow", extra.get(fmt)):
        if dist:
            with contextlib.suppress(md.PackageNotFoundError):
                found[dist] = md.version(dist)
    return {**found, "backend": backend}


def metadata(loaded: Any, fmt: str, **facts: Any) -> dict[str, Any]:
    """What the JSON file beside an artifact says: input, preprocessing, source, versions.

    ``facts``: ``artifact``, ``size``, ``quantize``, ``softmax_added``, ``classes``,
    ``verification`` (a dict, or ``None`` with ``--no-verify``).
    """
    from kerascnn.preprocessing import get_preprocessing

    mode = get_preprocessing(loaded.preprocessing)
    h, w = facts["size"]
    data = {
        "format": fmt,
        "artifact": facts["artifact"],
        "source": loaded.source,
        "input": {"name": INPUT_NAME, "shape": [None, h, w, 3], "dtype": "float32"},
        "input_size": [h, w],
        "color": "RGB",
        "value_range": [0, 255],
        "crop": loaded.crop,
        "preprocessing": {
            "mode": mode.name,
            "description": mode.description,
            "bgr": mode.bgr,
            "scale": list(mode.scale),
            "offset": list(mode.offset),
            "baked_in": True,
        },
        "output": "probabilities",
        "softmax_added": facts["softmax_added"],
        "classes": facts["classes"],
        "labels": "labels.txt",
        "quantize": facts["quantize"],
        "verification": facts["verification"],
        "versions": _versions(fmt),
    }
    if fmt == "openvino":
        from kerascnn.deploy.runtime import OPENVINO_CONFIG

        data["runtime_config"] = dict(OPENVINO_CONFIG)  # float32 results on AMX CPUs
    return data
