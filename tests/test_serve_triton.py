"""``kerascnn export --format triton-repo``: a Triton model repository whose config.pbtxt
parses with Triton's own schema (``inference.ModelConfig``, compiled from Triton's
model_config.proto as tritonclient ships it) and matches the ONNX model's inputs and
outputs, and what ``kerascnn serve`` says of the same model (a client moves unchanged)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.serving import exported_onnx, serve

ort = pytest.importorskip("onnxruntime")

_ONNX_TYPES = {"tensor(uint8)": "TYPE_UINT8", "tensor(float)": "TYPE_FP32"}
_V2_TYPES = {"TYPE_UINT8": "UINT8", "TYPE_FP32": "FP32"}


def _model_config_class():
    """Triton's ``inference.ModelConfig``, loaded from tritonclient's compiled module by
    path (its package imports grpc, which these tests do not need)."""
    spec = importlib.util.find_spec("tritonclient")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("tritonclient is not installed (pip install tritonclient)")
    path = Path(spec.submodule_search_locations[0]) / "grpc" / "model_config_pb2.py"
    module_spec = importlib.util.spec_from_file_location("_triton_model_config_pb2", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.ModelConfig


@pytest.fixture(scope="session")
def onnx_path(tmp_path_factory):
    return exported_onnx(tmp_path_factory.getbasetemp())


def _export(args: list[str]):
    from kerascnn.cli.main import cli

    result = CliRunner().invoke(cli, ["export", *args], prog_name="kerascnn")
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def _type(tensor) -> str:
    """The name of a ModelInput/ModelOutput's ``data_type`` in Triton's ``DataType`` enum."""
    enum = tensor.DESCRIPTOR.fields_by_name["data_type"].enum_type
    return enum.values_by_number[tensor.data_type].name


def _check_repository(folder: Path, name: str) -> tuple:
    """The config parsed by Triton's schema, checked against the ONNX model in the folder."""
    from google.protobuf import text_format

    config = text_format.Parse(
        (folder / name / "config.pbtxt").read_text(), _model_config_class()()
    )
    session = ort.InferenceSession(str(folder / name / "1" / "model.onnx"))
    assert config.name == name and config.platform == "onnxruntime_onnx"
    assert config.max_batch_size >= 32
    [inp], [out] = config.input, config.output
    [onnx_in], [onnx_out] = session.get_inputs(), session.get_outputs()
    assert inp.name == onnx_in.name == "pixels"
    assert list(inp.dims) == list(onnx_in.shape[1:]) == [64, 64, 3]
    assert _type(inp) == _ONNX_TYPES[onnx_in.type] == "TYPE_UINT8"
    assert out.name == onnx_out.name
    assert list(out.dims) == list(onnx_out.shape[1:]) == [10]
    assert _type(out) == _ONNX_TYPES[onnx_out.type] == "TYPE_FP32"
    labels = (folder / name / out.label_filename).read_text().splitlines()
    assert labels == [str(i) for i in range(10)]
    assert config.HasField("dynamic_batching")
    return config, inp, out


def test_a_zoo_model_becomes_a_triton_repository(tmp_path):
    _export(["gesture_cnn:sign-digits", "--format", "triton-repo", "-o", str(tmp_path / "repo")])
    _check_repository(tmp_path / "repo", "gesture_cnn_sign-digits")


def test_a_client_of_kerascnn_serve_sees_what_triton_would(onnx_path, tmp_path):
    result = _export([str(onnx_path), "--format", "triton-repo", "-o", str(tmp_path), "--json"])
    files = json.loads(result.stdout)["files"]
    name = "gesture_cnn_sign-digits"
    assert files[0] == str(tmp_path / name / "config.pbtxt")
    config, inp, out = _check_repository(tmp_path, name)
    model = tmp_path / name / "1" / "model.onnx"
    with serve([str(model)]) as server:  # the repository's own model file
        meta = server.request("GET", f"/v2/models/{name}").json()
    assert meta["inputs"] == [
        {"name": inp.name, "datatype": _V2_TYPES[_type(inp)],
         "shape": [-1, *inp.dims]}
    ]  # fmt: skip
    assert meta["outputs"] == [
        {"name": out.name, "datatype": "FP32", "shape": [-1, *out.dims]}
    ]  # fmt: skip


def test_an_existing_entry_needs_force(onnx_path, tmp_path):
    from kerascnn.cli.main import cli

    args = ["export", str(onnx_path), "--format", "triton-repo", "-o", str(tmp_path)]
    assert CliRunner().invoke(cli, args).exit_code == 0
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 2 and "exists; pass --force" in again.stderr
    assert CliRunner().invoke(cli, [*args, "--force"]).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gesture_cnn_sign-digits"]
