"""Data the benchmark scripts share: the CIFAR-10 test JPEGs from ``../shared/data``."""

from __future__ import annotations

import argparse
import os
import zipfile
from pathlib import Path
from typing import Any


def cifar_test_folder(data: Path, into: Path) -> Path:
    """The CIFAR-10 test JPEGs, extracted from the shared zip into ``into/test``."""
    with zipfile.ZipFile(data / "cifar10-jpeg" / "cifar10-jpeg.zip") as archive:
        archive.extractall(into, [n for n in archive.namelist() if n.startswith("test/")])
    return into / "test"


def cifar_recipe_arguments(doc: str, out: str) -> argparse.ArgumentParser:
    """The options the CIFAR recipe benchmarks share: ``--data``, ``--epochs``, ``--out``."""
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    default = os.environ.get("KERASCNN_DATA", str(repo.parent / "shared" / "data"))
    parser.add_argument("--data", type=Path, default=Path(default))
    parser.add_argument("--epochs", type=int, default=4, help="Each run's epochs (default 4).")
    parser.add_argument("--out", type=Path, default=Path(out))
    return parser


def cifar_recipe_test(data: Path, seed: int) -> tuple[Any, ...]:
    """``(images, labels, classes)`` of the archive's test split, as the recipe scores them."""
    from kerascnn.zoo.recipes.cifar_data import cifar_folder, split_arrays

    folder = cifar_folder(data / "cifar10-jpeg", seed=seed)
    return (*split_arrays(folder, "validation"), len(folder.class_names))
