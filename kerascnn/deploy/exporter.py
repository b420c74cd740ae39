"""``kerascnn.export``: a model as a deployable artifact, checked against Keras, written whole.

Every check comes before any work; the artifact is exported into a temporary sibling of the
output, compared with Keras in its own runtime and only then moved into place.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kerascnn import atomic
from kerascnn.deploy import formats
from kerascnn.deploy.formats import Format
from kerascnn.errors import UserError

__all__ = ["INT8_AGREEMENT", "TOLERANCE", "ExportResult", "example_photos", "export"]

TOLERANCE = 1e-4  # float32 artifacts: max |probability difference| against Keras
INT8_AGREEMENT = 0.98  # int8 artifacts: least share of the calibration hold-out with Keras' top-1


@dataclass
class ExportResult:
    """What :func:`export` wrote and measured."""

    path: Path
    format: str
    quantize: str
    files: list[Path]
    size: int  # bytes of the artifact (a folder: all its files)
    metadata: dict[str, Any]

    @property
    def verification(self) -> dict[str, Any] | None:
        """``images``, ``max_abs_diff``, ``top1_agreement``... or ``None`` (not verified)."""
        return self.metadata["verification"]


def example_photos() -> list[str]:
    """The photos shipped in ``kerascnn.zoo/examples``: every export is checked on them."""
    from importlib import resources

    folder = resources.files("kerascnn.zoo") / "examples"
    return sorted(str(p) for p in folder.iterdir() if p.name.lower().endswith(".jpg"))


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@contextlib.contextmanager
def _staging(target: Path, fmt: Format) -> Iterator[Path]:
    """A temporary sibling of ``target`` to export into; moved over ``target`` on success."""
    prefix = f".{secrets.token_hex(4)}"
    tmp, old = (target.with_name(f"{prefix}.{kind}.{target.name}") for kind in ("tmp", "old"))
    if fmt.folder:
        tmp.mkdir()
    try:
        yield tmp
        if not fmt.folder:
            atomic.commit(tmp, target)
        else:
            if target.exists():  # --force: the old export goes only once the new one is in
                os.replace(target, old)
            try:
                os.replace(tmp, target)
            except OSError:
                if old.exists():
                    os.replace(old, target)
                raise
    finally:  # the artifact, the old export, and what converters wrote beside it
        for path in target.parent.glob(prefix + ".*"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


@contextlib.contextmanager
def _explained(fmt: str, source: str, net: Any) -> Iterator[None]:
    """Quiet converters and runtimes; their failures as one line naming the op and layer."""
    from kerascnn.deploy.convert import explain
    from kerascnn.deploy.runtime import quiet

    try:
        with quiet():
            yield
    except UserError:
        raise
    except Exception as exc:  # e.g. an op the format or the runtime does not know
        raise explain(exc, fmt, source, net) from None


def _compare(got: Any, reference: Any, fmt: Format, source: str, quantize: str) -> dict[str, Any]:
    """The artifact's probabilities against Keras'; float32 ones must match, else an error."""
    import numpy as np

    n = len(reference)
    diff = float(np.abs(got - reference).max())
    agree = int((got.argmax(axis=1) == reference.argmax(axis=1)).sum())
    if quantize == "none" and (diff > TOLERANCE or agree < n):
        raise UserError(
            f"the {fmt.name} export of {source} differs from Keras by {diff:.2g} (tolerance "
            f"{TOLERANCE:g}; top-1 agrees on {agree}/{n} photos), nothing written; "
            "rerun with --no-verify to keep it anyway"
        )
    return {
        "runtime": fmt.runtime,
        "images": n,
        "max_abs_diff": diff,
        "top1_agreement": agree / n,
        "tolerance": TOLERANCE if quantize == "none" else None,
    }


def _check_first(model: Any, fmt: Format, output: Any, quantize: str, options: dict) -> Path:
    """Every check that needs no model, in order; the output's before Keras is imported."""
    from kerascnn.deploy.build import random_error, random_weights

    formats.check_quantize(fmt, quantize, options["calibration"])
    formats.check_input(fmt, options["input_dtype"], options["layout"], options["opset"])
    target = output if output is not None else formats.default_output(model, fmt, quantize)
    target = formats.check_output(target, fmt, options["force"])
    if random_weights(model, options["builder_args"]) and not options["allow_random"]:
        random_error(model)
    import keras

    backend = keras.backend.backend()
    formats.check_backend(fmt, backend)
    formats.check_packages(fmt, backend, quantize)
    return target


