"""Connecting: URLs, SQLite settings, unreachable databases, and exceptions mapped at the boundary."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from lunge.errors import SettingError, StoreError
from lunge.store import open_store
from lunge.store.sql import SqlStore
from lunge.store.sql.engine import connect
from lunge.store.sql.errors import map_exceptions
from tests.fixtures.servers import free_port


def _pragmas(store: SqlStore) -> tuple[str, int, int, int]:
    with store.db.engine.connect() as conn:
        return (
            conn.execute(text("PRAGMA journal_mode")).scalar_one(),
            conn.execute(text("PRAGMA synchronous")).scalar_one(),
            conn.execute(text("PRAGMA busy_timeout")).scalar_one(),
            conn.execute(text("PRAGMA foreign_keys")).scalar_one(),
        )


def test_sqlite_runs_wal_normal_with_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'a' / 'b' / 'lunge.db'}")
    try:
        assert isinstance(store, SqlStore)
        assert _pragmas(store) == ("wal", 1, 5000, 1)  # synchronous 1 = NORMAL
    finally:
        store.close()
    assert (tmp_path / "a" / "b" / "lunge.db").is_file()


def test_sqlite_synchronous_full_on_request(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'lunge.db'}?synchronous=FULL")
    try:
        assert isinstance(store, SqlStore)
        assert _pragmas(store)[1] == 2  # FULL
    finally:
        store.close()


@pytest.mark.parametrize(("url", "problem"), [
    ("sqlite:///{tmp}/x.db?synchronous=sometimes", "synchronous"),
    ("sqlite://", "in-memory"),
    ("sqlite:///:memory:", "in-memory"),
    ("mysql://root:hunter2@db/lunge", "SQLAlchemy URL"),
    ("not a url at all", "SQLAlchemy URL"),
])
def test_unusable_urls_are_setting_errors(tmp_path: Path, url: str, problem: str) -> None:
    with pytest.raises(SettingError, match=problem) as caught:
        open_store(url.format(tmp=tmp_path))
    assert caught.value.name == "LUNGE_DB"
    assert "hunter2" not in str(caught.value)


def test_an_unreachable_postgresql_names_the_url_with_the_password_masked() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(StoreError, match=rf"postgresql\+psycopg://lunge:\*\*\*@127\.0\.0\.1:{port}/db") as caught:
        open_store(f"postgresql://lunge:s3cret@127.0.0.1:{port}/db")
    assert "s3cret" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_unwritable_sqlite_location_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot create the directory"):
        open_store(f"sqlite:///{blocker / 'sub' / 'lunge.db'}")


def test_a_locked_database_is_a_store_error_not_a_sqlalchemy_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lunge.db'}"
    open_store(url).close()
    db = connect(url)
    other = sqlite3.connect(tmp_path / "lunge.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(StoreError, match=r"database sqlite:///.*lunge\.db: database is locked"), \
             map_exceptions(db.label), db.engine.connect() as conn:
            conn.execute(text("PRAGMA busy_timeout = 50"))
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
    finally:
        other.close()
        db.close()


def test_a_file_that_is_not_a_database_is_a_store_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "lunge.db"
    path.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(StoreError, match=rf"database sqlite:///{path}: file is not a database"):
        open_store(f"sqlite:///{path}")


def test_map_exceptions_lets_lunge_errors_through() -> None:
    with pytest.raises(StoreError, match="^mine$"), map_exceptions("db"):
        raise StoreError("mine")
