"""The demo database: seeded once, and a ``sleep()`` that behaves like MySQL's SLEEP, bounded."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from lunge.demo import db


@pytest.fixture
def path(tmp_path: Path) -> Path:
    target = tmp_path / "shop.sqlite3"
    db.create(target)
    return target


def _timed(path: Path, sql: str) -> tuple[object, float]:
    with closing(db.connect(path)) as conn:
        started = time.monotonic()
        value = conn.execute(sql).fetchone()[0]
        return value, time.monotonic() - started


def test_sleep_sleeps_and_returns_zero(path: Path) -> None:
    value, elapsed = _timed(path, "SELECT sleep(0.3)")
    assert value == 0 and 0.3 <= elapsed < 1.0


def test_sleep_sleeps_once_per_query_even_when_called_per_row(path: Path) -> None:
    value, elapsed = _timed(path, "SELECT count(*) FROM products WHERE sleep(0.2) = 0")
    assert value == 4  # called for each of the 4 rows ...
    assert elapsed < 0.6  # ... slept once


@pytest.mark.parametrize("argument", ["'abc'", "NULL", "-5", "0"])
def test_sleep_ignores_what_is_not_a_positive_number(path: Path, argument: str) -> None:
    assert _timed(path, f"SELECT sleep({argument})")[1] < 0.1


def test_sleep_is_capped(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "MAX_SLEEP", 0.2)
    assert _timed(path, "SELECT sleep(60)")[1] < 0.6


def test_create_seeds_once(path: Path) -> None:
    db.create(path)
    with closing(db.connect(path)) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == len(db.USERS)
        assert conn.execute("SELECT count(*) FROM settings").fetchone()[0] == 1


async def test_queries_run_off_the_event_loop(path: Path) -> None:
    database = db.Database(path)
    try:
        started = time.monotonic()
        async with asyncio.TaskGroup() as group:
            slow = group.create_task(database.fetch("SELECT sleep(0.5)"))
            fast = await database.fetch("SELECT name FROM products WHERE id = ?", (1,))
            assert fast == [("Widget",)] and time.monotonic() - started < 0.4
        assert slow.result() == [(0,)]
    finally:
        database.close()


async def test_errors_are_the_documented_ones(path: Path) -> None:
    database = db.Database(path)
    try:
        for sql in ("SELECT * FROM products WHERE id = 1'", "SELECT 1; SELECT 2", "SELECT '\x00'"):
            with pytest.raises(db.DB_ERRORS):
                await database.fetch(sql)
    finally:
        database.close()


def test_heavy_blob_queries_fail_fast(path: Path) -> None:
    with closing(db.connect(path)) as conn, pytest.raises(sqlite3.DataError):
        conn.execute("SELECT upper(hex(randomblob(500000000/2)))").fetchone()
