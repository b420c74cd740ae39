"""Image folders (``root/<class>/**/<image>``) as ``tf.data`` pipelines, split by a hash of
each file's path: the same stratified split everywhere, and new files never move old ones.
Images are checked up front with Pillow; unreadable ones are skipped."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from kerascnn.errors import UserError

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["SPLITS", "ImageFolder", "batch_images", "check_image", "image_folder", "split_of"]

SPLITS = ("train", "validation", "test")
_TF_FORMATS = {"JPEG", "PNG", "GIF", "BMP", "WEBP"}  # what tf.io.decode_image reads
SHUFFLE_BUFFER = 10_000  # decoded images held by tf.data's shuffle
_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".ppm"}
# folder names of a data set's splits: such folders holding class folders are not classes
_SPLIT_NAMES = {"train", "training", "test", "testing", "val", "valid", "validation", "dev"}


def split_of(relpath: str, seed: int, validation_split: float, test_split: float) -> str:
    """Which split a file goes to: a uniform number from ``sha256(seed/relpath)``.

    Args:
        relpath, seed: the file's path inside its class folder, and the split's seed.
        validation_split, test_split: ``[0, test_split)`` is test, the next
            ``validation_split`` validation, the rest train.
    """
    digest = hashlib.sha256(f"{seed}/{relpath}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < test_split:
        return "test"
    if u < test_split + validation_split:
        return "validation"
    return "train"


def check_image(path: str | os.PathLike[str]) -> str | None:
    """``None`` if ``tf.data`` can decode the image file, else why not; Pillow decodes all of it
    (JPEGs at 1/8 scale, still every byte), so truncated files are caught too."""
    try:
        with Image.open(path) as img:
            fmt = img.format
            if fmt not in _TF_FORMATS:
                return f"format {fmt} is not supported by tf.io.decode_image (use JPEG or PNG)"
            if fmt == "JPEG":
                img.draft("RGB", (max(1, img.size[0] // 8), max(1, img.size[1] // 8)))
            img.load()
    except Exception as exc:  # any Pillow failure means "unreadable"
        return f"cannot read the image ({type(exc).__name__}: {exc})".replace("\n", " ")
    return None


@dataclass
class ImageFolder:
    """A split image folder. ``train``/``validation``/``test`` give batched ``tf.data`` datasets
    of ``(float32 pixels in [0, 255], int32 label)``; they are built on first use."""

    root: Path
    class_names: list[str]
    image_size: tuple[int, int]
    seed: int
    validation_split: float
    test_split: float
    files: dict[str, list[tuple[str, int]]]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    batch_size: int = 32
    cache: bool | str = True
    method: str | None = None  # how ``files`` were split, when not by ``split_of``

    @property
    def train(self) -> tf.data.Dataset:
        """The training split, shuffled every epoch."""
        return self.dataset("train")

    @property
    def validation(self) -> tf.data.Dataset | None:
        """The validation split, or ``None`` when it is empty."""
        return self.dataset("validation") if self.files["validation"] else None

    @property
    def test(self) -> tf.data.Dataset | None:
        """The test split, or ``None`` when it is empty."""
        return self.dataset("test") if self.files["test"] else None

    def count(self, split: str) -> int:
        """Number of images in ``split`` (``train``, ``validation``, ``test`` or ``all``)."""
        return len(self._entries(split))

    def _entries(self, split: str) -> list[tuple[str, int]]:
        if split == "all":
            return sorted(e for s in SPLITS for e in self.files[s])
        if split not in SPLITS:
            raise UserError(f"unknown split {split!r}; use one of train, validation, test, all")
        return self.files[split]

    def nonempty(self, split: str) -> list[tuple[str, int]]:
        """The ``(path, label)`` entries of ``split``; an empty split is a ``UserError``."""
        entries = self._entries(split)
        if not entries:
            raise UserError(
                f"{self.root}: the {split} split is empty "
                f"(validation_split={self.validation_split}, test_split={self.test_split}); "
                "add images or change the splits"
            )
        return entries

    def elements(
        self,
        split: str = "train",
        *,
        shuffle: bool | None = None,
        repeat: bool = False,
        indexed: bool = False,
    ) -> tf.data.Dataset:
        """Unbatched ``(uint8 image, int32 label)`` pairs of ``split``: decoded in parallel,
        cached, shuffled every pass (training data by default), optionally repeated;
        ``indexed``: triples, the third the image's position in ``nonempty(split)``."""
        import tensorflow as tf

        entries = self.nonempty(split)
        order = np.arange(len(entries))
        shuffle = (split == "train") if shuffle is None else shuffle
        if shuffle:  # sorted by class: mix them all once, by the seed (the buffer is smaller)
            order = np.random.default_rng(self.seed).permutation(len(entries))
        paths = [str(self.root / entries[i][0]) for i in order]
        labels = [entries[i][1] for i in order]
        height, width = self.image_size

        def decode(path: tf.Tensor, label: tf.Tensor, *index: tf.Tensor) -> tuple[tf.Tensor, ...]:
            image = _decode(tf.io.read_file(path))
            image = tf.image.resize(image, (height, width), antialias=True)
            image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
            return (image, tf.cast(label, tf.int32), *index)

        columns = (paths, labels, order.astype(np.int64)) if indexed else (paths, labels)
        ds = tf.data.Dataset.from_tensor_slices(columns)
        ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.ignore_errors(log_warning=True)  # backstop; check_image reports by path
        if self.cache:
            ds = ds.cache(self.cache if isinstance(self.cache, str) else "")
        if shuffle:
            ds = ds.shuffle(
                min(len(entries), SHUFFLE_BUFFER), seed=self.seed, reshuffle_each_iteration=True
            )
        return ds.repeat() if repeat else ds

    def dataset(
        self,
        split: str = "train",
        *,
        batch_size: int | None = None,
        shuffle: bool | None = None,
        drop_remainder: bool = False,
    ) -> tf.data.Dataset:
        """A batched dataset of ``split`` (float32 pixels); training data is shuffled by default."""
        ds = self.elements(split, shuffle=shuffle)
        return batch_images(ds, batch_size or self.batch_size, drop_remainder=drop_remainder)

    def to_json(self) -> dict[str, Any]:
        """The split, as recorded in ``split.json``."""
        return {
            "root": str(self.root),
            "method": self.method
            or "sha256(f'{seed}/{path in class folder}'), first 8 bytes / 2**64: "
            "[0, test_split) test, next validation_split validation, rest train",
            "seed": self.seed,
            "validation_split": self.validation_split,
            "test_split": self.test_split,
            "image_size": list(self.image_size),
            "class_names": self.class_names,
            "counts": {s: len(self.files[s]) for s in SPLITS},
            "files": {s: [p for p, _ in self.files[s]] for s in SPLITS},
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
        }


