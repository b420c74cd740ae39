"""Self-describing exports: the facts inside each artifact, read with the format's own library.

Each artifact holds its class names, preprocessing, tensor names, weights and versions (ONNX
``metadata_props``, a zip appended to a ``.tflite``, SavedModel ``assets.extra/``, OpenVINO
``rt_info``), so a lone copy predicts with its class names; a sidecar that disagrees, a damaged
file and an export that would lose work are each one error line. Each (spec, format, options)
is exported once per module; ``gesture_cnn:sign-digits`` is the cheap one, and
``alexnet_cifar:cifar10`` is used where its class names must be told from output indices.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata as md
from importlib import resources
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner

import kerascnn
from kerascnn.cli.main import cli
from kerascnn.deploy import formats
from kerascnn.deploy.exporter import example_photos, export
from kerascnn.images import prepare_images
from tests.conftest import REPO

pytestmark = pytest.mark.backend

BACKEND = keras.backend.backend()
TF = BACKEND == "tensorflow"
HERE = ("savedmodel", "onnx", "litert", "openvino") if TF else ("savedmodel", "onnx")
FILES = tuple(f for f in HERE if not formats.FORMATS[f].folder)
FOLDERS = tuple(f for f in HERE if formats.FORMATS[f].folder)
GESTURE, CIFAR = "gesture_cnn:sign-digits", "alexnet_cifar:cifar10"


def _requires(fmt: str) -> None:
    for module in formats.FORMATS[fmt].packages.get(BACKEND, ()):
        pytest.importorskip(module, reason=f"{fmt} export needs {module} (the export extra)")


def _suffix(fmt: str) -> str:
    return formats.FORMATS[fmt].suffix or f"_{fmt}"


def _seeded(name: str, shape: tuple[int, int, int], folder: Path) -> Path:
    keras.utils.set_random_seed(0)
    path = folder / f"{name}.weights.h5"
    kerascnn.create_model(name, input_shape=shape).save_weights(path)
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    """``(spec, format, **export options) -> ExportResult``, each exported once per module."""
    root = tmp_path_factory.mktemp("exports")
    cache: dict = {}

    def get(spec: str, fmt: str, **options):
        key = (spec, fmt, *sorted(options.items()))
        if key not in cache:
            _requires(fmt)
            folder = root / f"{len(cache)}_{spec.replace(':', '_')}_{fmt}"
            folder.mkdir()
            if options.pop("seeded", False):  # vgg16 with seeded weights, at 32x32
                options["weights"] = str(_seeded(spec, options["input_shape"], folder))
            cache[key] = export(spec, fmt, folder / f"model{_suffix(fmt)}", **options)
        return cache[key]

    return get


def _digits_photos() -> tuple[np.ndarray, list[str]]:
    """The bundled hand-sign photos at 64x64 as raw pixels, and the digit each one shows."""
    photos = example_photos()
    digits = [Path(p).stem.rsplit("_", 1)[-1] for p in photos]  # sign_digit_5.jpg -> "5"
    return np.round(prepare_images(photos, (64, 64))[1]), digits


def _bundled_sha256(spec: str) -> str:
    name = spec.replace(":", "_").replace("-", "_") + ".weights.h5"
    data = (resources.files("kerascnn.zoo") / "weights" / name).read_bytes()
    return hashlib.sha256(data).hexdigest()


def _embedded(path: Path, fmt: str) -> dict:
    """The facts inside the artifact, read with the format's own library (not kerascnn's)."""
    if fmt == "onnx":
        import onnx

        proto = onnx.load(str(path))
        props = {p.key: p.value for p in proto.metadata_props}
        graph = hashlib.sha256(proto.graph.SerializeToString()).hexdigest()
        assert props["kerascnn.sha256"] == graph  # what tells a damaged file
        return json.loads(props["kerascnn"])
    if fmt == "litert":
        with zipfile.ZipFile(path) as archive:  # appended after the flatbuffer
            facts = json.loads(archive.read("kerascnn.json"))
            assert archive.read("labels.txt").decode().splitlines() == facts["classes"]
        return facts
    if fmt == "savedmodel":
        return json.loads((path / "assets.extra" / "kerascnn.json").read_text())
    import openvino

    model = openvino.Core().read_model(str(path / "model.xml"))
    return json.loads(model.get_rt_info(["kerascnn"]).astype(str))


def _run_by_name(path: Path, fmt: str, facts: dict, pixels: np.ndarray) -> np.ndarray:
    """The artifact run in its own runtime, fed and read by the tensor names in ``facts``."""
    inp, out = facts["input"]["name"], facts["output"]["name"]
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert [session.get_inputs()[0].name, session.get_outputs()[0].name] == [inp, out]
        assert session.get_inputs()[0].shape[1:] == facts["input"]["shape"][1:]
        return session.run([out], {inp: pixels})[0]
    if fmt == "litert":
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path))
        [fed], [read] = interpreter.get_input_details(), interpreter.get_output_details()
        assert [fed["name"], read["name"]] == [inp, out]
        assert list(fed["shape_signature"][1:]) == facts["input"]["shape"][1:]
        interpreter.resize_tensor_input(fed["index"], pixels.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(fed["index"], pixels)
        interpreter.invoke()
        return interpreter.get_tensor(read["index"])
    if fmt == "savedmodel":
        import tensorflow as tf

        serve = tf.saved_model.load(str(path)).signatures["serving_default"]
        spec = serve.structured_input_signature[1][inp]  # KeyError: not the runtime's name
        assert spec.shape.as_list()[1:] == facts["input"]["shape"][1:]
        return serve(**{inp: tf.constant(pixels)})[out].numpy()
    import openvino

    # The CPU plugin ignores rt_info options: f32 (not bf16 on AVX512-BF16/AMX CPUs) comes
    # from the facts' runtime_config, which kerascnn's runtime passes to compile_model.
    assert facts["runtime_config"] == {"INFERENCE_PRECISION_HINT": "f32"}
    compiled = openvino.Core().compile_model(
        str(path / "model.xml"), "CPU", facts["runtime_config"]
    )
    assert compiled.get_property("INFERENCE_PRECISION_HINT") == openvino.Type.f32
    assert compiled.input(inp).get_partial_shape()[1:].to_shape() == facts["input"]["shape"][1:]
    return compiled(pixels)[compiled.output(out)]


@pytest.mark.parametrize("fmt", HERE)
def test_the_artifact_holds_its_facts_and_its_runtime_uses_the_tensor_names(exported, fmt):
    result = exported(GESTURE, fmt)
    facts = _embedded(result.path, fmt)
    _, json_file = formats.sidecars(result.path, formats.FORMATS[fmt])
    sidecar = json.loads(json_file.read_text())
    assert facts == {k: v for k, v in sidecar.items() if k != "verification"}
    assert facts["format"] == fmt and facts["source"] == GESTURE
    assert facts["classes"] == [str(d) for d in range(10)]
    assert facts["preprocessing"]["mode"] == "none" and facts["preprocessing"]["baked_in"]
    assert {k: facts["input"][k] for k in ("dtype", "layout", "shape")} == {
        "dtype": "uint8", "layout": "nhwc", "shape": [None, 64, 64, 3],
    }  # fmt: skip
    assert facts["input_size"] == [64, 64] and facts["value_range"] == [0, 255]
    assert facts["output"]["shape"] == [None, 10]
    assert facts["resize"]["library"] == "Pillow" and facts["resize"]["filter"] == "bilinear"
    assert facts["weights"] == {
        "pretrained": True, "spec": GESTURE, "sha256": _bundled_sha256(GESTURE),
    }  # fmt: skip
    assert facts["opset"] is None and facts["quantize"] == "none"
    versions = facts["versions"]
    assert versions["kerascnn"] == kerascnn.__version__ and versions["keras"] == keras.__version__
    assert versions["backend"] == BACKEND and versions["tensorflow"] == md.version("tensorflow")
    converter = {"onnx": "tf2onnx" if TF else "jax2onnx", "openvino": "openvino"}.get(fmt)
    if converter:
        assert versions[converter] == md.version(converter)
    pixels, digits = _digits_photos()
    probabilities = _run_by_name(result.path, fmt, facts, pixels.astype("uint8"))
    assert [facts["classes"][i] for i in probabilities.argmax(axis=1)] == digits


def _kerascnn(*args: str) -> subprocess.CompletedProcess:
    """``kerascnn ARGS`` in a fresh process; its last stderr line tells what it imported."""
    code = (
        "import json, sys\nfrom kerascnn.cli.main import main\n"
        "try:\n    main(sys.argv[1:])\n"
        "finally:\n    print(json.dumps({m: m in sys.modules for m in ('tensorflow', 'keras')}),"
        " file=sys.stderr)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=dict(os.environ)
    )


def _cifar_reference(photo: str) -> list[dict]:
    """Keras' top 5 for ``photo`` as the artifact sees it: resized, rounded to uint8, without
    the card's default test-time augmentation (the artifacts were exported without it)."""
    pixels = np.round(prepare_images([photo], (32, 32))[1])
    return [p.as_dict() for p in kerascnn.predict(CIFAR, list(pixels), tta="none")[0]]


