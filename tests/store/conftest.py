"""Fixtures of the store's tests: the same test runs on SQLite (a file in tmp_path) and on the
machine's PostgreSQL (a fresh database per test, see tests/fixtures/postgres.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lunge.store import Store, open_store
from tests.fixtures.postgres import pg_database, url_of

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'data' / 'lunge.db'}"


@pytest.fixture(scope="session")
def migrated_pg_template() -> Iterator[str]:
    """A PostgreSQL database migrated once per session, copied for each test (migrating every
    test's database would cost ~0.2 s each; the migration itself is tested on empty ones)."""
    with pg_database(prefix="lunge_template") as name:
        open_store(url_of(name)).close()
        yield name


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database migrated to head with nothing in it, once per backend."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    template = request.getfixturevalue("migrated_pg_template")
    with pg_database(template=template) as name:
        yield url_of(name)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A migrated, empty store on each backend."""
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def second_store(store_url: str) -> Iterator[Store]:
    """Another store instance (its own connections) on the same database as ``store``."""
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()
