"""FolderBatches, the TensorFlow-free pipeline: order, whole batches, shards, resume offset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kerascnn.training.data import image_folder
from kerascnn.training.pydata import FolderBatches
from tests.image_folders import make_image_folder

pytestmark = pytest.mark.backend


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory):
    root = make_image_folder(tmp_path_factory.mktemp("pydata"), classes=3, per_class=7, size=12)
    return image_folder(root, (12, 12), validation_split=0.3, seed=1)


def _epoch(batches: FolderBatches) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*(batches[i] for i in range(len(batches))), strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def test_an_epoch_is_whole_batches_of_every_image(folder) -> None:
    n = folder.count("train")
    batches = FolderBatches(folder, "train", 4)
    assert len(batches) == -(-n // 4)
    x, y = _epoch(batches)
    assert x.dtype == np.float32 and x.shape == (4 * len(batches), 12, 12, 3)
    assert sorted(y[:n].tolist()) == sorted(label for _, label in folder.files["train"])
    # the last batch is completed from the start of the epoch's order
    np.testing.assert_array_equal(x[n:], x[: 4 * len(batches) - n])


def test_shuffle_follows_seed_and_epoch(folder) -> None:
    first, again = FolderBatches(folder, "train", 4), FolderBatches(folder, "train", 4)
    np.testing.assert_array_equal(_epoch(first)[0], _epoch(again)[0])
    epoch0 = _epoch(first)[1]
    first.on_epoch_end()
    assert not np.array_equal(epoch0, _epoch(first)[1])
    resumed = FolderBatches(folder, "train", 4, epoch=1, offset=2)
    assert len(resumed) == len(first) - 2
    np.testing.assert_array_equal(resumed[0][0], first[2][0])


def test_shards_split_each_batch_and_validation_is_cut_to_the_devices(folder) -> None:
    whole = FolderBatches(folder, "train", 6)
    parts = [FolderBatches(folder, "train", 6, shard=(i, 2)) for i in range(2)]
    np.testing.assert_array_equal(np.concatenate([p[1][1] for p in parts]), whole[1][1])
    n = folder.count("validation")
    val = FolderBatches(folder, "validation", 4, multiple=4)
    assert len(val) == n // 4
    _, y = _epoch(val)
    assert [label for _, label in folder.files["validation"]][: len(y)] == y.tolist()


def test_one_hot_and_augmentation(folder) -> None:
    from kerascnn.layers import classic_augmentation

    plain = FolderBatches(folder, "train", 4, classes=3)
    flipped = FolderBatches(folder, "train", 4, augment=classic_augmentation(flip=True, seed=0))
    x, y = plain[0]
    assert y.shape == (4, 3) and np.all(y.sum(axis=1) == 1)
    fx = flipped[0][0]
    pairs = zip(x, fx, strict=True)
    same = [np.array_equal(a, b) or np.array_equal(a[:, ::-1], b) for a, b in pairs]
    assert all(same) and not np.array_equal(x, fx)


def test_empty_and_missing_images_fail_clearly(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path, classes=2, per_class=2, size=8)
    folder = image_folder(root, (8, 8), validation_split=0.0)
    with pytest.raises(Exception, match="validation split is empty"):
        FolderBatches(folder, "validation", 2)


def test_a_split_too_large_for_memory_is_decoded_per_batch_with_the_same_batches(folder) -> None:
    held = FolderBatches(folder, "train", 4)
    streamed = FolderBatches(folder, "train", 4, max_memory=0)
    assert held.pixels is not None and streamed.pixels is None
    for _ in range(2):  # two epochs: the same order, pixels and labels
        for mine, theirs in zip(_epoch(held), _epoch(streamed), strict=True):
            np.testing.assert_array_equal(mine, theirs)
        held.on_epoch_end()
        streamed.on_epoch_end()