def _decode(contents: tf.Tensor) -> tf.Tensor:
    """An image file's RGB pixels; JPEGs with libjpeg's accurate integer DCT, as Pillow decodes
    them (the JAX and PyTorch feeds, ``kerascnn.images``), not TF's default fast DCT, whose
    pixels differ from Pillow's by about one level."""
    import tensorflow as tf

    return tf.cond(
        tf.io.is_jpeg(contents),
        lambda: tf.io.decode_jpeg(contents, channels=3, dct_method="INTEGER_ACCURATE"),
        lambda: tf.io.decode_image(contents, channels=3, expand_animations=False),
    )


def batch_images(
    ds: tf.data.Dataset, batch_size: int, *, drop_remainder: bool = False
) -> tf.data.Dataset:
    """Batch ``(uint8 image, label)`` pairs, cast images to float32, prefetch."""
    import tensorflow as tf

    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _check_not_splits(root: Path, classes: list[str]) -> None:
    """A folder of splits (``fm/train/<class>/``), not of classes: a one-line error naming the
    folder one level deeper, before its splits are taken for two or three classes."""
    splits = [name for name in classes if name.lower() in _SPLIT_NAMES]
    for name in splits:
        entries = [p for p in (root / name).iterdir() if not p.name.startswith(".")]
        images = [p for p in entries if p.is_file() and p.suffix.lower() in _SUFFIXES]
        if images or not any(p.is_dir() for p in entries):
            return  # images of its own: a class named like a split
    if splits:
        deeper = root / next((n for n in splits if n.lower().startswith("train")), splits[0])
        raise UserError(
            f"{root}: its folders {', '.join(splits)} are splits with class folders inside, not "
            f"classes; give the folder one level deeper, e.g. data={str(deeper)!r}",
            arguments={f"data={str(deeper)!r}": "data"},
        )


