"""``kerascnn.export``: a model as a deployable artifact, checked against Keras, written whole.

Order of work: check the arguments, the backend, the optional packages and the output;
load the model; check its output and input size, the labels file and the calibration set;
then export into a temporary sibling of the output, load that in its own runtime and compare
it with the Keras model on real photos, write ``labels.txt`` and the JSON file, and only
then move the artifact into place. Any failure leaves nothing behind.
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

__all__ = ["TOLERANCE", "ExportResult", "example_photos", "export"]

TOLERANCE = 1e-4  # float32 artifacts: max |probability difference| against Keras


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
    tmp = target.with_name(f".{secrets.token_hex(4)}.tmp.{target.name}")
    if fmt.folder:
        tmp.mkdir()
    try:
        yield tmp
        if not fmt.folder:
            atomic.commit(tmp, target)
        else:
            old = target.with_name(f".{secrets.token_hex(4)}.old.{target.name}")
            if target.exists():  # --force: the old export goes only once the new one is in
                os.replace(target, old)
            try:
                os.replace(tmp, target)
            except OSError:
                if old.exists():
                    os.replace(old, target)
                raise
            shutil.rmtree(old, ignore_errors=True)
    finally:  # the artifact, and what converters wrote beside it (.data, float files)
        for path in target.parent.glob(tmp.name.split(".tmp.")[0] + ".*"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


@dataclass
class _Job:
    """Everything decided before the export runs."""

    loaded: Any
    fmt: Format
    target: Path
    quantize: str
    calibration: Any  # what check_calibration found, for int8
    size: tuple[int, int]
    photos: Any
    reference: Any  # Keras' probabilities on the photos
    softmax: bool  # whether the deployable model adds one
    names: list[str]


def _verify(job: _Job, tmp: Path, net: Any) -> dict[str, Any]:
    """Run the artifact in its runtime on the photos; compare with Keras' probabilities."""
    import numpy as np

    from kerascnn.deploy.convert import explain
    from kerascnn.deploy.runtime import Artifact, quiet, runner

    fmt, source, n = job.fmt, job.loaded.source, len(job.photos)
    try:
        with quiet():
            run, _ = runner(tmp, fmt.name)
            got = Artifact(tmp, fmt.name, job.size, runner=run).run(job.photos)
    except UserError:
        raise
    except Exception as exc:  # the runtime refused the file: an op it does not know
        raise explain(exc, fmt.name, source, net) from None
    diff = float(np.abs(got - job.reference).max())
    agree = int((got.argmax(axis=1) == job.reference.argmax(axis=1)).sum())
    if job.quantize == "none" and (diff > TOLERANCE or agree < n):
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
        "tolerance": TOLERANCE if job.quantize == "none" else None,
    }


def _check_first(
    model: Any, fmt: Format, output: Any, quantize: str, calibration: Any, force: bool
) -> Path:
    formats.check_quantize(fmt, quantize, calibration)
    import keras

    backend = keras.backend.backend()
    formats.check_backend(fmt, backend)
    formats.check_packages(fmt, backend, quantize)
    target = output if output is not None else formats.default_output(model, fmt, quantize)
    return formats.check_output(target, fmt, force)


def _reference(loaded: Any, photos: Any) -> tuple[Any, bool]:
    """Keras' probabilities on ``photos`` (card's preprocessing); whether to add a softmax."""
    import keras
    import numpy as np

    from kerascnn.deploy.build import is_distribution

    x = loaded.preprocess(photos)  # a plain call: no predict function traced per export
    raw = np.concatenate(
        [
            keras.ops.convert_to_numpy(loaded.model(x[i : i + 16], training=False))
            for i in range(0, len(x), 16)
        ]
    ).astype(np.float64)
    if is_distribution(raw):
        return raw, False
    shifted = np.exp(raw - raw.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True), True


