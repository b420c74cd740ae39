"""``kerascnn.atomic``: a failed write leaves neither a temporary file nor a partial target.

Each writer is made to fail midway, after some bytes were written; the folder must then
hold exactly what it held before (a pre-existing target untouched). A finished file gets
the mode a new file gets under the umask, not ``mkstemp``'s 0600.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kerascnn import atomic

UMASK = 0o027
MODE = 0o666 & ~UMASK  # 0o640


class Boom(RuntimeError):
    """The failure the tests inject."""


@pytest.fixture(autouse=True)
def known_umask() -> Iterator[None]:
    old = os.umask(UMASK)
    try:
        yield
    finally:
        os.umask(old)


def listing(folder: Path) -> dict[str, bytes]:
    """Every file in ``folder`` (hidden ones too) with its bytes."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def assert_unchanged(folder: Path, before: dict[str, bytes]) -> None:
    after = listing(folder)
    left = sorted(set(after) - set(before))
    assert not left, f"a failed write left {left} behind"
    assert after == before, "a failed write changed an existing file"


# --- the helper ---------------------------------------------------------------------------


@pytest.mark.parametrize("existing", [False, True])
def test_failure_midway_leaves_nothing(tmp_path: Path, existing: bool) -> None:
    target = tmp_path / "out.bin"
    if existing:
        target.write_bytes(b"old contents")
    before = listing(tmp_path)
    with pytest.raises(Boom), atomic.atomic_open(target, "wb") as f:
        f.write(b"x" * 100_000)
        f.flush()
        assert len(listing(tmp_path)) == len(before) + 1  # the bytes are in a temporary file
        raise Boom
    assert_unchanged(tmp_path, before)


def test_interrupt_midway_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("old")
    before = listing(tmp_path)
    with pytest.raises(KeyboardInterrupt), atomic.atomic_open(tmp_path / "a.txt") as f:
        f.write("half of the new text")
        raise KeyboardInterrupt
    assert_unchanged(tmp_path, before)


@pytest.mark.parametrize("step", ["fsync", "replace", "chmod"])
def test_failure_while_committing_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    (tmp_path / "state.json").write_text("{}")
    before = listing(tmp_path)

    def fail(*args: Any, **kwargs: Any) -> None:
        raise OSError(f"{step} failed")

    monkeypatch.setattr(atomic.os, step, fail)
    with pytest.raises(OSError, match=step):
        atomic.write_json(tmp_path / "state.json", {"epoch": 3})
    monkeypatch.undo()
    assert_unchanged(tmp_path, before)


def test_writers_and_modes(tmp_path: Path) -> None:
    old = tmp_path / "old.bin"
    old.write_bytes(b"old")
    old.chmod(0o600)
    with atomic.atomic_open(old, "wb") as f:
        f.write(b"new")
    assert old.read_bytes() == b"new" and mode(old) == MODE
    atomic.write_text(tmp_path / "t.txt", "héllo")
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo"
    atomic.write_json(tmp_path / "d.json", {"a": [1, 2]})
    assert json.loads((tmp_path / "d.json").read_text()) == {"a": [1, 2]}
    with atomic.atomic_path(tmp_path / "p.txt") as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith("p.txt") and tmp.name[0] == "."
        tmp.write_text("via path")
    assert sorted(listing(tmp_path)) == ["d.json", "old.bin", "p.txt", "t.txt"]
    assert {mode(p) for p in tmp_path.iterdir()} == {MODE}
    assert os.umask(UMASK) == UMASK  # reading the umask left it as it was


def test_commit_gives_a_normal_mode(tmp_path: Path) -> None:
    part = tmp_path / "weights.bin.part"  # as a finished download: written 0600 by someone
    part.write_bytes(b"weights")
    part.chmod(0o600)
    dest = atomic.commit(part, tmp_path / "weights.bin")
    assert listing(tmp_path) == {"weights.bin": b"weights"} and mode(dest) == MODE


def test_atomic_open_refuses_appending(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="whole files"), atomic.atomic_open(tmp_path / "x", "a"):
        pass
    assert listing(tmp_path) == {}


# --- real writers -------------------------------------------------------------------------


