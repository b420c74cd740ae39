"""kerascnn.training.data.image_folder: the split by file name, bad images, errors, the pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kerascnn.errors import UserError
from kerascnn.training.data import image_folder, split_of
from kerascnn.training.run import RunFolder
from tests.image_folders import make_image_folder


def _folder(root: Path, names: dict[str, int]) -> Path:
    rng = np.random.default_rng(0)
    for cls, n in names.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = rng.integers(0, 255, (12, 10, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / cls / f"{cls}_{i:04d}.png")
    return root


def test_split_is_stratified_deterministic_and_stable_when_files_are_added(tmp_path: Path):
    root = _folder(tmp_path / "d", {"a": 200, "b": 100})
    first = image_folder(root, (8, 8), validation_split=0.2, seed=7, test_split=0.1, check=False)
    again = image_folder(root, (8, 8), validation_split=0.2, seed=7, test_split=0.1, check=False)
    assert first.files == again.files
    for split, frac in (("train", 0.7), ("validation", 0.2), ("test", 0.1)):
        for label, n in ((0, 200), (1, 100)):  # each class split by the same fractions
            count = sum(1 for _, lab in first.files[split] if lab == label)
            assert abs(count - frac * n) < 4 * np.sqrt(n * frac * (1 - frac)) + 1
    placed = {p: s for s in first.files for p, _ in first.files[s]}
    assert len(placed) == 300  # every file in exactly one split
    _folder(tmp_path / "more", {"a": 260, "b": 130})  # new files, and more of them
    for cls in ("a", "b"):
        for p in sorted((tmp_path / "more" / cls).iterdir()):
            if not (root / cls / p.name).exists():
                p.rename(root / cls / p.name)
    grown = image_folder(root, (8, 8), validation_split=0.2, seed=7, test_split=0.1, check=False)
    moved = {p: s for s in grown.files for p, _ in grown.files[s]}
    assert len(moved) == 390
    assert all(moved[p] == s for p, s in placed.items()), "adding files moved old ones"
    other = image_folder(root, (8, 8), validation_split=0.2, seed=8, check=False)
    assert other.files["validation"] != grown.files["validation"]


def test_split_of_depends_only_on_name_seed_and_fractions():
    assert split_of("x.jpg", 0, 0.2, 0.0) == split_of("x.jpg", 0, 0.2, 0.0)
    names = [f"img{i}.jpg" for i in range(2000)]
    frac = np.mean([split_of(n, 3, 0.25, 0.0) == "validation" for n in names])
    assert 0.22 < frac < 0.28


def test_bad_images_are_reported_by_path_and_skipped(tmp_path: Path):
    root = make_image_folder(tmp_path / "d", classes=2, per_class=6, size=16)
    good = (root / "c0" / "img_000.jpg").read_bytes()
    (root / "c0" / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (root / "c1" / "text.png").write_text("not an image")
    (root / "c1" / "empty.jpg").write_bytes(b"")
    Image.new("RGB", (9, 9)).save(root / "c1" / "tiff.tif")
    folder = image_folder(root, (16, 16), validation_split=0.0)
    skipped = {Path(p).name: reason for p, reason in folder.skipped}
    assert set(skipped) == {"truncated.jpg", "text.png", "empty.jpg", "tiff.tif"}
    assert "TIFF" in skipped["tiff.tif"] and all(str(root) in p for p, _ in folder.skipped)
    images, labels = zip(*folder.dataset("train", batch_size=100).unbatch(), strict=True)
    assert len(images) == 12 and sorted(int(y) for y in labels) == [0] * 6 + [1] * 6
    assert images[0].shape == (16, 16, 3) and images[0].dtype.name == "float32"
    out = RunFolder(tmp_path / "run").write_split(folder.to_json())
    record = json.loads(out.read_text())
    assert record["counts"] == {"train": 12, "validation": 0, "test": 0}
    assert {Path(s["path"]).name for s in record["skipped"]} == set(skipped)
    assert record["class_names"] == ["c0", "c1"] and record["seed"] == 0


def test_pixels_and_labels_match_the_files(tmp_path: Path):
    root = make_image_folder(tmp_path / "d", classes=3, per_class=4, size=8)
    folder = image_folder(root, (8, 8), validation_split=0.0)
    ds = folder.dataset("train", batch_size=5, shuffle=False)
    got = {}
    for x, y in ds.unbatch():
        got.setdefault(int(y), []).append(x.numpy())
    for label, cls in enumerate(folder.class_names):
        path = root / cls / "img_001.png"  # lossless: exact pixels
        expected = np.asarray(Image.open(path), np.float32)
        assert any(np.array_equal(expected, x) for x in got[label])


def test_jpegs_decode_to_the_pixels_pillow_gives(tmp_path: Path):
    """The TF pipeline decodes JPEGs as Pillow does (the JAX and PyTorch feeds, prediction):
    TF's default fast DCT gives pixels about one level off, on most pixels."""
    rng = np.random.default_rng(0)
    (tmp_path / "d" / "a").mkdir(parents=True)
    (tmp_path / "d" / "b").mkdir()
    for i in range(6):
        smooth = np.kron(rng.uniform(0, 255, (8, 8, 3)), np.ones((4, 4, 1)))  # 32x32, blocky
        pixels = np.clip(smooth + rng.normal(0, 20, smooth.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(tmp_path / "d" / "ab"[i % 2] / f"{i}.jpg", quality=75)
    folder = image_folder(tmp_path / "d", (32, 32), validation_split=0.0)
    decoded = folder.elements("train", shuffle=False)
    for (x, _), (path, _) in zip(decoded, folder.nonempty("train"), strict=True):
        with Image.open(folder.root / path) as image:
            np.testing.assert_array_equal(x.numpy(), np.asarray(image.convert("RGB")))


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({}, "no class sub-folders"),
        ({"a": 0, "b": 0}, "no images found"),
        ({"a": 3, "b": 0}, "'b' contain no images"),
    ],
)
def test_empty_folders_are_one_line_errors(tmp_path: Path, layout: dict, message: str):
    root = tmp_path / "d"
    root.mkdir()
    _folder(root, layout)
    with pytest.raises(UserError, match=message) as info:
        image_folder(root, (8, 8))
    assert "\n" not in str(info.value)


