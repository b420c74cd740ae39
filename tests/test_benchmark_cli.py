"""``kerascnn benchmark``: each format's row measured in its own runtime on real photos (the
sign-language digits' held-out test split), the same rows in the table, JSON and CSV."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import keras
import pytest
from click.testing import CliRunner

from kerascnn.cli.main import cli

# the TensorFlow run covers it; the JAX run (-m backend) exports through jax2onnx in test_export

SPEC = "gesture_cnn:sign-digits"
KEYS = ["format", "status", "size_mb", "top1", "agreement", "max_abs_diff", "ms_per_image",
        "images_per_s"]  # fmt: skip
TF = keras.backend.backend() == "tensorflow"


def _cli(*args: str):
    return CliRunner().invoke(cli, ["benchmark", *args], prog_name="kerascnn")


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """One run: keras, onnx and openvino-int8 rows on 64 test photos, JSON and CSV."""
    from tests.conftest import DATA

    images = DATA / "sign-language-digits" / "images"
    if not images.is_dir():
        pytest.skip(f"the sign-language digits are not at {images} (set KERASCNN_DATA)")
    pytest.importorskip("onnxruntime", reason="the onnx row runs in onnxruntime (export extra)")
    out = tmp_path_factory.mktemp("bench") / "rows.csv"
    args = [SPEC, "--data", str(images), "--split", "test", "--limit", "64"]
    result = _cli(*args, "-f", "onnx", "-f", "keras", "-f", "openvino-int8", "--json",
                  "--csv", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), out


def test_rows_come_in_table_order_with_every_key(measured):
    rows, _ = measured
    assert [r["format"] for r in rows] == ["keras", "onnx", "openvino-int8"]
    assert all(list(r) == KEYS for r in rows)


def test_a_float_export_agrees_with_keras_and_scores_the_same(measured):
    rows, _ = measured
    keras_row, onnx_row = rows[0], rows[1]
    assert keras_row["status"] == onnx_row["status"] == "ok"
    assert onnx_row["agreement"] == 1.0 and onnx_row["max_abs_diff"] <= 1e-4
    assert onnx_row["top1"] == keras_row["top1"] >= 0.9  # the card says 99.3% on all 427
    assert onnx_row["size_mb"] > 1.0 and onnx_row["ms_per_image"] > 0
    assert onnx_row["images_per_s"] > 0


def test_the_openvino_int8_row_passes_its_gate_or_says_why_not(measured):
    row = measured[0][2]
    if not TF:  # Keras exports OpenVINO from TensorFlow (and PyTorch) only
        assert row["status"].startswith("failed: ") and "OpenVINO" in row["status"]
        assert all(row[k] is None for k in KEYS[2:])
        return
    assert row["status"] == "ok", row  # NNCF int8, >= 98% agreement on the held-out third
    assert row["agreement"] >= 0.95 and row["top1"] >= 0.9
    assert row["size_mb"] < measured[0][1]["size_mb"] / 3  # int8 weights against float32


def test_the_csv_holds_the_printed_rows(measured):
    rows, path = measured
    with open(path, newline="") as file:
        saved = list(csv.DictReader(file))
    assert [r["format"] for r in saved] == [r["format"] for r in rows]
    assert [float(r["top1"]) for r in saved[:2]] == [r["top1"] for r in rows[:2]]


def test_a_missing_runtime_is_a_failed_row(tmp_path, monkeypatch, data_dir):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "onnxruntime" else find_spec(name, *a),
    )
    images = data_dir / "sign-language-digits" / "images"
    result = _cli(SPEC, "--data", str(images), "--limit", "8", "-f", "onnx", "--json",
                  "--csv", str(tmp_path / "r.csv"))  # fmt: skip
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert row["status"].startswith("failed: onnx export needs onnxruntime")


def test_floor_fails_a_run_whose_top1_is_below_it(tmp_path, data_dir):
    """Folders 0 and 1 swapped: the model is right on 8 classes of 10, under a floor of 0.9."""
    images = data_dir / "sign-language-digits" / "images"
    swapped = tmp_path / "swapped"
    for folder in sorted(p for p in images.iterdir() if p.is_dir()):
        name = {"0": "1", "1": "0"}.get(folder.name, folder.name)
        target = swapped / name
        target.mkdir(parents=True)
        for photo in sorted(folder.iterdir())[:4]:
            shutil.copy(photo, target / photo.name)
    args = [SPEC, "--data", str(swapped), "-f", "keras", "--csv", str(tmp_path / "r.csv")]
    result = _cli(*args, "--floor", "0.9")
    assert result.exit_code == 1, result.output
    line = result.stderr.strip()
    assert line.startswith("top-1 below the floor 90.00%: keras ")
    assert float(line.split()[-1].rstrip("%")) <= 80.0  # at most the 8 unswapped classes
    assert _cli(*args, "--floor", "0.5", "--force").exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-f", "onnx-int9"], "unknown --format 'onnx-int9' (did you mean 'onnx-int8'?)"),
        (["--csv", "{taken}"], "exists; pass --force"),
        (["--data", "{missing}"], "no such folder; --data takes a folder of class folders"),
    ],
)
def test_bad_input_is_one_line_before_any_work(args, message, tmp_path):
    taken = tmp_path / "taken.csv"
    taken.write_text("mine\n")
    fill = {"taken": str(taken), "missing": str(tmp_path / "nope")}
    args = [a.format(**fill) for a in args]
    data = [] if "--data" in args else ["--data", str(tmp_path)]
    result = _cli(SPEC, *data, "--csv", str(tmp_path / "out.csv"), *args)
    lines = result.stderr.splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], result.output
    assert taken.read_text() == "mine\n" and not Path(tmp_path / "out.csv").exists()