def _list_classes(root: Path) -> tuple[list[str], dict[str, list[str]]]:
    if not root.is_dir():
        raise UserError(f"{root}: no such folder; --data needs a folder of class sub-folders")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise UserError(f"{root}: no class sub-folders; put each class's images in root/<class>/")
    _check_not_splits(root, classes)
    found: dict[str, list[str]] = {}
    for name in classes:
        folder = root / name
        found[name] = sorted(
            p.relative_to(folder).as_posix()
            for p in folder.rglob("*")
            if p.is_file() and p.suffix.lower() in _SUFFIXES and not p.name.startswith(".")
        )
    empty = [n for n in classes if not found[n]]
    if len(empty) == len(classes):
        raise UserError(
            f"{root}: no images found in its class sub-folders; "
            "put each class's images (.jpg, .png, ...) in root/<class>/"
        )
    if empty:
        raise UserError(
            f"{root}: class folder(s) {', '.join(map(repr, empty))} contain no images; "
            "add images or remove the folder"
        )
    return classes, found


def image_folder(
    path: str | os.PathLike[str],
    image_size: tuple[int, int] = (64, 64),
    validation_split: float = 0.2,
    seed: int = 0,
    *,
    test_split: float = 0.0,
    batch_size: int = 32,
    cache: bool | str = True,
    check: bool = True,
    workers: int | None = None,
) -> ImageFolder:
    """Read a folder of class sub-folders and split it (see the module docstring).

    Args:
        path, image_size: the folder; (height, width) the images are resized to.
        validation_split, seed, test_split: the split (see :func:`split_of`).
        batch_size: of the ``train``/``validation``/``test`` datasets.
        cache: ``True`` in memory, a file prefix on disk, ``False`` none.
        check, workers: decode every image once with Pillow in ``workers`` threads
            and skip, with a reason, those that fail.
    """
    root = Path(path).expanduser()
    for name, value in (("validation_split", validation_split), ("test_split", test_split)):
        if not 0.0 <= value < 1.0:
            raise UserError(f"{name} must be in [0, 1), got {value!r}; e.g. {name}=0.2")
    if validation_split + test_split >= 1.0:
        raise UserError(
            f"validation_split + test_split must be below 1 to leave training data, got "
            f"{validation_split} + {test_split}; lower them, e.g. 0.2 and 0.1"
        )
    try:
        image_size = (int(image_size[0]), int(image_size[1]))
    except (TypeError, ValueError, IndexError):
        raise UserError(
            f"image_size must be (height, width), got {image_size!r}; e.g. (64, 64)"
        ) from None
    classes, found = _list_classes(root)
    entries = [
        (f"{name}/{rel}", label, rel) for label, name in enumerate(classes) for rel in found[name]
    ]
    skipped: list[tuple[str, str]] = []
    if check:
        with ThreadPoolExecutor(max_workers=workers or min(8, (os.cpu_count() or 1) + 1)) as pool:
            reasons = list(pool.map(check_image, [root / e[0] for e in entries]))
        skipped = [(str(root / e[0]), r) for e, r in zip(entries, reasons, strict=True) if r]
        entries = [e for e, r in zip(entries, reasons, strict=True) if not r]
        if not entries:
            raise UserError(
                f"{root}: none of the images can be read, e.g. {skipped[0][0]} ({skipped[0][1]}); "
                "give a folder of JPEG or PNG images"
            )
    files: dict[str, list[tuple[str, int]]] = {s: [] for s in SPLITS}
    for relpath, label, rel in entries:
        files[split_of(rel, seed, validation_split, test_split)].append((relpath, label))
    return ImageFolder(
        root=root,
        class_names=classes,
        image_size=image_size,
        seed=int(seed),
        validation_split=float(validation_split),
        test_split=float(test_split),
        files=files,
        skipped=skipped,
        batch_size=int(batch_size),
        cache=cache,
    )
