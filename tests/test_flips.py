"""Alternating flips: each training image mirrored in every other epoch, in both feeds."""

from __future__ import annotations

import numpy as np
import pytest

from kerascnn.errors import UserError
from kerascnn.training.data import image_folder
from kerascnn.training.flips import first_flips, mirror_in_turn
from kerascnn.training.pydata import FolderBatches
from kerascnn.training.settings import augmenter
from tests.image_folders import make_image_folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory):
    root = make_image_folder(tmp_path_factory.mktemp("flips"), classes=3, per_class=6, size=10)
    return image_folder(root, (10, 10), validation_split=0.0, seed=3)


def _mirrored_by_epoch(images: list[np.ndarray], originals: dict[bytes, int]) -> dict[int, bool]:
    """Image index -> whether it came out mirrored, matching the decoded originals."""
    seen: dict[int, bool] = {}
    for image in images:
        key = np.asarray(image, np.uint8).tobytes()
        mirror = np.asarray(image, np.uint8)[:, ::-1].tobytes()
        if key in originals:
            seen[originals[key]] = False
        else:
            assert mirror in originals, "an image neither as decoded nor its mirror"
            seen[originals[mirror]] = True
    return seen


def _assert_alternates(epochs: list[dict[int, bool]], first: np.ndarray) -> None:
    expected = {i: bool(f) for i, f in enumerate(first)}
    assert epochs[0] == expected  # a random half in epoch 0
    assert 0 < sum(expected.values()) < len(expected)
    assert epochs[1] == {i: not f for i, f in expected.items()}  # the other half in epoch 1
    assert epochs[2] == epochs[0]


def test_first_flips_are_half_and_follow_the_seed() -> None:
    first = first_flips(11, 5)
    assert first.sum() == 5 and np.array_equal(first, first_flips(11, 5))
    assert not np.array_equal(first, first_flips(11, 6))
    x = np.arange(2 * 1 * 3 * 1).reshape(2, 1, 3, 1)
    out = mirror_in_turn(x, np.array([True, False]), np.array([0, 1]), epoch=0)
    np.testing.assert_array_equal(out[0], x[0, :, ::-1])
    np.testing.assert_array_equal(out[1], x[1])
    np.testing.assert_array_equal(mirror_in_turn(x, np.array([True, False]), [0, 1], 1)[1],
                                  x[1, :, ::-1])  # fmt: skip


@pytest.mark.backend
def test_folder_batches_mirror_each_image_in_every_other_epoch(folder) -> None:
    first = first_flips(folder.count("train"), 0)
    batches = FolderBatches(folder, "train", 4, flips=first)
    originals = {im.astype(np.uint8).tobytes(): i for i, im in enumerate(batches.pixels)}
    epochs = []
    for _ in range(3):
        images = [im for k in range(len(batches)) for im in batches[k][0]]
        epochs.append(_mirrored_by_epoch(images, originals))
        batches.on_epoch_end()
    _assert_alternates(epochs, first)
    plain = batches.plain(4)  # precise BN's batches are not augmented
    assert not any(_mirrored_by_epoch(list(plain[0][0]), originals).values())


def test_tf_stream_mirrors_each_image_in_every_other_epoch(folder) -> None:
    from kerascnn.training.flips import tf_mirror_in_turn

    n = folder.count("train")
    first = first_flips(n, 0)
    decoded = folder.elements("train", shuffle=False, indexed=True)
    originals = {image.numpy().tobytes(): int(i) for image, _, i in decoded}
    assert sorted(originals.values()) == list(range(n))
    stream = tf_mirror_in_turn(folder.elements("train", repeat=True, indexed=True), first)
    images = [image.numpy() for image, _ in stream.take(3 * n)]
    epochs = [_mirrored_by_epoch(images[e * n : (e + 1) * n], originals) for e in range(3)]
    _assert_alternates(epochs, first)


def test_flip_takes_true_false_or_alternate() -> None:
    assert augmenter({"flip": "alternate"}, 0) is None  # the feeds mirror; nothing else to do
    assert augmenter({"flip": "alternate", "pad": 2}, 0) is not None
    with pytest.raises(UserError, match="flip must be true, false or 'alternate'"):
        augmenter({"flip": "sometimes"}, 0)


@pytest.mark.backend
def test_fit_feeds_alternating_flips(folder, tmp_path, monkeypatch) -> None:
    import keras

    import kerascnn
    from kerascnn.training import flips, pydata

    calls: list[int] = []

    def spy(real):
        def wrapped(*args, **kwargs):
            calls.append(len(args[1]) if keras.backend.backend() == "tensorflow" else args[3])
            return real(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(flips, "tf_mirror_in_turn", spy(flips.tf_mirror_in_turn))
    monkeypatch.setattr(pydata, "mirror_in_turn", spy(pydata.mirror_in_turn))

    def build():
        return keras.Sequential([keras.Input((10, 10, 3)), keras.layers.Flatten(),
                                 keras.layers.Dense(3, activation="softmax")])  # fmt: skip

    result = kerascnn.fit(build, folder.root, epochs=2, batch_size=8, image_size=(10, 10),
                          validation_split=0.0, augmentation={"flip": "alternate"},
                          optimizer="sgd", verbose=0)  # fmt: skip
    assert len(result.history["loss"]) == 2
    if keras.backend.backend() == "tensorflow":
        assert calls == [folder.count("train")]  # the stream knows the epoch's length
    else:
        assert {0, 1} <= set(calls)  # batches of both epochs (and maybe a prefetched third)