def export(
    model: Any,
    format: str,
    output: str | os.PathLike[str] | None = None,
    *,
    quantize: str = "none",
    calibration: str | os.PathLike[str] | None = None,
    image_size: tuple[int, int] | None = None,
    preprocessing: str | None = None,
    labels: list[str] | None = None,
    force: bool = False,
    verify: bool = True,
    verify_images: list[Any] | None = None,
    **builder_args: Any,
) -> ExportResult:
    """Export ``model`` for deployment, checked against Keras, with its labels and metadata.

    The artifact takes RGB pixels in [0, 255] (``N x H x W x 3`` float32) at the model's
    input size, applies the preprocessing of its weights itself and outputs probabilities.

    Args:
        model: anything :func:`kerascnn.load` takes: ``"gesture_cnn:sign-digits"``, a
            ``.keras`` file, a run folder, ``"vgg16"`` with ``weights="file.h5"``...
        format: ``"savedmodel"``, ``"onnx"``, ``"litert"`` or ``"openvino"``.
        output: the file (``.onnx``, ``.tflite``) or folder to write; default: named after
            the model in the working folder. ``labels.txt`` and a JSON file go beside a
            file, inside a folder.
        quantize: ``"none"``; ``"float16"`` or ``"int8"`` (LiteRT), ``"int8"`` (ONNX).
        calibration: a folder of representative photos for int8; bundled variants have
            their recipe's set.
        image_size: (height, width) for a model that takes any size.
        preprocessing: overrides the weights' preprocessing mode (e.g. ``"caffe"`` for
            ``vgg16`` with Keras' ImageNet file).
        labels: class names in output order (default: the weights' or the sidecar's).
        force: replace an existing output (and a different ``labels.txt``).
        verify: compare the artifact with Keras (float32: max difference <= 1e-4 and the
            same top-1 class on every photo, else nothing is written).
        verify_images: photos to compare on (default: the bundled examples).
        **builder_args: passed to the zoo builder (``weights=``, ``input_shape=``...).
    """
    fmt = formats.get_format(format)
    target = _check_first(model, fmt, output, quantize, calibration, force)
    from kerascnn.deploy.build import check_model, input_size
    from kerascnn.predict import prepare_images
    from kerascnn.resolve import load

    found = None
    if quantize == "int8":  # before the model is loaded
        from kerascnn.deploy.calibration import check_calibration

        found, _ = check_calibration(model, calibration)
    loaded = load(model, preprocessing=preprocessing, **builder_args)
    check_model(loaded)
    size = input_size(loaded, image_size, fmt.name)
    photos = prepare_images(verify_images or example_photos(), size, loaded.crop)[1]
    reference, softmax = _reference(loaded, photos)
    names = [str(n) for n in (labels or loaded.classes or range(reference.shape[1]))]
    if len(names) != reference.shape[1]:
        raise UserError(
            f"{len(names)} class names for a model with {reference.shape[1]} outputs; "
            "fix the labels"
        )
    formats.check_labels(formats.sidecars(target, fmt)[0], names, force)
    job = _Job(loaded, fmt, target, quantize, found, size, photos, reference, softmax, names)
    return _write(job, verify)


def _write(job: _Job, verify: bool) -> ExportResult:
    from kerascnn.deploy.build import deployable, metadata
    from kerascnn.deploy.convert import explain, export_model
    from kerascnn.deploy.runtime import quiet

    fmt, target = job.fmt, job.target
    images = None
    if job.calibration is not None:
        from kerascnn.deploy.calibration import calibration_images

        images = calibration_images(job.calibration, job.size, job.loaded.crop)
    net = deployable(job.loaded, job.size, job.softmax)
    with _staging(target, fmt) as tmp:
        try:
            with quiet():
                export_model(net, fmt.name, tmp, job.quantize, images)
        except UserError:
            raise
        except Exception as exc:
            raise explain(exc, fmt.name, job.loaded.source, net) from None
        check = _verify(job, tmp, net) if verify else None
        facts = metadata(
            job.loaded,
            fmt.name,
            artifact=target.name,
            size=job.size,
            quantize=job.quantize,
            softmax_added=job.softmax,
            classes=len(job.names),
            verification=check,
        )
        labels_file, json_file = formats.sidecars(tmp if fmt.folder else target, fmt)
        atomic.write_text(labels_file, "\n".join(job.names) + "\n")
        atomic.write_json(json_file, facts)
        size = _size(tmp)
    return ExportResult(
        target, fmt.name, job.quantize, [target, *formats.sidecars(target, fmt)], size, facts
    )
