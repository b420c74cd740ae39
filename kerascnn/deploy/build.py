"""The deployable Keras model: RGB pixels in [0, 255] in, the card's preprocessing, the net,
a softmax where the net outputs logits; and the facts written beside the artifact.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from kerascnn.errors import UserError

__all__ = [
    "INPUT_NAME",
    "check_model",
    "deployable",
    "input_size",
    "metadata",
    "random_error",
    "random_weights",
    "weights_facts",
]

INPUT_NAME = "pixels"


def input_size(loaded: Any, image_size: tuple[int, int] | None, fmt: str) -> tuple[int, int]:
    """The static (height, width) to export at: the model's, else the card's, else
    ``image_size``; a model that takes any size needs one, since every format is static here."""
    static = tuple(loaded.model.input_shape[1:3])
    if None not in static:
        if image_size is not None and tuple(image_size) != static:
            raise UserError(
                f"{loaded.source} takes {static[0]}x{static[1]} images, not "
                f"{image_size[0]}x{image_size[1]}; drop image_size",
                arguments={"image_size": "image_size"},
            )
        return int(static[0]), int(static[1])
    card = loaded.weights_card or loaded.architecture_card
    size = image_size if image_size is not None else card and card.input_shape
    if size is None:
        raise UserError(
            f"{loaded.source} takes any input size and the {fmt} export needs a static one; "
            "pass image_size=(height, width)",
            arguments={"image_size=(height, width)": "image_size"},
        )
    return int(size[0]), int(size[1])


def random_weights(source: Any, builder_args: dict[str, Any]) -> bool:
    """Whether ``source`` is a zoo model's bare name that ``kerascnn.load`` builds with random
    weights: ``weights=None``, or no weights given and none published with a classifier."""
    from kerascnn.registry import get_model_card, list_models
    from kerascnn.resolve import is_path

    if not isinstance(source, str) or is_path(source) or source not in list_models():
        return False
    if "weights" in builder_args:
        return builder_args["weights"] is None
    return not any(card.include_top for card in get_model_card(source).weights.values())


def random_error(source: Any) -> None:
    """The one-line error of an export of random weights without ``allow_random``."""
    raise UserError(
        f"{source} has random weights (none published, or none asked for); give trained ones "
        "(weights='FILE', a .keras file or a run folder), or pass allow_random=True to export "
        "them anyway (the metadata marks them random)",
        arguments={"weights='FILE'": "weights", "allow_random=True": "allow_random"},
    )


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


def deployable(
    loaded: Any,
    size: tuple[int, int],
    softmax: bool,
    input_dtype: str = "float32",
    layout: str = "nhwc",
) -> Any:
    """``pixels -> preprocessing -> net [-> softmax]`` as one Keras model.

    Args:
        loaded: the :class:`~kerascnn.resolve.Loaded` model.
        size: the (height, width) the artifact takes.
        softmax: add a softmax (the net outputs logits).
        input_dtype: ``"uint8"`` (raw pixels) or ``"float32"`` (RGB in [0, 255]).
        layout: ``"nhwc"`` or ``"nchw"``.
    """
    import keras

    from kerascnn.preprocessing import get_preprocessing

    mode = get_preprocessing(loaded.preprocessing)
    shape = (*size, 3) if layout == "nhwc" else (3, *size)
    inputs = keras.Input(shape, dtype=input_dtype, name=INPUT_NAME)
    x = inputs if layout == "nhwc" else keras.layers.Permute((2, 3, 1), name="to_nhwc")(inputs)
    if mode.name != "none":  # casts to float32 first
        x = mode.layer(name="preprocessing")(x)
    elif input_dtype != "float32":
        x = keras.layers.Rescaling(1.0, name="to_float32")(x)
    y = loaded.model(x)
    if softmax:
        y = keras.layers.Softmax(name="probabilities")(y)
    return keras.Model(inputs, y, name=f"{loaded.model.name}_deploy")


def _versions(fmt: str) -> dict[str, str]:
    from importlib import metadata as md

    import keras

    from kerascnn._version import __version__

    found = {"kerascnn": __version__, "keras": keras.__version__}
    backend = keras.backend.backend()
    extra = {"onnx": "tf2onnx" if backend == "tensorflow" else "jax2onnx", "openvino": "openvino"}
    for dist in ("tensorflow", extra.get(fmt)):
        if dist:
            with contextlib.suppress(md.PackageNotFoundError):
                found[dist] = md.version(dist)
    return {**found, "backend": backend}


def weights_facts(loaded: Any) -> dict[str, Any]:
    """Where the weights come from: ``pretrained`` (else random), the zoo spec, the sha256
    (hex) of the weights file: a card's own hash may be an md5 or a short prefix."""
    import hashlib

    from kerascnn.weights.cache import cached_path

    card = loaded.weights_card
    path = cached_path(card) if card is not None else loaded.path  # a card's: verified at load
    digest = None
    if path is not None and Path(path).is_file():
        with open(path, "rb") as file:
            digest = hashlib.file_digest(file, "sha256").hexdigest()
    if card is not None:
        return {"pretrained": True, "spec": f"{card.model}:{card.variant}", "sha256": digest}
    return {"pretrained": bool(loaded.pretrained), "spec": None, "sha256": digest}


def metadata(loaded: Any, fmt: str, **facts: Any) -> dict[str, Any]:
    """What an artifact says about itself (inside it, and in ``NAME.json`` beside it).

    ``facts``: ``artifact``, ``size``, ``input_dtype``, ``layout``, ``opset``, ``names``
    (input and output tensor names in the artifact), ``quantize``, ``calibration``,
    ``softmax_added``, ``classes`` (names), ``labels`` (the sidecar's file name),
    ``verification`` (a dict, or ``None`` with ``--no-verify``).
    """
    from kerascnn.preprocessing import get_preprocessing

    mode = get_preprocessing(loaded.preprocessing)
    h, w = facts["size"]
    nhwc = facts["layout"] == "nhwc"
    names = facts["names"]
    data = {
        "format": fmt,
        "artifact": facts["artifact"],
        "source": loaded.source,
        "weights": weights_facts(loaded),
        "input": {
            "name": names[0],
            "shape": [None, h, w, 3] if nhwc else [None, 3, h, w],
            "dtype": facts["input_dtype"],
            "layout": facts["layout"],
        },
        "output": {"name": names[1], "shape": [None, len(facts["classes"])], "dtype": "float32"},
        "input_size": [h, w],
        "color": "RGB",
        "value_range": [0, 255],
        "resize": {
            "library": "Pillow",
            "filter": "bilinear",
            "on": "float32 pixels",
            "then": "rounded to uint8" if facts["input_dtype"] == "uint8" else None,
        },
        "crop": loaded.crop,
        "preprocessing": {
            "mode": mode.name,
            "description": mode.description,
            "bgr": mode.bgr,
            "scale": list(mode.scale),
            "offset": list(mode.offset),
            "baked_in": True,
        },
        "softmax_added": facts["softmax_added"],
        "classes": list(facts["classes"]),
        "labels": facts["labels"],
        "opset": facts["opset"],
        "quantize": facts["quantize"],
        "calibration": facts["calibration"],
        "verification": facts["verification"],
        "versions": _versions(fmt),
    }
    if fmt == "openvino":
        from kerascnn.deploy.runtime import OPENVINO_CONFIG

        data["runtime_config"] = dict(OPENVINO_CONFIG)  # float32 results on AMX CPUs
    return data
