"""The command line: help everywhere, the zoo listing, errors as one line, a light start."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from kerascnn import __version__
from kerascnn.cli.main import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _walk(group: click.Group, ctx: click.Context, prefix=()):
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        yield (*prefix, name), cmd
        if isinstance(cmd, click.Group):
            yield from _walk(cmd, ctx, (*prefix, name))


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and __version__ in result.output


def test_every_command_has_help():
    ctx = click.Context(cli)
    commands = list(_walk(cli, ctx))
    assert ("zoo", "list") in [path for path, _ in commands]
    for path, cmd in commands:
        assert cmd.help, f"kerascnn {' '.join(path)} has no help text"
        result = run(*path, "--help")
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.output


def test_zoo_list_table_and_json():
    result = run("zoo", "list")
    assert result.exit_code == 0
    for name in ("vgg16", "alexnet", "alexnet_cifar", "gesture_cnn"):
        assert name in result.output
    assert "138.36 M" in result.output and "224x224x3" in result.output
    rows = json.loads(run("zoo", "list", "--json").output)
    vgg = next(r for r in rows if r["name"] == "vgg16")
    assert vgg["params"] == 138_357_544 and vgg["input_shape"] == [224, 224, 3]
    assert [r["name"] for r in json.loads(run("zoo", "list", "alex*", "--json").output)] == [
        "alexnet",
        "alexnet_cifar",
    ]


def test_zoo_info_prints_layers_and_totals():
    result = run("zoo", "info", "gesture_cnn")
    assert result.exit_code == 0, result.output
    assert "block1_conv1" in result.output and "predictions" in result.output
    assert "557,082" in result.output
    args = ("zoo", "info", "alexnet_cifar", "--input-size", "40", "40", "--json")
    data = json.loads(run(*args).output)
    assert data["layers"][0]["output_shape"] == [40, 40, 3]
    assert data["total_params"] == sum(r["params"] for r in data["layers"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["zoo", "info", "vgg61"], "Error: unknown model 'vgg61'; did you mean 'vgg16'?"),
        (["zoo", "info", "vgg16", "--input-size", "8", "8"], "Error: vgg16: input_shape"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(args, message):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert result.output.strip().startswith(message)
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args", [["--help"], ["zoo", "list"], ["zoo", "--help"]])
def test_help_and_zoo_list_do_not_import_tensorflow_or_keras(args):
    script = (
        "import sys\n"
        "from kerascnn.cli.main import cli\n"
        f"try:\n    cli.main({args!r}, prog_name='kerascnn')\n"
        "except SystemExit:\n    pass\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'jax'})\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout, out.stdout


def test_console_script_is_installed():
    out = subprocess.run(
        [sys.executable, "-m", "kerascnn.cli", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "zoo" in out.stdout
