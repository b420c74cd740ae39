"""The public API: one function per task at the top level of ``kerascnn``, each taking the model
first as ``model`` and returning a typed result; the names of 0.1 work one more release with a
``DeprecationWarning`` naming what replaces them (``CHANGELOG.md``)."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import kerascnn
from kerascnn.errors import KerascnnDeprecationWarning, UserError

TASKS = ("fit", "finetune", "evaluate", "predict", "deep_dream", "export", "benchmark", "serve",
         "push", "load")  # fmt: skip
RESULTS = ("LoadedModel", "TrainResult", "EvalResult", "Prediction", "ExportResult",
           "BenchmarkResult", "PushResult", "TrainConfig", "FinetuneConfig")  # fmt: skip


@pytest.mark.parametrize("name", TASKS)
def test_each_task_is_a_function_taking_the_model_first(name):
    function = getattr(kerascnn, name)
    assert callable(function) and not inspect.ismodule(function)
    assert next(iter(inspect.signature(function).parameters)) == "model"
    assert "Args:" in (function.__doc__ or "")


def test_the_results_and_settings_are_dataclasses():
    for name in RESULTS:
        assert dataclasses.is_dataclass(getattr(kerascnn, name)), name
    assert {*TASKS, *RESULTS, "create_model", "list_models"} <= set(kerascnn.__all__)


def test_import_kerascnn_and_the_task_names_import_neither_keras_nor_tensorflow():
    names = ", ".join(f"kerascnn.{n}" for n in TASKS if n not in ("finetune", "deep_dream"))
    code = (
        f"import sys, kerascnn\n{names}\n"
        "assert not {'keras', 'tensorflow'} & set(sys.modules), sorted(sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize(
    ("alias", "attribute", "replacement"),
    [
        ("train", "fit", "kerascnn.fit"),
        ("data", "image_folder", "kerascnn.training.data"),
        ("dream", "deep_dream", "kerascnn.deep_dream"),
        ("visualize", "gradcam", "kerascnn.interpret.visualize"),
        ("inspect", "layer_table", "kerascnn.analysis"),
    ],
)
def test_the_module_aliases_of_0_1_still_work_with_a_warning(alias, attribute, replacement):
    with pytest.warns(KerascnnDeprecationWarning, match=f"kerascnn.{alias} is deprecated.*"):
        module = getattr(kerascnn, alias)
    assert callable(getattr(module, attribute))
    with pytest.warns(DeprecationWarning, match=replacement.replace(".", r"\.")):
        getattr(kerascnn, alias)  # each use warns, not only the first


def test_from_kerascnn_import_an_old_alias_warns():
    with pytest.warns(DeprecationWarning, match="kerascnn.fit"):
        from kerascnn import train
    assert train.fit is kerascnn.training.fit


def test_evaluate_is_the_function_and_its_old_module_attributes_warn():
    from kerascnn.training import evaluate as module

    assert kerascnn.evaluate.__wrapped__ is module.evaluate
    assert inspect.signature(kerascnn.evaluate) == inspect.signature(module.evaluate)
    with pytest.warns(
        DeprecationWarning, match=r"kerascnn\.evaluate\.evaluate.*kerascnn\.evaluate\(...\)"
    ):
        assert kerascnn.evaluate.evaluate is module.evaluate
    with pytest.warns(DeprecationWarning, match="kerascnn.training.evaluate"):
        assert kerascnn.evaluate.pair_classes is module.pair_classes
    with pytest.raises(AttributeError):
        kerascnn.evaluate.no_such_thing  # noqa: B018


def test_the_old_keyword_of_the_model_still_works_with_a_warning(tmp_path: Path):
    old = pytest.warns(DeprecationWarning, match=r"kerascnn\.fit\(model_or_name=...\)")
    with old, pytest.raises(UserError, match="unknown setting 'bogus'"):  # after the rename
        kerascnn.fit(model_or_name="gesture_cnn", data=tmp_path, bogus=1)
    with old, pytest.raises(TypeError, match="got both model and model_or_name"):
        kerascnn.fit("gesture_cnn", tmp_path, model_or_name="gesture_cnn")
    with pytest.raises(TypeError, match="missing 1 required argument: 'data'"):
        kerascnn.fit("gesture_cnn")
    old = pytest.warns(DeprecationWarning, match=r"kerascnn\.push\(source=...\)")
    with old, pytest.raises(UserError, match="unknown scheme 's3://'"):
        kerascnn.push(source="gesture_cnn:sign-digits", uri="s3://bucket/model")


def test_finetune_takes_model_not_model_or_spec(tmp_path: Path):
    old = pytest.warns(DeprecationWarning, match=r"kerascnn\.finetune\(model_or_spec=...\)")
    with old, pytest.raises(UserError, match="unknown setting 'bogus'"):
        kerascnn.finetune(model_or_spec="gesture_cnn", data=tmp_path, bogus=1)
    with pytest.warns(DeprecationWarning, match="kerascnn.TrainResult"):
        from kerascnn.transfer import FinetuneResult
    assert FinetuneResult is kerascnn.TrainResult


def test_the_helpers_that_moved_out_of_predict_still_import_from_it():
    from kerascnn import images, probabilities

    with pytest.warns(DeprecationWarning, match="kerascnn.images.prepare_images"):
        from kerascnn.predict import prepare_images
    assert prepare_images is images.prepare_images
    with pytest.warns(DeprecationWarning, match="kerascnn.probabilities.is_distribution"):
        from kerascnn.predict import is_distribution
    assert is_distribution is probabilities.is_distribution


def test_a_benchmark_result_iterates_as_its_rows_did_with_a_warning():
    from kerascnn.deploy.bench import BenchRow

    rows = [BenchRow("keras", "ok", 1.0), BenchRow("onnx", "ok", 0.5)]
    result = kerascnn.BenchmarkResult("m", Path("d"), "all", "jax", rows)
    assert result.as_dicts()[1]["format"] == "onnx"
    with pytest.warns(DeprecationWarning, match=r"\.rows"):
        assert [r.format for r in result] == ["keras", "onnx"]
    with pytest.warns(DeprecationWarning, match=r"result\.rows\[i\]"):
        assert result[0] is rows[0]


def test_serve_is_a_python_function_with_the_cli_checks(tmp_path: Path):
    pytest.importorskip("fastapi")
    with pytest.raises(UserError, match="missing.onnx"):
        kerascnn.serve(tmp_path / "missing.onnx", port=0)
    with pytest.raises(UserError, match="2 --name for 1 models"):
        kerascnn.serve([str(tmp_path / "a.onnx")], port=0, names=["a", "b"])


def test_the_moved_weights_load_module_still_imports_with_a_warning():
    from kerascnn import builder

    sys.modules.pop("kerascnn.weights.load", None)
    with pytest.warns(DeprecationWarning, match="kerascnn.weights.load.*kerascnn.builder"):
        from kerascnn.weights.load import load_into, resolve_classes
    assert (load_into, resolve_classes) == (builder.load_into, builder.resolve_classes)
