"""Export for deployment: every artifact, loaded in its own runtime, computes what Keras does.

Each test loads the artifact itself (``tf.saved_model.load``, ``onnxruntime``, the LiteRT
interpreter of ai-edge-litert, OpenVINO's ``Core().compile_model``), feeds real photos (the
bundled examples, and CIFAR-10 JPEGs where ``../shared/data`` has them) and compares the
probabilities with the Keras model given the same photos and the card's preprocessing:
float32 within 1e-4 and the same top-1 class on every photo. Marked ``backend``: CI runs
them again under JAX, where SavedModel and ONNX export and the other formats must refuse.
VGG16 and AlexNet are tested with seeded random weights at a small input size here, at
their default size in every format under ``-m slow``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import PIL.Image
import pytest
from click.testing import CliRunner

import kerascnn
from kerascnn.cli.main import cli
from kerascnn.deploy import formats
from kerascnn.deploy.exporter import example_photos, export
from kerascnn.errors import UserError
from kerascnn.images import prepare_images
from tests.conftest import DATA
from tests.test_export_metadata import _one_line_error as one_line_error

pytestmark = pytest.mark.backend

BACKEND = keras.backend.backend()
TF = BACKEND == "tensorflow"
HERE = ("savedmodel", "onnx", "litert", "openvino") if TF else ("savedmodel", "onnx")
ELSEWHERE = tuple(f for f in formats.FORMATS if f not in HERE)
BUNDLED = ("gesture_cnn:sign-digits", "alexnet_cifar:cifar10")
RUNTIMES = {
    "savedmodel": "tensorflow",
    "onnx": "onnxruntime",
    "litert": "ai_edge_litert",
    "openvino": "openvino",
}
CIFAR = DATA / "cifar10-jpeg" / "cifar10-jpeg.zip"


def _requires(fmt: str) -> None:
    for module in formats.FORMATS[fmt].packages.get(BACKEND, ()):
        pytest.importorskip(module, reason=f"{fmt} export needs {module} (the export extra)")


def _suffix(fmt: str) -> str:
    return formats.FORMATS[fmt].suffix or f"_{fmt}"


def _open(path: Path, fmt: str, dtype: str = "uint8"):
    """The artifact in its own runtime, loaded here (not through kerascnn): pixels (rounded,
    as ``dtype``: kerascnn exports take raw ``uint8`` pixels by default) -> probabilities."""
    run = _open_float(path, fmt)
    return lambda pixels: run(np.asarray(pixels).astype(dtype))


def _open_float(path: Path, fmt: str):
    if fmt == "savedmodel":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))
        return lambda pixels: loaded.serve(tf.constant(pixels)).numpy()
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda pixels: session.run(None, {session.get_inputs()[0].name: pixels})[0]
    if fmt == "litert":
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path))
        inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

        def run(pixels):
            interpreter.resize_tensor_input(inp["index"], pixels.shape)
            interpreter.allocate_tensors()
            interpreter.set_tensor(inp["index"], pixels)
            interpreter.invoke()
            return interpreter.get_tensor(out["index"])

        return run
    import openvino

    # float32 on CPUs with AMX too (their default is bfloat16), as the JSON file says
    config = {"INFERENCE_PRECISION_HINT": "f32"}
    compiled = openvino.Core().compile_model(str(path / "model.xml"), "CPU", config)
    return lambda pixels: compiled(pixels)[0]


def _run(path: Path, fmt: str, pixels: np.ndarray) -> np.ndarray:
    return _open(path, fmt)(pixels)


def _photos(photos: list, size: tuple) -> np.ndarray:
    """Photos at ``size`` as raw pixels: rounded to whole values, as a uint8 input takes them."""
    return np.round(prepare_images(photos, size)[1])


def _keras(loaded: kerascnn.LoadedModel, pixels: np.ndarray) -> np.ndarray:
    """The Keras model's probabilities, given the card's preprocessing."""
    from kerascnn.probabilities import probabilities

    return probabilities(loaded.model.predict(loaded.preprocess(pixels), verbose=0))


def _assert_same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-4
    assert (got.argmax(axis=1) == want.argmax(axis=1)).all()


def _cifar_photos(per_class: int = 2) -> np.ndarray:
    """The first CIFAR-10 test JPEGs of each class, or a skip naming what is missing."""
    if not CIFAR.is_file():
        pytest.skip(f"CIFAR-10 JPEGs not found at {CIFAR} (set KERASCNN_DATA)")
    from kerascnn.deploy.calibration import zip_images

    return np.stack(zip_images(CIFAR, "test", per_class))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    """``(spec, format) -> (export result, Keras model, artifact in its runtime)``, once each."""
    root = tmp_path_factory.mktemp("exports")
    cache: dict = {}

    def get(spec: str, fmt: str):
        if (spec, fmt) not in cache:
            _requires(fmt)
            folder = root / f"{spec.replace(':', '_')}_{fmt}"
            folder.mkdir()
            result = export(spec, fmt, folder / f"model{_suffix(fmt)}")
            cache[spec, fmt] = result, kerascnn.load(spec), _open(result.path, fmt)
        return cache[spec, fmt]

    return get


@pytest.mark.parametrize("fmt", HERE)
@pytest.mark.parametrize("spec", BUNDLED)
def test_a_bundled_model_exports_what_keras_computes(exported, spec, fmt):
    result, loaded, run = exported(spec, fmt)
    pixels = _photos(example_photos(), loaded.input_size)
    _assert_same(run(pixels), _keras(loaded, pixels))
    assert result.verification["max_abs_diff"] <= 1e-4
    assert result.verification["top1_agreement"] == 1.0
    labels, meta = formats.sidecars(result.path, formats.FORMATS[fmt])
    assert labels.read_text().splitlines() == loaded.classes
    facts = json.loads(meta.read_text())
    assert facts["input_size"] == list(loaded.input_size) and facts["value_range"] == [0, 255]
    assert facts["source"] == spec and facts["preprocessing"]["mode"] == "none"
    assert facts["versions"]["kerascnn"] == kerascnn.__version__
    assert (
        facts["versions"]["keras"] == keras.__version__ and facts["versions"]["backend"] == BACKEND
    )


@pytest.mark.parametrize("fmt", HERE)
@pytest.mark.parametrize("spec", BUNDLED)
def test_a_bundled_model_matches_keras_on_cifar_photos(exported, spec, fmt):
    pixels = _cifar_photos()
    _, loaded, run = exported(spec, fmt)
    pixels = _photos(list(pixels), loaded.input_size)
    _assert_same(run(pixels), _keras(loaded, pixels))


def test_a_format_the_backend_cannot_export_is_a_clear_error(tmp_path):
    if not ELSEWHERE:
        pytest.skip(f"the {BACKEND} backend exports every format")
    for fmt in ELSEWHERE:
        with pytest.raises(UserError, match=f"cannot export {fmt} from the {BACKEND} backend.*; "
                           "run with KERAS_BACKEND=tensorflow"):  # fmt: skip
            export("gesture_cnn:sign-digits", fmt, tmp_path / f"g{_suffix(fmt)}")
    assert list(tmp_path.iterdir()) == []


def test_every_format_and_backend_is_exported_or_refused_with_a_reason():
    for fmt in formats.FORMATS.values():
        formats.check_backend(fmt, "tensorflow")
        for backend in ("jax", "torch"):
            if backend not in fmt.packages:
                with pytest.raises(UserError, match="KERAS_BACKEND=tensorflow"):
                    formats.check_backend(fmt, backend)


def _seeded(name: str, shape: tuple[int, int, int], tmp_path: Path) -> Path:
    keras.utils.set_random_seed(0)
    path = tmp_path / f"{name}.weights.h5"
    kerascnn.create_model(name, input_shape=shape).save_weights(path)
    return path


@pytest.mark.parametrize(
    ("name", "shape", "fmt", "preprocessing"),
    [
        ("vgg16", (32, 32, 3), "openvino" if TF else "onnx", "caffe"),
        ("alexnet", (63, 63, 3), "savedmodel", "torch"),
    ],
)
def test_vgg16_and_alexnet_with_a_weights_file_bake_in_their_preprocessing(
    name, shape, fmt, preprocessing, tmp_path
):
    _requires(fmt)
    weights = _seeded(name, shape, tmp_path)
    args = {"weights": str(weights), "input_shape": shape}
    result = export(
        name, fmt, tmp_path / f"{name}{_suffix(fmt)}", preprocessing=preprocessing, **args
    )
    loaded = kerascnn.load(name, preprocessing=preprocessing, **args)
    pixels = _photos(example_photos(), shape[:2])
    _assert_same(_run(result.path, fmt, pixels), _keras(loaded, pixels))
    assert result.metadata["preprocessing"]["mode"] == preprocessing
    assert result.metadata["preprocessing"]["bgr"] is (preprocessing == "caffe")


@pytest.mark.slow
@pytest.mark.parametrize("fmt", HERE)
@pytest.mark.parametrize("name", ["vgg16", "alexnet"])
def test_vgg16_and_alexnet_at_their_default_size(name, fmt, tmp_path):
    _requires(fmt)
    keras.utils.set_random_seed(0)
    loaded = kerascnn.load(name, weights=None)
    result = export(loaded, fmt, tmp_path / f"{name}{_suffix(fmt)}", allow_random=True)
    photos = [*example_photos()] + (list(_cifar_photos(1)) if CIFAR.is_file() else [])
    pixels = _photos(photos, (224, 224))
    _assert_same(_run(result.path, fmt, pixels), _keras(loaded, pixels))


def test_a_run_folder_exports_with_its_class_names(tmp_path, monkeypatch):
    _requires("onnx")
    from kerascnn.saved import write_metadata

    run = tmp_path / "runs" / "hands"
    run.mkdir(parents=True)
    keras.utils.set_random_seed(0)
    model = kerascnn.create_model(
        "gesture_cnn", input_shape=(32, 32, 3), classes=3, classifier_activation=None
    )
    model.save(run / "model.keras")
    write_metadata(run / "model.keras", ["fist", "palm", "peace"], "tf")
    monkeypatch.chdir(tmp_path)  # the default output goes to the working folder
    result = export(str(run), "onnx")
    assert result.path == Path("hands.onnx") and result.metadata["softmax_added"] is True
    assert (tmp_path / "hands.onnx.labels.txt").read_text() == "fist\npalm\npeace\n"
    assert result.metadata["weights"]["pretrained"] is True
    loaded = kerascnn.load(str(run))
    pixels = _photos(example_photos(), (32, 32))
    _assert_same(_run(tmp_path / "hands.onnx", "onnx", pixels), _keras(loaded, pixels))


def _cli(*args: str):
    return CliRunner().invoke(cli, list(args), prog_name="kerascnn")


def _predict_json(*args: str, env: dict | None = None) -> tuple[list, dict]:
    """``kerascnn predict ... --json`` in a fresh process; also which modules it imported."""
    code = (
        "import json, sys\nfrom kerascnn.cli.main import cli\n"
        "try:\n    cli.main(sys.argv[1:], prog_name='kerascnn', standalone_mode=False)\n"
        "finally:\n    print(json.dumps({m: m in sys.modules for m in ('tensorflow', 'keras')}),"
        " file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "predict", *args, "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), json.loads(done.stderr.strip().splitlines()[-1])


def test_cli_export_prints_the_difference_and_predict_runs_without_tensorflow(tmp_path):
    _requires("onnx")
    photo = example_photos()[1]
    out = tmp_path / "hands.onnx"
    args = ["export", "gesture_cnn:sign-digits", "--format", "onnx", "-o", str(out)]
    result = _cli(*args, "--input-dtype", "float32")
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output and "labels.txt" in result.output
    assert (
        "max probability difference" in result.output and "same top-1 class on 3/3" in result.output
    )
    onnx_rows, imported = _predict_json(str(out), photo)
    assert imported == {"tensorflow": False, "keras": False}
    keras_rows = json.loads(_cli("predict", "gesture_cnn:sign-digits", photo, "--json").output)
    got, want = onnx_rows[0]["predictions"], keras_rows[0]["predictions"]
    assert [p["label"] for p in got] == [p["label"] for p in want] and len(got) == 5
    assert (
        max(abs(a["probability"] - b["probability"]) for a, b in zip(got, want, strict=True))
        <= 1e-4
    )


@pytest.mark.skipif(not TF, reason="LiteRT exports from the TensorFlow backend only")
def test_predict_on_a_tflite_file_prints_what_keras_prints(tmp_path):
    _requires("litert")
    photo = example_photos()[2]
    out = tmp_path / "cifar.tflite"  # float32 input: Keras' own pixels, not rounded ones
    args = ["export", "alexnet_cifar:cifar10", "-f", "litert", "-o", str(out)]
    assert _cli(*args, "--input-dtype", "float32").exit_code == 0
    rows, imported = _predict_json(str(out), photo)
    assert imported["keras"] is False
    # the artifact computes no TTA (none was asked for), so neither does Keras here
    keras_rows = json.loads(
        _cli("predict", "alexnet_cifar:cifar10", photo, "--tta", "none", "--json").output
    )
    got, want = rows[0]["predictions"], keras_rows[0]["predictions"]
    assert [p["label"] for p in got] == [p["label"] for p in want]
    assert (
        max(abs(a["probability"] - b["probability"]) for a, b in zip(got, want, strict=True))
        <= 1e-4
    )


def test_no_verify_skips_the_comparison(tmp_path):
    _requires("savedmodel")
    result = _cli(
        "export",
        "gesture_cnn:sign-digits",
        "-f",
        "savedmodel",
        "-o",
        str(tmp_path / "hands"),
        "--no-verify",
        "--json",
    )
    assert result.exit_code == 0, result.output
    facts = json.loads(result.output)
    assert facts["verification"] is None and (tmp_path / "hands" / "saved_model.pb").is_file()
    assert (tmp_path / "hands" / "labels.txt").is_file() and (
        tmp_path / "hands" / "export.json"
    ).is_file()


@pytest.mark.parametrize(
    ("fmt", "quantize"),
    [
        ("litert", "int8"),
        ("litert", "float16"),
        ("onnx", "int8"),
        ("openvino", "int8"),
    ],
)
def test_quantized_exports_are_smaller_and_agree_on_the_photos(fmt, quantize, tmp_path, request):
    """int8 calibrates on the card's set (200 training photos, 100 held out for the gate)."""
    if fmt not in HERE:
        pytest.skip(f"{fmt} exports from the TensorFlow backend only")
    _requires(fmt)
    if quantize == "int8":
        request.getfixturevalue("data_dir")
    result = export(
        "gesture_cnn:sign-digits", fmt, tmp_path / f"q{_suffix(fmt)}", quantize=quantize
    )
    full = kerascnn.load("gesture_cnn:sign-digits").model.count_params() * 4
    assert result.size < full / (3 if quantize == "int8" else 1.9)
    assert result.verification["top1_agreement"] == 1.0 and result.verification["tolerance"] is None
    assert result.metadata["quantize"] == quantize
    if quantize == "int8":
        gate = result.metadata["calibration"]["gate"]
        assert gate["images"] == 100 and gate["top1_agreement"] >= 0.98
        assert result.metadata["calibration"]["calibrate"] == 200


