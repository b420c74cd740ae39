"""Model and weight cards: the zoo's JSON metadata (``zoo/*.json``, each model's ``"weights"``
maps variant -> weight card), parsed and checked once into dataclasses. docs/models.md ("Weight
cards") describes the schema; ``card_problems`` enforces it."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from kerascnn.errors import UserError
from kerascnn.preprocessing import PREPROCESSING
from kerascnn.tta import MODES as TTA_MODES

__all__ = ["FORMATS", "ModelCard", "WeightCard", "card_problems", "class_names", "parse_spec"]

FORMATS = ("keras-h5", "keras-weights", "torch-pth")
_REQUIRED = {
    "source": str,
    "license": str,
    "format": str,
    "hash": str,
    "size": int,
    "include_top": bool,
    "input_shape": list,
    "preprocessing": str,
    "accuracy": dict,
}
_OPTIONAL = {
    "url": str,
    "file": str,
    "filename": str,
    "crop": float,
    "model_args": dict,
    "training": str,
    "notes": str,
    "split": dict,  # {"seed", "validation_split", "test_split"}: see kerascnn.training.data
    "calibration": dict,  # {"data", "description"}: int8 calibration set, see kerascnn.deploy
    "tta": str,  # test-time augmentation on by default (kerascnn.tta.MODES): evaluate, predict
}
_HASH = re.compile(r"^(md5:[0-9a-f]{32}|sha256:[0-9a-f]{8,64})$")


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``"vgg16:imagenet"`` -> ``("vgg16", "imagenet")``; ``"vgg16"`` -> ``("vgg16", None)``."""
    if "://" in str(spec):
        raise UserError(
            f"{spec} is a preset, not a zoo model name; give NAME[:VARIANT] here (presets "
            "load where a trained model is taken: predict, evaluate, finetune, export, ...)"
        )
    name, sep, variant = str(spec).partition(":")
    if not name or (sep and not variant):
        raise UserError(f"bad model spec {spec!r}; use NAME or NAME:VARIANT, e.g. vgg16:imagenet")
    return name, variant or None


@cache
def _class_index(resource: str) -> tuple[str, ...]:
    path = resources.files("kerascnn") / "resources" / f"{resource}_class_index.json"
    if not path.is_file():
        raise UserError(f"unknown class index {resource!r}; ship kerascnn/resources/{path.name}")
    index = json.loads(path.read_text(encoding="utf-8"))
    return tuple(index[str(i)][1] for i in range(len(index)))


def class_names(classes: Any) -> tuple[str, ...]:
    """Class names from a card's ``classes``: a list, or a shipped index such as ``"imagenet"``."""
    if isinstance(classes, str):
        return _class_index(classes)
    return tuple(str(c) for c in classes or ())


def card_problems(model: str, variant: str, card: Mapping[str, Any]) -> list[str]:
    """Everything wrong with one raw weight card (an empty list when it follows the schema)."""
    where = f"{model}:{variant}"
    problems = [f"{where}: missing {k!r}" for k in (*_REQUIRED, "classes") if k not in card]
    for key, value in card.items():
        kind = _REQUIRED.get(key) or _OPTIONAL.get(key)
        if key == "classes":
            if not (isinstance(value, str) or (isinstance(value, list) and value)):
                problems.append(f"{where}: classes must be a list of names or an index name")
            else:
                try:
                    class_names(value)
                except UserError as exc:
                    problems.append(f"{where}: {exc}")
        elif kind is None:
            problems.append(f"{where}: unknown field {key!r}")
        elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            problems.append(f"{where}: {key} must be {kind.__name__}, got {value!r}")
    if ("url" in card) == ("file" in card):
        problems.append(f"{where}: exactly one of 'url' (download) or 'file' (bundled)")
    if "url" in card and not str(card["url"]).startswith(("https://", "hf://")):
        problems.append(f"{where}: url must be https:// or hf://owner/repo[@revision]/file")
    hash_ = str(card.get("hash", ""))
    if not _HASH.match(hash_):
        problems.append(f"{where}: hash must be md5:<32 hex> or sha256:<8..64 hex>, got {hash_!r}")
    if "file" in card:
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", hash_):
            problems.append(f"{where}: bundled weights need the full sha256")
        if Path(card["file"]).is_absolute() or ".." in Path(card["file"]).parts:
            problems.append(f"{where}: file must be relative to the kerascnn.zoo package")
    if card.get("format") not in FORMATS:
        problems.append(f"{where}: format must be one of {FORMATS}")
    if card.get("preprocessing") not in PREPROCESSING:
        problems.append(f"{where}: preprocessing must be one of {tuple(PREPROCESSING)}")
    shape = card.get("input_shape")
    if not (isinstance(shape, list) and len(shape) == 3 and all(isinstance(d, int) for d in shape)):
        problems.append(f"{where}: input_shape must be [height, width, channels]")
    accuracy = card.get("accuracy", {})
    if not isinstance(accuracy.get("dataset"), str):
        problems.append(f"{where}: accuracy needs a 'dataset'")
    if not any(isinstance(v, int | float) for v in accuracy.values()):
        problems.append(f"{where}: accuracy needs at least one figure")
    if not 0 < card.get("crop", 1.0) <= 1:
        problems.append(f"{where}: crop must be in (0, 1]")
    if card.get("tta", "none") not in TTA_MODES:
        problems.append(f"{where}: tta must be one of {TTA_MODES}")
    return problems


