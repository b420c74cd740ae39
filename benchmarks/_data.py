"""Data the benchmark scripts share: the CIFAR-10 test JPEGs from ``../shared/data``."""

from __future__ import annotations

import zipfile
from pathlib import Path


def cifar_test_folder(data: Path, into: Path) -> Path:
    """The CIFAR-10 test JPEGs, extracted from the shared zip into ``into/test``."""
    with zipfile.ZipFile(data / "cifar10-jpeg" / "cifar10-jpeg.zip") as archive:
        archive.extractall(into, [n for n in archive.namelist() if n.startswith("test/")])
    return into / "test"