@pytest.mark.skipif(not TF, reason="LiteRT exports from the TensorFlow backend only")
def test_int8_of_a_bundled_variant_calibrates_on_its_recipe_set(tmp_path, data_dir):
    _requires("litert")
    result = export("gesture_cnn:sign-digits", "litert", tmp_path / "g.tflite", quantize="int8")
    assert result.verification["top1_agreement"] == 1.0


def _one_line_error(args: list[str], tmp_path: Path, contains: str) -> None:
    one_line_error(args, contains)


def test_bad_arguments_are_one_line_errors_and_write_nothing(tmp_path):
    taken = tmp_path / "taken.onnx"
    taken.write_bytes(b"old")
    spec = "gesture_cnn:sign-digits"
    few = tmp_path / "few"  # too few photos to calibrate and hold a third out
    few.mkdir()
    for i in range(2):
        PIL.Image.new("RGB", (8, 8), (i * 90, 0, 0)).save(few / f"{i}.png")
    int8 = ["export", spec, "-f", "onnx", "--quantize", "int8", "--calibration", str(few)]
    cases = [
        (int8, "2 photos, too few to calibrate int8"),
        (["export", spec, "-f", "tflite"], "did you mean 'litert'"),
        (["export", spec, "-f", "onnx", "-o", str(taken)], "--force"),
        (
            ["export", spec, "-f", "onnx", "-o", str(tmp_path / "x.tflite")],
            "onnx files end in .onnx",
        ),
        (["export", spec, "-f", "onnx", "--quantize", "float16"], "onnx export takes"),
        (["export", spec, "-f", "onnx", "--calibration", str(tmp_path)], "--quantize int8"),
        (["export", spec, "-f", "savedmodel", "-o", str(tmp_path / "no" / "x")], "no such folder"),
    ]
    for args, contains in cases:
        _one_line_error(args, tmp_path, contains)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["few", "taken.onnx"]
    assert taken.read_bytes() == b"old"


