"""One error style for every command: ``Error: <problem>; <fix>`` on one line, exit code 2.

Each command (groups included) gets one cheap mistake: no model is built, nothing is
downloaded. A new command without a case in ``CASES`` fails ``test_every_command_has_a_case``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from kerascnn.cli.main import cli

__all__: list[str] = []

ONE_LINE = re.compile(r"^Error: .+; .+$")

# A message the command itself raises without a "; <fix>" part (see the lead's to-do).
NO_FIX = "the command's own message has no '; <fix>' part yet"

# command path -> its arguments after the path; "{tmp}" is a fresh empty folder.
CASES: dict[tuple[str, ...], tuple[list[str], str | None]] = {
    (): (["dreem"], None),  # unknown command, with a suggestion
    ("benchmark",): (["gesture_cnn:sign-digits", "--data", "{tmp}/missing"], None),
    ("dream",): ([], None),  # IMAGE left out
    ("evaluate",): (["vgg16:imagenet", "--data", "{tmp}", "--batch-size", "0"], None),
    ("export",): (["gesture_cnn:sign-digits", "--format", "tflite"], None),  # unknown format
    ("finetune",): (["alexnet_cifar", "--data", "{tmp}", "--classes", "1"], None),
    ("predict",): (["vgg16", "{tmp}/missing.jpg"], None),
    ("serve",): (["{tmp}/missing.onnx", "--port", "0"], None),  # no such file
    ("summary",): (["{tmp}/notes.txt"], None),  # not a .keras file (written by the test)
    ("train",): (["gesture_cnn", "--data", "{tmp}", "--arg", "=1"], None),
    ("visualize",): (["gradcm"], None),
    ("visualize", "features"): (["vgg16", "{tmp}/cat.jpg"], None),  # --layer left out
    ("visualize", "filters"): (["vgg61"], None),  # unknown model
    ("visualize", "gradcam"): (["vgg16", "{tmp}/cat.jpg", "--class", "cat"], None),
    ("visualize", "maximize"): (
        ["vgg16", "--layer", "block1_conv1", "--filters", "3-x", "-o", "{tmp}/grid.png"],
        None,
    ),
    ("zoo",): (["lst"], None),
    ("zoo", "cache"): (["vgg16:"], None),  # bad spec
    ("zoo", "download"): (["vgg16:nope"], None),  # unknown variant
    ("zoo", "import"): (["vgg16", "{tmp}/weights.h5"], None),  # variant left out
    ("zoo", "info"): (["vgg61"], None),
    ("zoo", "list"): (["--jsn"], None),  # unknown option, with a suggestion
    ("zoo", "push"): (["gesture_cnn:sign-digits", "s3://bucket/model"], None),  # unknown scheme
    ("zoo", "reproduce"): (["vgg16:imagenet", "--data", "{tmp}"], None),  # no recipe
}

# More mistakes of some commands, checked the same way: (command path, its arguments).
MORE_CASES: list[tuple[tuple[str, ...], list[str]]] = [
    (("finetune",), ["alexnet_cifar", "--data", "{tmp}", "--lr-decay", "1.5"]),
]


class MissingFix(AssertionError):
    """The error line is right in every way but has no ``; <fix>`` part."""


def _walk(group: click.Group, ctx: click.Context, prefix: tuple[str, ...] = ()) -> Iterator:
    """Every command path below ``group``, groups included, lazy subcommands loaded."""
    yield prefix
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            yield from _walk(cmd, ctx, (*prefix, name))
        else:
            yield (*prefix, name)


def _invoke(args: list[str], tmp_path: Path) -> Result:
    env = {"KERASCNN_OFFLINE": "1", "KERASCNN_HOME": str(tmp_path / "home")}
    return CliRunner(env=env).invoke(cli, args, prog_name="kerascnn")


def _params() -> list:
    return [
        pytest.param(
            path,
            args,
            id=" ".join(path) or "kerascnn",
            marks=[pytest.mark.xfail(reason=why, raises=MissingFix, strict=True)] if why else [],
        )
        for path, (args, why) in CASES.items()
    ] + [pytest.param(path, args, id=" ".join([*path, *args[-2:]])) for path, args in MORE_CASES]


def test_every_command_has_a_case():
    found = set(_walk(cli, click.Context(cli)))
    assert ("zoo", "list") in found and ("visualize", "maximize") in found
    assert found - set(CASES) == set(), "commands without a case in CASES"
    assert set(CASES) - found == set(), "cases for commands that do not exist"


@pytest.mark.parametrize(("path", "args"), _params())
def test_a_mistake_is_one_error_line_with_exit_code_2(path, args, tmp_path):
    (tmp_path / "notes.txt").write_text("not a model\n")
    argv = [*path, *(a.replace("{tmp}", str(tmp_path)) for a in args)]
    result = _invoke(argv, tmp_path)
    shown = f"kerascnn {' '.join(argv)}\nstdout: {result.stdout!r}\nstderr: {result.stderr!r}"
    assert "Traceback" not in result.output, shown
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{shown}\n{result.exception!r}"
    )
    assert result.exit_code == 2, shown
    assert result.stdout == "", shown
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), shown
    if not ONE_LINE.match(lines[0]):
        raise MissingFix(shown)


def test_click_errors_name_the_failing_command(tmp_path):
    result = _invoke(["zoo", "info", "vgg16", "--input-size", "x", "1"], tmp_path)
    assert result.stderr.strip().endswith("; see 'kerascnn zoo info --help'"), result.stderr
    assert result.exit_code == 2


def test_a_bare_group_still_shows_its_help(tmp_path):
    result = _invoke(["zoo"], tmp_path)
    assert "Usage: kerascnn zoo" in result.output and "Error:" not in result.output


def test_console_script_prints_one_line(tmp_path):
    env = {**os.environ, "KERASCNN_OFFLINE": "1", "KERASCNN_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "kerascnn.cli", "zoo", "info", "vgg61"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.splitlines() == ["Error: unknown model 'vgg61'; did you mean 'vgg16'?"]
    assert out.stdout == ""


def test_quiet_sets_the_variable_the_library_reads(monkeypatch, tmp_path):
    from kerascnn.cli._common import quiet

    monkeypatch.delenv("KERASCNN_QUIET", raising=False)
    list_command = cli.get_command(click.Context(cli), "zoo").commands["list"]
    seen = {}

    def probe(**_: object) -> None:
        seen.update(env=os.environ.get("KERASCNN_QUIET"), quiet=quiet())

    monkeypatch.setattr(list_command, "callback", probe)
    assert _invoke(["--quiet", "zoo", "list"], tmp_path).exit_code == 0
    assert seen == {"env": "1", "quiet": True}
    assert "KERASCNN_QUIET" not in os.environ  # restored once the command is done
    assert _invoke(["zoo", "list"], tmp_path).exit_code == 0
    assert seen == {"env": None, "quiet": False}


def test_every_flag_the_library_errors_are_shown_with_exists():
    from kerascnn.cli.main import FLAGS

    ctx = click.Context(cli)
    options = set()
    for path in _walk(cli, ctx):
        command = cli
        for name in path:
            command = command.get_command(ctx, name)
        options |= {o for p in command.params for o in getattr(p, "opts", [])}
    missing = {k: v for k, v in FLAGS.items() if v.split()[0] not in options}
    assert not missing, f"FLAGS naming no command's option: {missing}"


def test_library_errors_name_python_arguments_and_the_cli_their_flags():
    from kerascnn.cli.main import cli_message
    from kerascnn.errors import UserError

    error = UserError(
        "net.keras accepts any input size; pass image_size=(height, width)",
        arguments={"image_size=(height, width)": "image_size"},
    )
    assert str(error).endswith("pass image_size=(height, width)")
    assert cli_message(error).endswith("pass --image-size H W")
    both = UserError(
        "data has 3 class folders but classes=5; use classes='auto'",
        arguments={"classes=5": "classes", "classes='auto'": "classes"},
    )
    assert cli_message(both) == "data has 3 class folders but --classes 5; use --classes auto"


def test_a_plugin_model_without_a_size_names_the_flag(tmp_path):
    import keras

    inputs = keras.Input((None, None, 3))
    x = keras.layers.GlobalMaxPooling2D()(keras.layers.Conv2D(2, 3)(inputs))
    keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x)).save(tmp_path / "a.keras")
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    result = _invoke(["predict", str(tmp_path / "a.keras"), str(tmp_path / "x.png")], tmp_path)
    assert result.exit_code == 2
    assert result.stderr.strip().endswith("accepts any input size; pass --image-size H W")


def test_a_data_folder_of_splits_points_one_level_deeper(tmp_path):
    from PIL import Image

    for split in ("train", "test"):
        for name in ("coat", "shirt"):
            (tmp_path / "fm" / split / name).mkdir(parents=True)
            Image.new("RGB", (8, 8)).save(tmp_path / "fm" / split / name / "0.png")
    data = tmp_path / "fm"
    result = _invoke(["evaluate", "gesture_cnn:sign-digits", "--data", str(data)], tmp_path)
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1, result.output
    assert "test, train are splits with class folders inside, not classes" in result.stderr
    assert result.stderr.strip().endswith(f"one level deeper, e.g. --data {data / 'train'}")