def _assert_cifar_rows(rows: list, photo: str) -> None:
    want = _cifar_reference(photo)
    got = rows[0]["predictions"]
    classes = kerascnn.load(CIFAR).classes
    assert [p["label"] for p in got] == [p["label"] for p in want] and len(got) == 5
    assert all(p["label"] == classes[p["index"]] for p in got)  # names, not indices
    diff = [abs(a["probability"] - b["probability"]) for a, b in zip(got, want, strict=True)]
    assert max(diff) <= 1e-4


@pytest.mark.parametrize("fmt", FILES)
def test_a_lone_copy_without_its_sidecars_predicts_with_its_class_names(exported, fmt, tmp_path):
    result = exported(CIFAR, fmt)
    copy = tmp_path / "elsewhere" / f"cifar{_suffix(fmt)}"
    copy.parent.mkdir()
    shutil.copy(result.path, copy)
    assert sorted(p.name for p in copy.parent.iterdir()) == [copy.name]
    photo = example_photos()[1]
    done = _kerascnn("predict", str(copy), photo, "--json")
    assert done.returncode == 0, done.stderr
    _assert_cifar_rows(json.loads(done.stdout), photo)
    imported = json.loads(done.stderr.strip().splitlines()[-1])
    if fmt == "onnx":
        assert imported == {"tensorflow": False, "keras": False}
    else:
        assert imported["keras"] is False