@pytest.fixture
def image_save_fails_midway(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make Pillow write the whole image, then fail (as a full disk would at close)."""
    from PIL import Image

    real_save = Image.Image.save

    def save(self: Any, fp: Any, *args: Any, **kwargs: Any) -> None:
        real_save(self, fp, *args, **kwargs)
        fp.flush()
        raise Boom("disk full")

    monkeypatch.setattr(Image.Image, "save", save)


def test_save_image(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    from kerascnn.images import save_image

    pixels = np.full((8, 6, 3), 200.0, np.float32)
    path = save_image(tmp_path / "pic.png", pixels)
    assert mode(path) == MODE and listing(tmp_path).keys() == {"pic.png"}
    before = listing(tmp_path)
    request.getfixturevalue("image_save_fails_midway")
    with pytest.raises(Boom):
        save_image(tmp_path / "pic.png", np.zeros((8, 6, 3)))
    with pytest.raises(Boom):
        save_image(tmp_path / "other.jpg", pixels)
    assert_unchanged(tmp_path, before)


def test_plot_history(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    from kerascnn.training.plot import plot_history

    history = {"epoch": [0.0, 1.0], "loss": [1.0, 0.5], "val_loss": [1.2, 0.7]}
    path = plot_history(history, tmp_path / "history.png")
    assert mode(path) == MODE
    before = listing(tmp_path)
    request.getfixturevalue("image_save_fails_midway")
    with pytest.raises(Boom):
        plot_history({**history, "loss": [2.0, 1.0]}, tmp_path / "history.png")
    assert_unchanged(tmp_path, before)


def test_run_history_and_split_fail_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kerascnn.training.callbacks import RunHistory
    from kerascnn.training.run import RunFolder

    run = RunFolder(tmp_path)
    (tmp_path / "history.csv").write_text("epoch,loss\n0,1.0\n1,0.5\n2,0.25\n")
    history = RunHistory(run)
    history.on_train_begin()
    history.on_epoch_end(2, {"loss": 0.125})  # a resumed run trains epoch 2 again
    assert (tmp_path / "history.csv").read_text().splitlines() == [
        "epoch,loss",
        "0,1.0",
        "1,0.5",
        "2,0.125",
    ]
    assert mode(tmp_path / "history.csv") == MODE
    before = listing(tmp_path)

    def fail(*args: Any, **kwargs: Any) -> None:
        raise Boom("rename failed")

    monkeypatch.setattr(atomic.os, "replace", fail)
    with pytest.raises(Boom):
        history.on_epoch_end(1, {"loss": 0.75})
    with pytest.raises(Boom):
        run.write_split({"files": list(range(1000))})
    monkeypatch.undo()
    assert_unchanged(tmp_path, before)


def _model(exploding: bool = False) -> Any:
    """A small model; ``exploding``: its last layer fails while its weights are being saved."""
    import keras

    class Exploding(keras.layers.Layer):
        def save_own_variables(self, store: Any) -> None:
            store["0"] = np.zeros(1000, np.float32)  # some bytes are in the file already
            raise Boom("disk full")

    layers = [keras.Input((4,)), keras.layers.Dense(64), keras.layers.Dense(2)]
    if exploding:
        layers.append(Exploding())
    return keras.Sequential(layers)


@pytest.mark.parametrize("filename", ["model.keras", "model.weights.h5"])
def test_keras_saves_through_atomic_path(tmp_path: Path, filename: str) -> None:
    target = tmp_path / filename

    def save(model: Any) -> None:
        with atomic.atomic_path(target) as tmp:
            model.save(tmp) if filename.endswith(".keras") else model.save_weights(tmp)

    save(_model())
    assert mode(target) == MODE and listing(tmp_path).keys() == {filename}
    before = listing(tmp_path)
    with pytest.raises(Boom):
        save(_model(exploding=True))
    assert_unchanged(tmp_path, before)


def test_training_files_fail_cleanly(tmp_path: Path) -> None:
    from kerascnn.training.callbacks import BestModel, TrainingBackup, read_backup

    good, bad = _model(), _model(exploding=True)
    best = BestModel(tmp_path / "model.keras")
    best.set_model(good)
    best.on_epoch_end(0, {"val_loss": 1.0})
    backup = TrainingBackup(tmp_path / "backup")
    backup.set_model(good)
    backup.save(1, 0)
    assert read_backup(tmp_path / "backup")["weights"] == "ckpt-1-0.weights.h5"
    assert {mode(p) for p in (tmp_path / "backup").iterdir()} == {MODE}
    before, before_backup = listing(tmp_path), listing(tmp_path / "backup")
    best.set_model(bad)
    with pytest.raises(Boom):
        best.on_epoch_end(1, {"val_loss": 0.5})
    backup.set_model(bad)
    with pytest.raises(Boom):
        backup.save(1, 5)
    assert_unchanged(tmp_path, before)
    assert_unchanged(tmp_path / "backup", before_backup)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup", "model.json", "model.keras"]
    assert read_backup(tmp_path / "backup")["weights"] == "ckpt-1-0.weights.h5"
