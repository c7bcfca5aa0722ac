"""Fixtures of the engine's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lunge.store import Store, open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A new SQLite store in the test's tmp_path, closed after the test."""
    s = open_store(f"sqlite:///{tmp_path / 'lunge.db'}")
    yield s
    s.close()