def test_argument_errors(tmp_path: Path):
    with pytest.raises(UserError, match="no such folder"):
        image_folder(tmp_path / "missing", (8, 8))
    root = _folder(tmp_path / "d", {"a": 2})
    with pytest.raises(UserError, match="validation_split"):
        image_folder(root, (8, 8), validation_split=1.5)
    with pytest.raises(UserError, match="below 1"):
        image_folder(root, (8, 8), validation_split=0.5, test_split=0.5)
    with pytest.raises(UserError, match="split is empty"):
        image_folder(root, (8, 8), validation_split=0.0).dataset("validation")


def test_training_batches_mix_classes_beyond_the_shuffle_buffer(tmp_path, monkeypatch):
    """Files are listed by class; a buffer smaller than the folder must still mix them."""
    from kerascnn.training import data

    monkeypatch.setattr(data, "SHUFFLE_BUFFER", 4)
    root = make_image_folder(tmp_path, classes=3, per_class=20, size=8)
    folder = data.image_folder(root, (8, 8), validation_split=0.0, seed=0)
    labels = [int(y) for _, y in folder.elements("train").take(12)]
    assert len(set(labels)) == 3, labels  # sorted by class, the first 12 would be class 0


def test_a_folder_of_splits_is_not_taken_for_classes(tmp_path: Path):
    for split in ("train", "validation"):
        _folder(tmp_path / "fm" / split, {"coat": 2, "shirt": 2})
    with pytest.raises(UserError) as info:
        image_folder(tmp_path / "fm", (8, 8))
    assert str(info.value).endswith(
        f"one level deeper, e.g. data={str(tmp_path / 'fm' / 'train')!r}"
    )
    assert info.value.arguments == {f"data={str(tmp_path / 'fm' / 'train')!r}": "data"}
    trains = _folder(tmp_path / "vehicles", {"train": 2, "bus": 2})  # a class named train
    assert image_folder(trains, (8, 8)).class_names == ["bus", "train"]
