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

    from kerascnn.predict import _probabilities, is_distribution

    x = loaded.preprocess(photos)  # a plain call: no predict function traced per export
    raw = np.concatenate(
        [
            keras.ops.convert_to_numpy(loaded.model(x[i : i + 16], training=False))
            for i in range(0, len(x), 16)
        ]
    )
    return _probabilities(raw), not is_distribution(raw)


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
        output: the file or folder to write (default: named after the model, in the cwd);
            ``labels.txt`` and a JSON file go beside a file, inside a folder.
        quantize: ``"none"``; ``"float16"`` or ``"int8"`` (LiteRT), ``"int8"`` (ONNX).
        calibration: a folder of photos for int8 (bundled variants have their recipe's set).
        image_size: (height, width) for a model that takes any size.
        preprocessing: overrides the weights' preprocessing mode (e.g. ``"caffe"``).
        labels: class names in output order (default: the weights' or the sidecar's).
        force: replace an existing output (and a different ``labels.txt``).
        verify: compare with Keras (float32: within 1e-4, same top-1, else nothing written).
        verify_images: photos to compare on (default: the bundled examples).
        **builder_args: passed to the zoo builder (``weights=``, ``input_shape=``...).
    """
    fmt = formats.get_format(format)
    target = _check_first(model, fmt, output, quantize, calibration, force)
    from kerascnn.deploy.build import check_model, deployable, input_size, metadata
    from kerascnn.deploy.calibration import calibration_images, check_calibration
    from kerascnn.deploy.convert import export_model
    from kerascnn.deploy.runtime import Artifact, runner
    from kerascnn.predict import prepare_images
    from kerascnn.resolve import load

    # the calibration set is checked before the model is loaded
    found = check_calibration(model, calibration)[0] if quantize == "int8" else None
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
    images = None if found is None else calibration_images(found, size, loaded.crop)
    net = deployable(loaded, size, softmax)
    with _staging(target, fmt) as tmp:
        with _explained(fmt.name, loaded.source, net):
            export_model(net, fmt.name, tmp, quantize, images)
            if verify:  # in the artifact's own runtime
                got = Artifact(tmp, fmt.name, size, runner=runner(tmp, fmt.name)[0]).run(photos)
        check = _compare(got, reference, fmt, loaded.source, quantize) if verify else None
        facts = metadata(
            loaded,
            fmt.name,
            artifact=target.name,
            size=size,
            quantize=quantize,
            softmax_added=softmax,
            classes=len(names),
            verification=check,
        )
        labels_file, json_file = formats.sidecars(tmp if fmt.folder else target, fmt)
        atomic.write_text(labels_file, "\n".join(names) + "\n")
        atomic.write_json(json_file, facts)
        nbytes = _size(tmp)
    return ExportResult(
        target, fmt.name, quantize, [target, *formats.sidecars(target, fmt)], nbytes, facts
    )