@pytest.mark.parametrize("fmt", FOLDERS)
def test_predict_runs_on_an_exported_folder_with_or_without_its_sidecars(exported, fmt, tmp_path):
    result = exported(CIFAR, fmt)
    photo = example_photos()[1]
    ran = CliRunner().invoke(cli, ["predict", str(result.path), photo, "--json"])
    assert ran.exit_code == 0, ran.output
    _assert_cifar_rows(json.loads(ran.stdout), photo)
    bare = tmp_path / result.path.name
    shutil.copytree(result.path, bare)
    (bare / "labels.txt").unlink()
    (bare / "export.json").unlink()
    ran = CliRunner().invoke(cli, ["predict", str(bare), photo])  # the table
    assert ran.exit_code == 0, ran.output
    top = _cifar_reference(photo)[0]["label"]
    assert top in ran.stdout and "model.keras" not in ran.output


def _one_line_error(args: list[str], contains: str) -> str:
    result = CliRunner().invoke(cli, args, prog_name="kerascnn")
    lines = result.stderr.splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("Error: "), (
        result.output
    )
    assert "; " in lines[0] and contains in lines[0], lines[0]
    assert result.stdout == ""
    return lines[0]


def test_a_sidecar_that_disagrees_with_the_artifact_is_named(exported, tmp_path):
    result = exported(GESTURE, "onnx")
    folder = tmp_path / "copy"
    folder.mkdir()
    for path in (result.path, *formats.sidecars(result.path, formats.FORMATS["onnx"])):
        shutil.copy(path, folder)
    model, photo = folder / result.path.name, example_photos()[0]
    labels, json_file = formats.sidecars(model, formats.FORMATS["onnx"])
    good_labels, good_json = labels.read_text(), json_file.read_text()
    assert CliRunner().invoke(cli, ["predict", str(model), photo]).exit_code == 0
    labels.write_text("".join(f"class {i}\n" for i in range(10)))
    line = _one_line_error(["predict", str(model), photo], f"{labels} disagrees")
    assert "classes" in line and "class 0" in line
    labels.write_text(good_labels)
    facts = json.loads(good_json)
    facts["classes"] = [f"sign {d}" for d in facts["classes"]]
    json_file.write_text(json.dumps(facts))
    _one_line_error(["predict", str(model), photo], f"{json_file} disagrees")
    json_file.write_text(good_json)
    facts["preprocessing"]["mode"] = "caffe"
    facts["classes"] = json.loads(good_json)["classes"]
    json_file.write_text(json.dumps(facts))
    _one_line_error(["predict", str(model), photo], f"{json_file} disagrees")


