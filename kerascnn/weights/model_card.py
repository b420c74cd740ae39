"""The model card (``README.md``) of a preset, written from its ``metadata.json``: YAML front
matter for the hubs (``library_name``, ``license``, ``tags``, ``datasets``, ``metrics``), then
what the model is, its classes, its measured accuracy and split, how to use it, how it was
trained and its limits. Every figure comes from the metadata; nothing is typed in by hand."""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["license_id", "render_card"]

_LICENSES = {"apache-2.0", "mit", "bsd-3-clause", "bsd-2-clause", "cc-by-4.0", "cc0-1.0"}
_PREPROCESSING = {
    "none": "RGB pixels in [0, 255], as they are (the model rescales them itself)",
    "caffe": "BGR, ImageNet mean subtracted (Keras' `caffe` mode)",
    "torch": "RGB in [0, 1], normalised by the ImageNet mean and std (torchvision)",
    "tf": "RGB scaled to [-1, 1]",
}


def license_id(text: str | None) -> str:
    """The hub's identifier of a license text (``Apache-2.0 (...)`` -> ``apache-2.0``)."""
    first = (text or "").split(" ", 1)[0].strip("(),").lower()
    return first if first in _LICENSES else "other"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _front_matter(meta: dict[str, Any]) -> str:
    tags = ["kerascnn", "keras", "image-classification", meta["architecture"]]
    lines = [
        "---",
        "library_name: kerascnn",
        f"license: {license_id(meta.get('license'))}",
        "tags:",
        *(f"- {t}" for t in tags),
    ]
    if meta.get("dataset"):
        lines += ["datasets:", f"- {_slug(meta['dataset'])}"]
    lines += ["metrics:", "- accuracy", "pipeline_tag: image-classification", "---"]
    return "\n".join(lines)


def _accuracy(meta: dict[str, Any]) -> list[str]:
    acc = meta.get("accuracy")
    if not acc or acc.get("top1") is None:
        return ["Not measured: this preset was pushed without a held-out evaluation."]
    images = acc.get("images")
    line = f"**{acc['top1']:.2f}% top-1** on the {acc.get('split', 'held-out')} split"
    if images:
        errors = acc.get("errors")
        line += f" ({images:,} images" + (f", {errors} errors)" if errors is not None else ")")
    rows = [line + "."]
    per_class = {k: v for k, v in (acc.get("per_class") or {}).items() if v is not None and v < 1}
    if per_class:
        worst = sorted(per_class.items(), key=lambda kv: kv[1])[:3]
        shown = ", ".join(f"`{name}` {100 * value:.1f}%" for name, value in worst)
        rows.append(f"Weakest classes: {shown} (every class: `metadata.json`, `accuracy`).")
    if acc.get("dataset"):
        rows.append(f"Data: {acc['dataset']}.")
    if acc.get("measured_by"):
        rows.append(f"Measured by: {acc['measured_by']}.")
    split = meta.get("split") or {}
    if split.get("seed") is not None:
        rows.append(
            f"The split is kerascnn's deterministic one (seed {split['seed']}, "
            f"test {split.get('test_split', 0):g}, validation {split.get('validation_split', 0):g}"
            + (f"; images {json.dumps(split['counts'])}" if split.get("counts") else "")
            + "): the held-out images never trained the model."
            + (
                " `metadata.json` holds a sha256 of each split's file list."
                if split.get("files_sha256")
                else ""
            )
        )
    if acc.get("paper"):
        rows.append(f"For comparison: {acc['paper']}.")
    return rows


def _usage(meta: dict[str, Any], uri: str | None) -> list[str]:
    name = uri or "PRESET_FOLDER"
    return [
        "```bash",
        "pip install 'kerascnn[hub]'",
        f"kerascnn predict {name} photo.jpg",
        "```",
        "",
        "```python",
        "import kerascnn",
        "",
        f'loaded = kerascnn.load("{name}")',
        "loaded.classes  # the class names, in the order of the outputs",
        'kerascnn.predict(loaded, "photo.jpg")',
        "```",
        "",
        f"Fine-tune it on your own folders: `kerascnn finetune {name} --data FOLDER`.",
    ]


def _training(meta: dict[str, Any]) -> list[str]:
    training = meta.get("training")
    if not training:
        return ["Not recorded."]
    if set(training) == {"description"}:
        return [str(training["description"]) + "."]
    shown = [f"- {k}: `{json.dumps(v)}`" for k, v in training.items() if v is not None]
    return [
        "`kerascnn train`/`finetune` with these settings (`metadata.json`, `training`):",
        "",
        *shown,
    ]


def _limits(meta: dict[str, Any]) -> list[str]:
    height, width = meta["input_size"][:2]
    classes = meta.get("classes") or []
    rows = [
        f"- It knows only these {len(classes)} classes: every image gets one of them, "
        "whatever it shows.",
        f"- It sees {height}x{width} pixels; larger photos are resized, small details are lost.",
    ]
    acc = meta.get("accuracy") or {}
    if acc.get("top1") is not None:
        rows.append(
            "- Its accuracy was measured on held-out images of the same collection it was "
            "trained on; other cameras, lighting, backgrounds or people will do worse."
        )
        images = acc.get("images")
        if images and images < 1000:
            rows.append(f"- {images} test images: one more error moves the figure by "
                        f"{100 / images:.2f} points.")  # fmt: skip
    if meta.get("random_weights"):
        rows.append("- **Its weights are random**: it was never trained.")
    return rows


def render_card(meta: dict[str, Any], uri: str | None = None) -> str:
    """The model card of a preset with ``meta`` (its ``metadata.json``), to be published
    at ``uri``."""
    classes = meta.get("classes") or []
    shown = ", ".join(f"`{c}`" for c in classes[:50]) + (", ..." if len(classes) > 50 else "")
    title = uri.split("://", 1)[-1] if uri else meta["source"]
    what = meta.get("description") or f"A `{meta['architecture']}` network"
    prep = _PREPROCESSING.get(meta["preprocessing"], meta["preprocessing"])
    sections = [
        _front_matter(meta),
        f"# {title}",
        "## What it is",
        f"{what}, from the [kerascnn](https://pypi.org/project/kerascnn/) model zoo "
        f"(`{meta['architecture']}`, {meta['parameter_count']:,} parameters). It classifies "
        f"{'x'.join(map(str, meta['input_size']))} images into {len(classes)} classes. "
        f"Saved from `{meta['source']}` with kerascnn {meta['kerascnn_version']} and "
        f"Keras {meta['keras_version']} on {meta['date_saved'][:10]}. Input: {prep}.",
        "## Classes",
        shown or "Not recorded.",
        "## Accuracy",
        "\n\n".join(_accuracy(meta)),
        "## How to use",
        "\n".join(_usage(meta, uri)),
        "## How it was trained",
        "\n".join(_training(meta)),
        "## Limits",
        "\n".join(_limits(meta)),
        "## Files",
        "`config.json` (Keras model config), `model.weights.h5` (sha256 "
        f"`{meta.get('weights_sha256', '')}`), `metadata.json` (everything above, "
        "machine-readable), this `README.md`.",
    ]
    return "\n\n".join(sections) + "\n"