def _reference(loaded: Any, photos: Any) -> tuple[Any, bool]:
    """Keras' probabilities on ``photos`` (card's preprocessing); whether to add a softmax."""
    import keras
    import numpy as np

    from kerascnn.probabilities import is_distribution, probabilities

    x = loaded.preprocess(photos)  # a plain call: no predict function traced per export
    raw = np.concatenate(
        [
            keras.ops.convert_to_numpy(loaded.model(x[i : i + 16], training=False))
            for i in range(0, len(x), 16)
        ]
    )
    return probabilities(raw), not is_distribution(raw)


def _int8_gate(artifact: Any, loaded: Any, check: Any, accept_loss: bool) -> dict[str, Any]:
    """The int8 artifact against Keras on the calibration hold-out; under
    ``INT8_AGREEMENT`` top-1 agreement an error with the figures, unless ``accept_loss``."""
    import numpy as np

    reference = _reference(loaded, check)[0]
    got = artifact.run(check)
    agree = float((got.argmax(1) == reference.argmax(1)).mean())
    diff = float(np.abs(got - reference).max())
    facts = {"images": len(check), "top1_agreement": agree, "max_abs_diff": diff}
    if agree < INT8_AGREEMENT and not accept_loss:
        raise UserError(
            f"the int8 export of {loaded.source} agrees with Keras on {agree:.1%} of "
            f"{len(check)} held-out calibration images (max |Δp| {diff:.3f}, gate "
            f"{INT8_AGREEMENT:.0%}), nothing written; calibrate on more representative "
            "photos (--calibration DIR), export float32, or pass --accept-loss"
        )
    return {**facts, "threshold": INT8_AGREEMENT, "accepted_loss": agree < INT8_AGREEMENT}


def _class_names(labels: list[str] | None, loaded: Any, outputs: int) -> list[str]:
    names = [str(n) for n in (labels or loaded.classes or range(outputs))]
    if len(names) != outputs:
        raise UserError(
            f"{len(names)} class names for a model with {outputs} outputs; fix the labels"
        )
    return names


def _calibration_split(found: Any, loaded: Any, size: Any, input_dtype: str) -> tuple[Any, Any]:
    """The calibration pixels and the held-out check pixels (``None, None`` for no int8)."""
    if found is None:
        return None, None
    from kerascnn.deploy.calibration import calibration_images, holdout
    from kerascnn.deploy.runtime import to_input

    pixels = to_input(calibration_images(found[0], size, loaded.crop), input_dtype)
    return holdout(pixels.astype("float32"))


def _write_sidecars(
    tmp: Path, fmt: Format, files: tuple[Path, Path], names: list, facts: dict
) -> None:
    """``labels.txt`` and the JSON facts: inside a folder artifact, else beside the file."""
    labels_file, json_file = (tmp / f.name for f in files) if fmt.folder else files
    atomic.write_text(labels_file, "\n".join(names) + "\n")
    atomic.write_json(json_file, facts)