@pytest.mark.parametrize("fmt", FOLDERS)
def test_a_folder_whose_labels_disagree_is_named(exported, fmt, tmp_path):
    result = exported(GESTURE, fmt)
    copy = tmp_path / result.path.name
    shutil.copytree(result.path, copy)
    (copy / "labels.txt").write_text("fist\npalm\n")
    _one_line_error(["predict", str(copy), example_photos()[0]], f"{copy / 'labels.txt'} disagrees")


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _flipped(data: bytes) -> bytes:
    """64 bytes in the middle (the weights) with every bit flipped."""
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :]


DAMAGE = {
    "truncated.onnx": ("onnx", _truncated),
    "bit-flipped.onnx": ("onnx", _flipped),
    "empty.onnx": ("onnx", lambda data: b""),
    "text.onnx": ("onnx", lambda data: b"this is not a model\n"),
    "truncated.tflite": ("litert", _truncated),
    "model.txt": ("onnx", lambda data: data),  # a whole ONNX file, named .txt
}


@pytest.mark.parametrize("name", DAMAGE)
def test_a_damaged_artifact_is_one_error_line(exported, name, tmp_path):
    fmt, damage = DAMAGE[name]
    if fmt not in HERE:
        pytest.skip(f"{fmt} exports from the TensorFlow backend only")
    source = exported(GESTURE, fmt).path.read_bytes()
    path = tmp_path / name
    path.write_bytes(damage(source))
    done = _kerascnn("predict", str(path), example_photos()[0])
    lines = done.stderr.strip().splitlines()[:-1]  # the last one: what was imported
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "; " in lines[0], done.stderr
    assert name in lines[0] and done.stdout == ""


def test_random_weights_need_allow_random(tmp_path):
    _requires("onnx")
    out = tmp_path / "X.onnx"
    args = ["export", "gesture_cnn", "--weights", "none", "-f", "onnx", "-o", str(out)]
    _one_line_error(args, "--allow-random")
    assert list(tmp_path.iterdir()) == []
    done = CliRunner().invoke(cli, [*args, "--allow-random", "--json"], prog_name="kerascnn")
    assert done.exit_code == 0, done.output
    facts = json.loads(done.stdout)
    assert facts["weights"] == {"pretrained": False, "spec": None, "sha256": None}
    assert _embedded(out, "onnx")["weights"]["pretrained"] is False
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "X.onnx", "X.onnx.json", "X.onnx.labels.txt",
    ]  # fmt: skip


def test_an_existing_output_is_refused_before_keras_is_imported(tmp_path):
    taken = tmp_path / "taken.onnx"
    taken.write_bytes(b"old")
    done = _kerascnn("export", GESTURE, "-f", "onnx", "-o", str(taken))
    *lines, imported = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: ") and "exists; pass --force" in lines[0]
    assert json.loads(imported) == {"tensorflow": False, "keras": False}
    assert taken.read_bytes() == b"old" and list(tmp_path.iterdir()) == [taken]