def test_a_missing_runtime_names_the_extra(tmp_path, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "onnxruntime" else find_spec(name, *a),
    )
    _one_line_error(
        ["export", "gesture_cnn:sign-digits", "-f", "onnx", "-o", str(tmp_path / "g.onnx")],
        tmp_path,
        'pip install "kerascnn[export]"',
    )
    assert list(tmp_path.iterdir()) == []


def test_int8_of_a_model_without_a_recipe_needs_a_calibration_folder(tmp_path):
    _requires("onnx")
    _one_line_error(
        [
            "export",
            "gesture_cnn",
            "--weights",
            "none",
            "--allow-random",
            "-f",
            "onnx",
            "--quantize",
            "int8",
            "-o",
            str(tmp_path / "g.onnx"),
        ],
        tmp_path,
        "--calibration DIR",
    )
    assert list(tmp_path.iterdir()) == []


def test_a_model_that_takes_any_size_needs_image_size(tmp_path):
    _requires("onnx")
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalMaxPooling2D()(x))
    keras.Model(inputs, outputs).save(tmp_path / "any.keras")
    out = str(tmp_path / "any.onnx")
    _one_line_error(
        ["export", str(tmp_path / "any.keras"), "-f", "onnx", "-o", out],
        tmp_path,
        "--image-size H W",
    )
    assert not Path(out).exists()
    result = _cli(
        "export", str(tmp_path / "any.keras"), "-f", "onnx", "-o", out, "--image-size", "24", "20"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(Path(out + ".json").read_text())["input_size"] == [24, 20]


class _Odd(keras.layers.Layer):
    """Uses erfinv, which TFLite's built-in ops, tf2onnx and OpenVINO's frontend all lack."""

    def call(self, x):
        return x + 1e-3 * keras.ops.erfinv(keras.ops.tanh(x) * 0.5)


@pytest.mark.skipif(not TF, reason="jax2onnx expresses erfinv; LiteRT and OpenVINO need TensorFlow")
@pytest.mark.parametrize("fmt", ["onnx", "litert", "openvino"])
def test_a_layer_the_format_cannot_express_is_named(fmt, tmp_path):
    _requires(fmt)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.GlobalAveragePooling2D()(_Odd(name="odd_layer")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(x), name="odd_net")
    with pytest.raises(
        UserError, match=f"layer 'odd_layer' uses Erfinv, which {fmt} cannot express; "
    ):
        export(model, fmt, tmp_path / f"odd{_suffix(fmt)}")
    assert list(tmp_path.iterdir()) == []


def test_a_model_without_a_classifier_is_refused(tmp_path):
    with pytest.raises(UserError, match="not one score per class; export a model with a class"):
        export(
            "gesture_cnn", "savedmodel", tmp_path / "f", include_top=False, pooling="avg",
            weights=None, allow_random=True,
        )  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_a_failed_export_or_check_leaves_nothing(tmp_path, monkeypatch):
    _requires("onnx")
    from kerascnn.deploy import convert, exporter

    def broken(model, fmt, path, quantize, images, opset=None):
        Path(path).write_bytes(b"half an artifact")
        raise RuntimeError("disk full")

    monkeypatch.setattr(convert, "export_model", broken)
    with pytest.raises(UserError, match="onnx export of gesture_cnn:sign-digits failed"):
        export("gesture_cnn:sign-digits", "onnx", tmp_path / "g.onnx")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    monkeypatch.setattr(exporter, "TOLERANCE", -1.0)  # no artifact can pass
    with pytest.raises(
        UserError, match="differs from Keras .*nothing written; rerun with --no-verify"
    ):
        export("gesture_cnn:sign-digits", "savedmodel", tmp_path / "g")
    assert list(tmp_path.iterdir()) == []


def test_two_models_exported_into_one_folder_keep_their_own_names(tmp_path):
    _requires("onnx")
    export("gesture_cnn:sign-digits", "onnx", tmp_path / "g.onnx")
    export("alexnet_cifar:cifar10", "onnx", tmp_path / "c.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "c.onnx", "c.onnx.json", "c.onnx.labels.txt", "g.onnx", "g.onnx.json", "g.onnx.labels.txt",
    ]  # fmt: skip
    gesture = json.loads((tmp_path / "g.onnx.json").read_text())["classes"]
    assert gesture == kerascnn.load("gesture_cnn:sign-digits").classes
    assert (tmp_path / "c.onnx.labels.txt").read_text().splitlines()[-1] == "truck"