@dataclass(frozen=True)
class WeightCard:
    """One published or bundled weight file of a zoo model, checked against the schema."""

    model: str
    variant: str
    format: str
    hash: str
    size: int
    include_top: bool
    input_shape: tuple[int, int, int]
    preprocessing: str
    classes: tuple[str, ...]
    source: str
    license: str
    accuracy: Mapping[str, Any]
    url: str | None = None
    file: str | None = None
    filename: str | None = None
    crop: float | None = None
    model_args: Mapping[str, Any] = field(default_factory=dict)
    split: Mapping[str, Any] | None = None
    training: str | None = None
    notes: str | None = None
    calibration: Mapping[str, Any] | None = None
    tta: str | None = None

    @classmethod
    def from_dict(cls, model: str, variant: str, raw: Mapping[str, Any]) -> WeightCard:
        """Parse a raw card; a ``UserError`` listing every problem when it breaks the schema."""
        problems = card_problems(model, variant, raw)
        if problems:
            raise UserError("; ".join(problems))
        model_args = {
            k: tuple(v) if isinstance(v, list) else v for k, v in raw.get("model_args", {}).items()
        }
        classes, input_shape = class_names(raw["classes"]), tuple(raw["input_shape"])
        args = {**raw, "classes": classes, "input_shape": input_shape, "model_args": model_args}
        return cls(model=model, variant=variant, **args)

    @property
    def spec(self) -> str:
        """``"model:variant"``."""
        return f"{self.model}:{self.variant}"

    @property
    def bundled(self) -> bool:
        """Whether the file ships inside the package (no download)."""
        return self.file is not None


@dataclass(frozen=True)
class ModelCard:
    """A registered model: its builder, defaults and weight variants (plain data, no Keras)."""

    name: str
    source: str
    builder: str | None = None
    description: str = ""
    input_shape: tuple[int, int, int] | None = None
    min_input_size: int = 1
    classes: int | None = None
    params: int | None = None
    feature_layer: str | None = None
    dream_layers: Mapping[str, float] = field(default_factory=dict)
    paper: str | None = None
    training: Mapping[str, Any] = field(default_factory=dict)  # kerascnn.training.settings
    weights: dict[str, WeightCard] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, name: str, raw: Mapping[str, Any]) -> ModelCard:
        """Parse a zoo JSON entry or a ``register_model(card=...)`` dict."""
        known = set(cls.__dataclass_fields__) - {"name"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise UserError(
                f"model card {name!r}: unknown field(s) {unknown}; known: {sorted(known)}"
            )
        args = dict(raw)
        if args.get("input_shape") is not None:
            args["input_shape"] = tuple(args["input_shape"])
        args["weights"] = {
            v: w if isinstance(w, WeightCard) else WeightCard.from_dict(name, v, w)
            for v, w in (raw.get("weights") or {}).items()
        }
        return cls(name=name, **args)

    def weight(self, variant: str) -> WeightCard:
        """The card of ``variant``; a one-line ``UserError`` naming the known ones."""
        if variant not in self.weights:
            known = ", ".join(sorted(self.weights)) or "none"
            raise UserError(f"{self.name}: no weights {variant!r}; use one of: {known}")
        return self.weights[variant]

    def default_variant(self) -> str:
        """The variant used when only a model name is given: the first with a classifier head."""
        for variant, card in self.weights.items():
            if card.include_top:
                return variant
        raise UserError(
            f"{self.name}: no published weights with a classifier; give a weights file "
            "or see `kerascnn zoo list`"
        )