def test_an_nchw_float32_onnx_at_opset_17_computes_what_keras_does(exported):
    import onnx
    import onnxruntime

    from kerascnn.deploy.runtime import load_artifact

    result = exported(GESTURE, "onnx", layout="nchw", input_dtype="float32", opset=17)
    proto = onnx.load(str(result.path))
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [17]
    session = onnxruntime.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    [given] = session.get_inputs()
    assert given.shape[1:] == [3, 64, 64] and given.type == "tensor(float)"
    facts = _embedded(result.path, "onnx")
    assert facts["opset"] == 17 and facts["input"]["shape"] == [None, 3, 64, 64]
    assert facts["input"]["layout"] == "nchw" and facts["input"]["dtype"] == "float32"
    pixels = prepare_images(example_photos(), (64, 64))[1]  # float pixels, not rounded
    artifact = load_artifact(result.path)
    got = artifact.run(pixels)
    nchw = session.run(None, {given.name: pixels.transpose(0, 3, 1, 2).copy()})[0]
    assert np.abs(got - nchw).max() == 0
    want = np.zeros_like(got)
    for row, predictions in zip(want, kerascnn.predict(GESTURE, list(pixels), top=10), strict=True):
        for p in predictions:
            row[p.index] = p.probability
    assert np.abs(got - want).max() <= 1e-4
    assert (got.argmax(axis=1) == want.argmax(axis=1)).all()


OPENCV_CASES = {
    "gesture": (GESTURE, {}, "none"),
    "cifar": (CIFAR, {}, "none"),
    "vgg16-caffe": (
        "vgg16", {"seeded": True, "input_shape": (32, 32, 3), "preprocessing": "caffe"}, "caffe",
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    "case", [*OPENCV_CASES][:-1] + [pytest.param("vgg16-caffe", marks=pytest.mark.slow)]
)
def test_opencv_runs_the_onnx_export_as_onnxruntime_does(exported, case):
    cv2 = pytest.importorskip("cv2")
    import onnxruntime

    spec, options, mode = OPENCV_CASES[case]
    result = exported(spec, "onnx", **options)
    assert _embedded(result.path, "onnx")["preprocessing"]["mode"] == mode
    size = tuple(result.metadata["input_size"])
    pixels = np.round(prepare_images(example_photos(), size)[1])
    session = onnxruntime.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    want = session.run(None, {session.get_inputs()[0].name: pixels.astype(np.uint8)})[0]
    net = cv2.dnn.readNetFromONNX(str(result.path))
    for dtype in (np.float32, np.uint8):  # NHWC as the model takes it, no blobFromImages
        net.setInput(np.ascontiguousarray(pixels.astype(dtype)))
        got = net.forward()
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 1e-4, dtype


def _requirements(section: str, key: str) -> list[str]:
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    lines = config[section][key].strip().splitlines()
    return [line.split(">")[0].split("=")[0].split("<")[0].strip() for line in lines if line]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_export_extra_installs_what_export_imports():
    extra = _requirements("options.extras_require", "export")
    required = _requirements("options", "install_requires")
    # OpenVINO conversion imports Keras' openvino backend (scipy.signal); onnxruntime's
    # quant_pre_process (int8) imports its symbolic shape inference (sympy)
    assert {"scipy", "sympy", "onnx"} <= set(extra)
    wanted = {_normal(r) for r in (*extra, *required)}
    installed = md.packages_distributions()
    for fmt in formats.FORMATS.values():
        for module in fmt.packages["tensorflow"]:
            named = installed.get(module) or [formats._DISTRIBUTIONS.get(module, module)]
            dists = {_normal(d) for d in named}  # e.g. ai_edge_litert -> ai-edge-litert
            assert dists & wanted, f"{fmt.name} export imports {module}, from {sorted(dists)}"
    assert "opencv-python-headless" in _requirements("options.extras_require", "test")