def export(
    model: Any,
    format: str,
    output: str | os.PathLike[str] | None = None,
    *,
    quantize: str = "none",
    calibration: str | os.PathLike[str] | None = None,
    input_dtype: str = "uint8",
    layout: str = "nhwc",
    opset: int | None = None,
    image_size: tuple[int, int] | None = None,
    preprocessing: str | None = None,
    labels: list[str] | None = None,
    allow_random: bool = False,
    accept_loss: bool = False,
    force: bool = False,
    verify: bool = True,
    verify_images: list[Any] | None = None,
    **builder_args: Any,
) -> ExportResult:
    """Export ``model`` for deployment, checked against Keras, describing itself.

    The artifact takes RGB pixels in [0, 255] at the model's input size (``uint8`` or
    float32, NHWC or NCHW), applies the preprocessing of its weights itself and outputs
    probabilities. Its facts (class names, preprocessing, resize filter, tensor names,
    weights...) go inside it and into ``NAME.json`` beside it, the names into
    ``NAME.labels.txt`` (inside a folder artifact: ``export.json``, ``labels.txt``).

    Args:
        model: anything :func:`kerascnn.load` takes: ``"gesture_cnn:sign-digits"``, a
            ``.keras`` file, a run folder, ``"vgg16"`` with ``weights="file.h5"``...
        format: ``"savedmodel"``, ``"onnx"``, ``"litert"`` or ``"openvino"``.
        output: the file or folder to write (default: named after the model, in the cwd).
        quantize: ``"none"``; ``"float16"`` or ``"int8"`` (LiteRT), ``"int8"`` (ONNX, OpenVINO).
        calibration: a folder of photos for int8 (default: the weight card's set); a third
            is held out, and under ``INT8_AGREEMENT`` agreement there the export fails.
        input_dtype, layout: ``"uint8"`` (raw pixels) or ``"float32"``; ``"nhwc"``, ``"nchw"``.
        opset: the ONNX opset (default: the converter's).
        image_size: (height, width) for a model that takes any size.
        preprocessing: overrides the weights' preprocessing mode (e.g. ``"caffe"``).
        labels: class names in output order (default: the weights' or the sidecar's).
        allow_random: export a model without pretrained weights (else an error).
        accept_loss: keep an int8 artifact that fails the agreement gate.
        force: replace an existing output.
        verify: compare with Keras (float32: within 1e-4, same top-1, else nothing written).
        verify_images: photos to compare on (default: the bundled examples).
        **builder_args: passed to the zoo builder (``weights=``, ``input_shape=``...).
    """
    fmt = formats.get_format(format)
    options = {"calibration": calibration, "input_dtype": input_dtype, "layout": layout,
               "opset": opset, "force": force, "allow_random": allow_random}  # fmt: skip
    target = _check_first(model, fmt, output, quantize, {**options, "builder_args": builder_args})
    from kerascnn.deploy.build import check_model, deployable, input_size, metadata, random_error
    from kerascnn.deploy.calibration import check_calibration
    from kerascnn.deploy.convert import export_model
    from kerascnn.deploy.embed import embed, tensor_names
    from kerascnn.deploy.runtime import Artifact, runner, to_input
    from kerascnn.images import prepare_images
    from kerascnn.resolve import load

    # the calibration set is checked before the model is loaded
    found = check_calibration(model, calibration) if quantize == "int8" else None
    loaded = load(model, preprocessing=preprocessing, **builder_args)
    if not loaded.pretrained and not allow_random:
        random_error(loaded.source)
    check_model(loaded)
    size = input_size(loaded, image_size, fmt.name)
    photos = prepare_images(verify_images or example_photos(), size, loaded.crop)[1]
    photos = to_input(photos, input_dtype).astype("float32")  # what a uint8 input sees
    reference, softmax = _reference(loaded, photos)
    names = _class_names(labels, loaded, reference.shape[1])
    calibrate, check = _calibration_split(found, loaded, size, input_dtype)
    net = deployable(loaded, size, softmax, input_dtype, layout)
    labels_file, json_file = formats.sidecars(target, fmt)
    with _staging(target, fmt) as tmp:
        with _explained(fmt.name, loaded.source, net):
            feed = None if calibrate is None else to_input(calibrate, input_dtype, layout)
            export_model(net, fmt.name, tmp, quantize, feed, opset)
            facts = metadata(
                loaded, fmt.name, artifact=target.name, size=size, input_dtype=input_dtype,
                layout=layout, opset=opset if fmt.name == "onnx" else None,
                names=tensor_names(tmp, fmt.name), quantize=quantize,
                calibration=None if found is None else {"source": found[1],
                                                        "calibrate": len(calibrate)},
                softmax_added=softmax, classes=names, labels=labels_file.name, verification=None,
            )  # fmt: skip
            artifact = Artifact(tmp, fmt.name, size, names, metadata=facts)
            if check is not None:
                artifact.runner = runner(tmp, fmt.name)[0]
                facts["calibration"]["gate"] = _int8_gate(artifact, loaded, check, accept_loss)
            embed(tmp, fmt.name, {k: v for k, v in facts.items() if k != "verification"})
            if verify:  # the final artifact, in its own runtime
                artifact.runner = runner(tmp, fmt.name)[0]
                got = artifact.run(photos)
        if verify:
            facts["verification"] = _compare(got, reference, fmt, loaded.source, quantize)
        _write_sidecars(tmp, fmt, (labels_file, json_file), names, facts)
        nbytes = _size(tmp)
    return ExportResult(target, fmt.name, quantize, [target, labels_file, json_file], nbytes, facts)
