"""``kerascnn.training.progress`` (a live bar at a terminal, one plain line per epoch elsewhere)
and the CLI printing the ``kerascnn`` logger's lines."""

from __future__ import annotations

import io
import logging
import os

import click
import keras
import numpy as np
import pytest
from click.testing import CliRunner

from kerascnn.cli.main import cli
from kerascnn.errors import UserError
from kerascnn.training import progress
from kerascnn.training.progress import EpochLog, format_epoch, progress_callbacks


def test_format_epoch_is_one_plain_line():
    logs = {"val_loss": 0.60111, "loss": 0.51234, "accuracy": 0.812, "val_accuracy": 0.79,
            "learning_rate": 2.5e-5, "confusion": np.zeros((2, 2))}  # fmt: skip
    assert format_epoch(3, 10, logs, 12.34) == (
        "epoch 3/10: loss 0.5123, accuracy 0.8120, learning_rate 2.500e-05, "
        "val_loss 0.6011, val_accuracy 0.7900 (12.3 s)"
    )
    assert format_epoch(1, 1, {"loss": float("nan")}, 0.0) == "epoch 1/1: loss nan (0.0 s)"


@pytest.mark.parametrize(
    ("verbose", "live", "expected"),
    [(0, True, (0, None)), (False, False, (0, None)), (1, False, (1, None)),
     (2, True, (0, EpochLog)), ("auto", True, (1, None)), ("auto", False, (0, EpochLog)),
     (True, False, (0, EpochLog))],
)  # fmt: skip
def test_progress_callbacks_pick_the_bar_only_where_it_can_move(
    monkeypatch, verbose, live, expected
):
    monkeypatch.delenv("KERASCNN_QUIET", raising=False)
    monkeypatch.setattr(progress, "live_display", lambda: live)
    keras_verbose, callbacks = progress_callbacks(verbose, 5)
    assert keras_verbose == expected[0]
    assert [type(c) for c in callbacks] == ([expected[1]] if expected[1] else [])
    monkeypatch.setenv("KERASCNN_QUIET", "1")
    assert progress_callbacks(verbose, 5) == (0, [])
    with pytest.raises(UserError, match="verbose must be 0, 1, 2 or 'auto', got 3"):
        monkeypatch.delenv("KERASCNN_QUIET")
        progress_callbacks(3, 5)


def test_live_display_follows_stdout(monkeypatch):
    monkeypatch.setattr("sys.stdout", io.StringIO())
    monkeypatch.delitem(__import__("sys").modules, "ipykernel", raising=False)
    assert not progress.live_display()


def test_epoch_log_counts_on_from_the_initial_epoch():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = np.zeros((8, 3), "float32"), np.zeros(8, "int32")
    lines: list[str] = []
    log = EpochLog(4, log=lines.append)
    model.fit(x, y, epochs=2, validation_data=(x, y), callbacks=[log], verbose=0)
    model.fit(x, y, initial_epoch=2, epochs=4, callbacks=[log], verbose=0)  # a second phase
    assert [line.split(":")[0] for line in lines] == [f"epoch {k}/4" for k in range(1, 5)]
    assert "val_accuracy" in lines[0] and lines[0].endswith(" s)")
    assert all("\x1b" not in line and "\r" not in line for line in lines)


def test_epoch_log_logs_on_the_kerascnn_logger(caplog):
    with caplog.at_level(logging.INFO, logger="kerascnn"):
        callback = EpochLog(2)
        callback.on_epoch_begin(0)
        callback.on_epoch_end(0, {"loss": 1.0})
    assert [(r.name, r.levelno) for r in caplog.records] == [("kerascnn.training", logging.INFO)]
    assert caplog.records[0].getMessage().startswith("epoch 1/2: loss 1.0000 (")


def test_the_cli_prints_the_librarys_log_lines(monkeypatch, tmp_path):
    list_command = cli.get_command(click.Context(cli), "zoo").commands["list"]

    def probe(**_: object) -> None:
        logging.getLogger("kerascnn.training").info("epoch 1/2: loss 0.5000 (1.0 s)")
        logging.getLogger("kerascnn.weights").warning("a slow mirror")

    monkeypatch.setattr(list_command, "callback", probe)
    env = {"KERASCNN_HOME": str(tmp_path)}
    loud = CliRunner(env=env).invoke(cli, ["zoo", "list"])
    assert loud.exit_code == 0, loud.output
    assert loud.stdout == "epoch 1/2: loss 0.5000 (1.0 s)\n"
    assert loud.stderr == "warning: a slow mirror\n"
    quiet = CliRunner(env=env).invoke(cli, ["--quiet", "zoo", "list"])
    assert quiet.stdout == "" and quiet.stderr == "warning: a slow mirror\n"
    logger = logging.getLogger("kerascnn")
    assert not [h for h in logger.handlers if type(h).__name__ == "EchoHandler"]  # removed
    assert "KERASCNN_QUIET" not in os.environ
