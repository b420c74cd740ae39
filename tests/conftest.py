"""Shared fixtures: the data folder, quiet TensorFlow, pytest exit code 5 treated as success."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("KERASCNN_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def data_dir() -> Path:
    """``../shared/data`` (or ``$KERASCNN_DATA``); the test is skipped when it is absent."""
    if not DATA.is_dir():
        pytest.skip(f"test data not found at {DATA} (set KERASCNN_DATA)")
    return DATA


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test gets its own empty weights cache, never the user's."""
    monkeypatch.setenv("KERASCNN_HOME", str(tmp_path_factory.mktemp("kerascnn_home")))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # "no tests collected" (5), e.g. a marker selection that is empty on this backend
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.OK
