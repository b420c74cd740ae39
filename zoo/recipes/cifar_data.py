"""CIFAR-10's data for its recipe: the JPEG archive (``train/<class>/NNNN.jpg``,
``test/<class>/NNNN.jpg``) as the training engine reads it, extracted once into class
folders and given as an ``ImageFolder`` whose training split is the archive's ``train/``
and whose validation split is its ``test/``; the archive read straight into arrays, for
scoring weights without extracting it; the PCA-whitening filters of the training images.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from kerascnn.errors import UserError

__all__ = [
    "archive_path",
    "cifar_folder",
    "extract_archive",
    "fixed_sample",
    "load_fixed_sample",
    "patch_whitening",
    "read_split",
    "split_arrays",
    "split_folder",
    "whitening_kernel",
    "whitening_sample",
]

ARCHIVE = "cifar10-jpeg.zip"
SPLITS = ("train", "test")


def archive_path(data: str | Path) -> Path:
    """``data`` if it is the archive, else ``data/cifar10-jpeg.zip``; a one-line error if absent."""
    path = Path(data)
    if path.is_dir():
        path = path / ARCHIVE
    if not path.is_file():
        raise UserError(f"{data}: no {ARCHIVE} there; pass the archive or its folder")
    return path


def _images(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The archive's ``train|test/<class>/<name>.jpg`` members, sorted by name."""
    found = []
    for info in archive.infolist():
        parts = info.filename.split("/")
        if (
            len(parts) == 3
            and parts[0] in SPLITS
            and parts[2].endswith(".jpg")
            and not any(p.startswith(".") or not p for p in parts[1:])
        ):
            found.append(info)
    if not found:
        raise UserError(
            f"{archive.filename}: no train/<class>/*.jpg members; give the CIFAR-10 JPEG archive"
        )
    return sorted(found, key=lambda info: info.filename)


def extract_archive(path: str | Path, cache: str | Path | None = None) -> tuple[Path, list[str]]:
    """The archive's images as files, extracted once: ``(root, member names)``.

    ``root`` is ``cache/<archive name>-<key>`` (default ``cache``: ``datasets/`` in
    kerascnn's cache folder, ``$KERASCNN_HOME``), holding ``{train,test}/<class>/NNNN.jpg``;
    ``key`` hashes the members' names, sizes and CRCs, so a changed archive gets a new
    folder. The folder is renamed into place whole, so it never holds half an archive.
    """
    from kerascnn.atomic import check_folder
    from kerascnn.weights.cache import cache_root

    path = Path(path)
    with zipfile.ZipFile(path) as archive:
        members = _images(archive)
        listing = "".join(f"{m.filename} {m.file_size} {m.CRC}\n" for m in members)
        key = hashlib.sha256(listing.encode()).hexdigest()[:16]
        root = Path(cache or cache_root() / "datasets").expanduser() / f"{path.stem}-{key}"
        names = [m.filename for m in members]
        if root.is_dir():
            return root, names
        check_folder(root.parent, "set KERASCNN_HOME to a folder you can write")
        root.parent.mkdir(parents=True, exist_ok=True)
        part = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
        try:
            for folder in sorted({name.rpartition("/")[0] for name in names}):
                (part / folder).mkdir(parents=True)
            for member in members:
                (part / member.filename).write_bytes(archive.read(member))
            try:
                part.rename(root)
            except OSError:
                if not root.is_dir():  # else another process extracted it first
                    raise
        finally:
            shutil.rmtree(part, ignore_errors=True)
    return root, names


def cifar_folder(
    data: str | Path,
    image_size: tuple[int, int] = (32, 32),
    seed: int = 0,
    cache: str | Path | None = None,
) -> Any:
    """The archive as a ``kerascnn.training.data.ImageFolder`` for ``kerascnn.fit``.

    Args:
        data: ``cifar10-jpeg.zip`` or the folder holding it.
        image_size: (height, width) of the images (CIFAR-10's are 32x32).
        seed: the training files' order and the training data's shuffling seed.
        cache: where the archive is extracted (see :func:`extract_archive`).

    Its ``train`` split is the archive's ``train/`` (in a random order of ``seed``), its
    ``validation`` split the archive's ``test/`` in name order (so the engine reports the
    test score every epoch); classes in sorted order.
    """
    root, names = extract_archive(archive_path(data), cache)
    return split_folder(root, names, image_size, seed, data)


