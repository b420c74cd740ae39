"""Every command checks its outputs, numbers and data before any work: one line, exit 2."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from kerascnn.cli.main import cli
from tests.image_folders import make_image_folder

ONE_LINE = re.compile(r"^Error: [^\n]+; [^\n]+$")
IMG = "{tmp}/photo.png"
MODEL = "gesture_cnn:sign-digits"

# (command and arguments, what the message must say); {tmp}: a folder holding photo.png, a
# two-class folder two/, a one-class folder one/, a file taken.png and a file plain.txt
CASES = {
    # outputs: a folder that is missing, a path under a file, an existing file without --force
    "dream, no such folder": (["dream", IMG, "--model", MODEL, "-o", "{tmp}/no/x.png"], "no such folder"),
    "dream, exists": (["dream", IMG, "--model", MODEL, "-o", "{tmp}/taken.png"], "--force"),
    "filters, under a file": (["visualize", "filters", MODEL, "-o", "{tmp}/plain.txt/x.png"], "no such folder"),
    "features, exists": (["visualize", "features", MODEL, IMG, "--layer", "block1_conv1", "-o", "{tmp}/taken.png"], "--force"),
    "gradcam, exists": (["visualize", "gradcam", MODEL, IMG, "-o", "{tmp}/taken.png"], "--force"),
    "maximize, exists": (["visualize", "maximize", MODEL, "--layer", "block1_conv1", "-o", "{tmp}/taken.png"], "--force"),
    "train, output is a file": (["train", "gesture_cnn", "--data", "{tmp}/two", "--output", "{tmp}/plain.txt"], "is a file"),
    "finetune, under a file": (["finetune", MODEL, "--data", "{tmp}/two", "--output", "{tmp}/plain.txt/run"], "is a file"),
    # numbers
    "train, batch 0": (["train", "gesture_cnn", "--data", "{tmp}/two", "--batch-size", "0"], "--batch-size"),
    "train, epochs 0": (["train", "gesture_cnn", "--data", "{tmp}/two", "--epochs", "0"], "--epochs"),
    "train, lr -1": (["train", "gesture_cnn", "--data", "{tmp}/two", "--lr", "-1"], "--lr"),
    "train, split 1.5": (["train", "gesture_cnn", "--data", "{tmp}/two", "--validation-split", "1.5"], "--validation-split"),
    "finetune, batch -4": (["finetune", MODEL, "--data", "{tmp}/two", "--batch-size", "-4"], "--batch-size"),
    "finetune, lr 0": (["finetune", MODEL, "--data", "{tmp}/two", "--lr", "0"], "--lr"),
    "finetune, epochs -1": (["finetune", MODEL, "--data", "{tmp}/two", "--head-epochs", "-1"], "--head-epochs"),
    "evaluate, batch 0": (["evaluate", MODEL, "--data", "{tmp}/two", "--batch-size", "0"], "--batch-size"),
    "evaluate, split 2": (["evaluate", MODEL, "--data", "{tmp}/two", "--test-split", "2"], "--test-split"),
    "dream, steps 0": (["dream", IMG, "--model", MODEL, "--steps", "0"], "--steps"),
    "maximize, steps 0": (["visualize", "maximize", MODEL, "--layer", "block1_conv1", "--steps", "0"], "--steps"),
    "predict, top 0": (["predict", MODEL, IMG, "--top", "0"], "--top"),
    "summary, batch 0": (["summary", "gesture_cnn", "--batch-size", "0"], "--batch-size"),
    "evaluate, tta flop": (["evaluate", MODEL, "--data", "{tmp}/two", "--tta", "flop"], "'flop' is not one of 'none', 'flip', 'flip+shift'"),
    "predict, tta mirror": (["predict", MODEL, IMG, "--tta", "mirror"], "'mirror' is not one of 'none', 'flip', 'flip+shift'"),
    "export, tta shift": (["export", MODEL, "-f", "onnx", "-o", "{tmp}/m.onnx", "--tta", "shift"], "--tta"),
    # data
    "train, one class": (["train", "gesture_cnn", "--data", "{tmp}/one", "--output", "{tmp}/r1"], "at least 2"),
    "finetune, one class": (["finetune", MODEL, "--data", "{tmp}/one", "--output", "{tmp}/r2"], "at least 2"),
    "evaluate, no folder": (["evaluate", MODEL, "--data", "{tmp}/none"], "no such folder"),
    "dream, a directory": (["dream", "{tmp}/two"], "is a directory"),
    "predict, a directory": (["predict", MODEL, "{tmp}/two"], "is a directory"),
    "predict, not a model": (["predict", "{tmp}/plain.txt", IMG], "not a saved Keras model"),
}  # fmt: skip


@pytest.fixture(scope="module")
def tmp(tmp_path_factory) -> Path:
    from PIL import Image

    root = tmp_path_factory.mktemp("checks")
    make_image_folder(root / "two", classes=2, per_class=4, size=16)
    make_image_folder(root / "one", classes=1, per_class=4, size=16)
    Image.new("RGB", (40, 30), "white").save(root / "photo.png")
    Image.new("RGB", (4, 4)).save(root / "taken.png")
    (root / "plain.txt").write_text("not a model")
    return root


@pytest.mark.parametrize("case", list(CASES))
def test_mistakes_fail_first_in_one_line(case, tmp):
    args, expected = CASES[case]
    before = sorted(p.relative_to(tmp) for p in tmp.rglob("*"))
    result = CliRunner().invoke(cli, [a.format(tmp=tmp) for a in args])
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and ONE_LINE.match(lines[0]), result.stderr
    assert expected in lines[0], lines[0]
    assert sorted(p.relative_to(tmp) for p in tmp.rglob("*")) == before  # nothing written
