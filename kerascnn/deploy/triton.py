"""A Triton model repository: ``DIR/NAME/config.pbtxt``, ``DIR/NAME/1/model.onnx`` and
``DIR/NAME/labels.txt``, the config written from the artifact's own facts (tensor names,
datatypes, dims), so a client of ``kerascnn serve`` moves to Triton unchanged.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kerascnn.errors import UserError

if TYPE_CHECKING:
    from kerascnn.resolve import ModelSource

__all__ = ["TritonRepository", "export_repository", "triton_config"]

_TYPES = {"uint8": "TYPE_UINT8", "float32": "TYPE_FP32"}


@dataclass
class TritonRepository:
    """What :func:`export_repository` wrote."""

    path: Path  # DIR/NAME
    name: str
    config: str  # config.pbtxt's text
    metadata: dict[str, Any]  # the ONNX artifact's facts

    @property
    def files(self) -> list[Path]:
        """The config, the model and the labels."""
        return [
            self.path / "config.pbtxt",
            self.path / "1" / "model.onnx",
            self.path / "labels.txt",
        ]


def triton_config(name: str, facts: dict[str, Any], max_batch_size: int = 64) -> str:
    """``config.pbtxt`` for an ONNX artifact with the facts ``facts`` (its ``NAME.json``):
    batch dimension left to ``max_batch_size``, dynamic batching on, labels attached."""
    inp, out = facts["input"], facts["output"]
    dims = [int(d) for d in inp["shape"][1:]]
    classes = len(facts["classes"])
    return (
        f'name: "{name}"\n'
        'platform: "onnxruntime_onnx"\n'
        f"max_batch_size: {int(max_batch_size)}\n"
        "input [\n  {\n"
        f'    name: "{inp["name"]}"\n'
        f"    data_type: {_TYPES[inp['dtype']]}\n"
        f"    dims: [ {', '.join(map(str, dims))} ]\n"
        "  }\n]\n"
        "output [\n  {\n"
        f'    name: "{out["name"]}"\n'
        "    data_type: TYPE_FP32\n"
        f"    dims: [ {classes} ]\n"
        '    label_filename: "labels.txt"\n'
        "  }\n]\n"
        "dynamic_batching {\n  max_queue_delay_microseconds: 0\n}\n"
        "instance_group [\n  {\n    kind: KIND_CPU\n    count: 1\n  }\n]\n"
    )


def _onnx_into(model: ModelSource, target: Path, options: dict[str, Any]) -> dict[str, Any]:
    """The ONNX model at ``target`` (copied when ``model`` is an ``.onnx`` export already,
    else exported); its facts."""
    if isinstance(model, str | os.PathLike) and Path(model).suffix.lower() == ".onnx":
        from kerascnn.deploy.formats import FORMATS, sidecars
        from kerascnn.deploy.runtime import load_artifact

        if options:
            raise UserError(
                f"{model} is exported already; drop {', '.join(sorted(options))} or export "
                "the Keras model instead"
            )
        artifact = load_artifact(model)  # readable, and its facts agree with its sidecars
        shutil.copyfile(artifact.path, target)
        for src, dst in zip(sidecars(artifact.path, FORMATS["onnx"]),
                            sidecars(target, FORMATS["onnx"]), strict=True):  # fmt: skip
            if src.is_file():
                shutil.copyfile(src, dst)
        return artifact.metadata
    from kerascnn.deploy.exporter import export

    return export(model, "onnx", target, force=True, **options).metadata


def export_repository(
    model: ModelSource,
    directory: str | os.PathLike[str],
    name: str | None = None,
    *,
    max_batch_size: int = 64,
    force: bool = False,
    **options: Any,
) -> TritonRepository:
    """Write a Triton model repository entry for ``model`` under ``directory``.

    Args:
        model: an exported ``.onnx`` file (copied), or anything :func:`kerascnn.export`
            takes (exported to ONNX, checked against Keras).
        directory: the repository folder (created if missing).
        name: the model's name in Triton (default: the one ``kerascnn serve`` gives it).
        max_batch_size: Triton's largest batch.
        force: replace ``directory/name`` if it exists.
        **options: passed to :func:`kerascnn.export` (``quantize``, ``input_dtype``...).
    """
    from kerascnn.deploy.models import served_name

    root = Path(directory).expanduser()
    if root.exists() and not root.is_dir():
        raise UserError(f"{root} is a file; give a folder for the Triton repository")
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".kerascnn-triton-", dir=root))
    try:
        (staging / "1").mkdir()
        facts = _onnx_into(model, staging / "1" / "model.onnx", options)
        name = name or served_name(str(model), facts)
        if facts["input"].get("layout", "nhwc") not in ("nhwc", "nchw"):
            raise UserError(f"{model}: unknown input layout; export it again")
        target = root / name
        if target.exists() and not force:
            raise UserError(f"{target} exists; pass --force to replace it")
        text = triton_config(name, facts, max_batch_size)
        (staging / "config.pbtxt").write_text(text, encoding="utf-8")
        (staging / "labels.txt").write_text("\n".join(facts["classes"]) + "\n", "utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return TritonRepository(target, name, text, facts)
