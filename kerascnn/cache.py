"""Where downloaded weights live: ``$KERASCNN_HOME``, else ``$KERAS_HOME/kerascnn``, else
``~/.keras/kerascnn``. Cheap to import (no Keras)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["cache_root", "cached_path"]


def cache_root() -> Path:
    """The cache folder (not created here)."""
    if os.environ.get("KERASCNN_HOME"):
        return Path(os.environ["KERASCNN_HOME"]).expanduser()
    if os.environ.get("KERAS_HOME"):
        return Path(os.environ["KERAS_HOME"]).expanduser() / "kerascnn"
    return Path.home() / ".keras" / "kerascnn"


def cached_path(model: str, variant: str, card: dict[str, Any]) -> Path:
    """Where weight variant ``card`` of ``model`` is (or would be) cached."""
    filename = card.get("filename") or card["url"].rsplit("/", 1)[-1]
    return cache_root() / model / variant / filename