def split_folder(
    root: Path, names: list[str], image_size: tuple[int, int], seed: int, data: object = None
) -> Any:
    """An ``ImageFolder`` of ``root``'s ``train/<class>/*`` (the training split, in a random
    order of ``seed``) and ``test/<class>/*`` (the validation split, in name order).

    Args:
        root, names: the folder and its image files' paths relative to it (``train/cat/0.jpg``).
        image_size, seed: as :func:`cifar_folder`; data: named in errors (default ``root``).
    """
    from kerascnn.training.data import ImageFolder

    data = root if data is None else data
    split = {s: [n for n in names if n.startswith(f"{s}/")] for s in SPLITS}
    classes = sorted({n.split("/")[1] for n in split["train"]})
    extra = sorted({n.split("/")[1] for n in split["test"]} - set(classes))
    if len(classes) < 2 or extra:
        raise UserError(
            f"{data}: train/ holds {len(classes)} class folder(s)"
            + (f" and test/ has classes train/ lacks: {', '.join(extra)}" if extra else "")
            + "; give the CIFAR-10 JPEG archive"
        )
    index = {name: i for i, name in enumerate(classes)}
    files = {s: [(n, index[n.split("/")[1]]) for n in split[s]] for s in SPLITS}
    # training files in a seeded random order, not class by class: on TensorFlow the engine
    # shuffles through a 10,000-image buffer, which cannot mix 50,000 class-sorted images
    order = np.random.default_rng(seed).permutation(len(files["train"]))
    files["train"] = [files["train"][i] for i in order]
    return ImageFolder(
        root=root,
        class_names=classes,
        image_size=(int(image_size[0]), int(image_size[1])),
        seed=int(seed),
        validation_split=0.0,
        test_split=0.0,
        files={"train": files["train"], "validation": files["test"], "test": []},
        method="the archive's own split: train/ is the training split, test/ the validation one",
    )


def split_arrays(folder: Any, split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(uint8 images, int32 labels)`` of one split of an ``ImageFolder``, decoded by Pillow."""
    from kerascnn.training.pydata import decode_images

    entries = folder.files[split]
    images = decode_images([str(folder.root / p) for p, _ in entries], folder.image_size)
    return images, np.array([label for _, label in entries], np.int32)


def read_split(data: str | Path, split: str = "test") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(uint8 images, int32 labels, classes)`` of one split, read from the archive in memory
    (members in name order; classes: the split's class folders, sorted)."""
    from PIL import Image

    with zipfile.ZipFile(archive_path(data)) as archive:
        members = [m for m in _images(archive) if m.filename.startswith(f"{split}/")]
        if not members:
            raise UserError(f"{data}: no {split}/<class>/*.jpg members; give the CIFAR-10 archive")
        classes = sorted({m.filename.split("/")[1] for m in members})
        images = []
        for member in members:
            with Image.open(io.BytesIO(archive.read(member))) as image:
                images.append(np.asarray(image.convert("RGB"), dtype=np.uint8))
    labels = [classes.index(m.filename.split("/")[1]) for m in members]
    return np.stack(images), np.array(labels, np.int32), classes


def fixed_sample(labels: np.ndarray, per_class: int = 10) -> np.ndarray:
    """Indices of the fixed test sample: the first ``per_class`` images of each class."""
    return np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)])


def load_fixed_sample(data: str | Path, per_class: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The fixed test sample read straight from the archive (images in file-name order)."""
    from PIL import Image

    with zipfile.ZipFile(archive_path(data)) as archive:
        names = sorted(
            n for n in archive.namelist() if n.startswith("test/") and n.endswith(".jpg")
        )
        classes = sorted({n.split("/")[1] for n in names})
        chosen = [
            n for c in classes for n in [m for m in names if m.split("/")[1] == c][:per_class]
        ]
        images = []
        for name in chosen:
            with Image.open(io.BytesIO(archive.read(name))) as image:
                images.append(np.asarray(image.convert("RGB"), dtype=np.uint8))
    labels = np.array([classes.index(n.split("/")[1]) for n in chosen], dtype=np.int32)
    return np.stack(images), labels


def whitening_sample(images: int, count: int, seed: int) -> np.ndarray:
    """Indices of the ``count`` training images (of ``images``) the whitening is taken over."""
    return np.random.default_rng(seed).choice(images, min(count, images), replace=False)


def patch_whitening(images: np.ndarray, patch: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """PCA-whitening filters of the ``patch x patch`` patches of ``images``: ``(kernel, bias)``
    for a Conv2D.

    Each eigenvector ``v`` of the patch covariance, scaled by ``1/sqrt(lambda + eps)``,
    appears as ``v`` and ``-v``; the bias centres the patches. Pixels are taken /255.
    """
    x = images.astype(np.float64) / 255.0
    h, w, c = x.shape[1:]
    patches = np.stack(
        [
            x[:, i : i + h - patch + 1, j : j + w - patch + 1]
            for i in range(patch)
            for j in range(patch)
        ],
        axis=3,
    ).reshape(-1, patch * patch * c)  # order (kh, kw, channel) as a Keras kernel
    mean = patches.mean(axis=0)
    eigval, eigvec = np.linalg.eigh(np.cov(patches, rowvar=False))
    filters = eigvec / np.sqrt(eigval + eps)  # columns
    filters = np.concatenate([filters, -filters], axis=1) / 255.0  # model sees [0, 255]
    kernel = filters.reshape(patch, patch, c, -1)
    bias = -(mean * 255.0) @ filters
    return kernel.astype(np.float32), bias.astype(np.float32)


def whitening_kernel(images: np.ndarray, patch: int, eps: float, count: int, seed: int):
    """PCA-whitening filters (:func:`patch_whitening`) of ``count`` of ``images``.

    Args:
        images, patch, eps: the training images; the patch side; added to the eigenvalues.
        count, seed: how many images (drawn at random, :func:`whitening_sample`) the
            covariance is taken over.
    """
    return patch_whitening(images[whitening_sample(len(images), count, seed)], patch, eps)
