"""Training recipes of the zoo's own weights: one module per ``model_variant``.

Each module holds a declarative ``RECIPE`` dict (data, split, model arguments,
augmentation, optimizer, schedule, epochs, seed) and ``run(data, output_dir)``,
which trains through kerascnn's public API and returns the test result
(``accuracy``, ``count``, ``errors``, ``train_seconds``, ``weights``).
Importing this package is cheap.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

from kerascnn.errors import UserError

__all__ = ["RECIPES", "get_recipe", "reproduce"]

# weight spec -> module (in this package) holding its recipe
RECIPES: dict[str, str] = {
    "alexnet_cifar:cifar10": "alexnet_cifar_cifar10",
    "gesture_cnn:sign-digits": "gesture_cnn_sign_digits",
}


def _module(spec: str) -> Any:
    if spec not in RECIPES:
        known = ", ".join(sorted(RECIPES))
        raise UserError(f"no recipe for {spec!r}; recipes exist for: {known}")
    return importlib.import_module(f"{__name__}.{RECIPES[spec]}")


def get_recipe(spec: str) -> dict[str, Any]:
    """The declarative recipe of weight ``spec`` (e.g. ``"gesture_cnn:sign-digits"``)."""
    return dict(_module(spec).RECIPE)


def reproduce(
    spec: str, data: str | os.PathLike[str], output_dir: str | os.PathLike[str], **kwargs: Any
) -> dict[str, Any]:
    """Rerun the recipe of ``spec`` on ``data``; the result has the test accuracy.

    ``kwargs`` go to the recipe's ``run`` (e.g. ``epochs=`` to change the budget). The result
    is kept in ``output_dir/result.json``; a folder where the recipe as published already
    finished returns it again (``"reused": True``) instead of training once more.
    """
    from kerascnn.atomic import write_json

    module, saved = _module(spec), Path(output_dir) / "result.json"
    if not kwargs and saved.is_file():
        result = json.loads(saved.read_text(encoding="utf-8"))
        if result.get("spec") == spec and not result.get("overrides"):
            return {**result, "reused": True}
    result = module.run(data, output_dir, **kwargs)
    overrides = {k: _as_json(module, k, v) for k, v in kwargs.items()}
    write_json(saved, {**result, "spec": spec, "overrides": overrides})
    return result


def _as_json(module: Any, key: str, value: Any) -> Any:
    """``value`` as ``result.json`` keeps it: a recipe as its entries that differ from the
    module's ``RECIPE``; other JSON values as they are; anything else as its ``repr``."""
    published = getattr(module, "RECIPE", None)
    if key == "recipe" and isinstance(value, dict) and isinstance(published, dict):
        value = {k: v for k, v in value.items() if k not in published or published[k] != v}
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return repr(value)
    return value
