"""Connecting: the URL, the SQLAlchemy engine with lunge's SQLite settings, and :class:`Database`,
the short read and write transactions every part of the SQL store runs in.

SQLite runs in WAL mode with ``synchronous=NORMAL`` (``?synchronous=full`` in the URL for
durability against power loss), a 5 s busy timeout and foreign keys on. Write transactions start
with ``BEGIN IMMEDIATE`` so two writers queue on the lock instead of failing halfway with
``database is locked``; reads use a plain ``BEGIN`` and never block a writer (WAL).
PostgreSQL runs with the server's defaults.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, Select, create_engine, event, func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from lunge.errors import SettingError, StoreError
from lunge.store.sql.errors import map_exceptions

logger = logging.getLogger(__name__)

PAGE_SIZE = 500
BUSY_TIMEOUT_MS = 5000
SYNCHRONOUS = ("normal", "full", "extra")
_URL_HELP = "a SQLAlchemy URL: sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB"
_WRITE = "lunge_write"
CLOCK_CHECK_S = 300.0  # how often PostgreSQL's clock is read again (clocks drift slowly)
CLOCK_RETRY_S = 10.0  # after a reading that failed


class Database:
    """An engine plus the transactions the store runs: :meth:`write`, :meth:`read`, :meth:`stream`."""

    def __init__(self, engine: Engine, label: str) -> None:
        self.engine = engine
        self.label = label  # the URL with its password masked, for messages
        self.dialect = engine.dialect.name
        self._local = threading.local()  # the write transaction this thread has open, if any
        self._clock_offset = timedelta(0)  # the database's clock minus this machine's
        self._clock_read_at = -CLOCK_CHECK_S  # monotonic time of the last reading (none yet)
        self._clock_lock = threading.Lock()

    def now(self) -> datetime:
        """The database's clock: the one clock of run leases, whichever machine asks. A node whose
        own clock is off would otherwise renew leases already past, or see live runs abandoned.
        SQLite is on this machine: its clock. PostgreSQL: this machine's clock corrected by the
        offset read from the server every :data:`CLOCK_CHECK_S` (one query, not one per call)."""
        if self.dialect != "sqlite" and time.monotonic() - self._clock_read_at >= CLOCK_CHECK_S:
            self._read_clock()
        return datetime.now(UTC) + self._clock_offset

    def _read_clock(self) -> None:
        """Read the offset again. Never blocks nor fails the caller (often a write that has just
        committed): another thread reading it, or a database that does not answer, leaves the last
        offset in use (clocks drift by seconds a month; a lease lasts 30 s)."""
        if not self._clock_lock.acquire(blocking=False):
            return
        try:
            with self.read() as conn:  # inside this thread's write, on its connection
                before = datetime.now(UTC)
                server: datetime = conn.execute(select(func.clock_timestamp())).scalar_one()
                after = datetime.now(UTC)
            self._clock_offset = server - (before + (after - before) / 2)
            self._clock_read_at = time.monotonic()
        except StoreError as exc:
            logger.warning("could not read the clock of database %s (%s): the last reading stays in use",
                           self.label, exc)
            self._clock_read_at = time.monotonic() - CLOCK_CHECK_S + CLOCK_RETRY_S
        finally:
            self._clock_lock.release()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, committed when the block ends (rolled back if it raises).

        Nested in another write of the same thread, it joins that transaction: the control plane
        applies a remote node's batch and records the batch's id in one commit (:mod:`.ingest`)."""
        joined: Connection | None = getattr(self._local, "conn", None)
        if joined is not None:
            yield joined
            return
        with map_exceptions(self.label), self.engine.connect() as conn:
            conn.execution_options(**{_WRITE: True})
            with conn.begin():
                self._local.conn = conn
                try:
                    yield conn
                finally:
                    self._local.conn = None

    @contextmanager
    def driver_write(self) -> Iterator[Any]:
        """A write transaction on the bare driver connection (sqlite3 or psycopg), committed when
        the block ends (rolled back if it raises); yields a driver cursor.

        For the one hot write, the recorder's baselines: SQLAlchemy's connection, event and
        transaction layers cost more client CPU than a small batch's ``INSERT`` itself, and on the
        recording proxy that CPU is taken from the event loop that answers the tests' requests.
        """
        joined: Connection | None = getattr(self._local, "conn", None)
        if joined is not None:  # inside write(): its transaction, committed by it
            cursor = joined.connection.cursor()
            try:
                yield cursor
            finally:
                cursor.close()
            return
        with map_exceptions(self.label):
            raw = self.engine.raw_connection()
            try:
                driver = raw.driver_connection
                cursor = raw.cursor()
                if self.dialect == "sqlite":
                    cursor.execute("BEGIN IMMEDIATE")  # as write() does: queue on the lock, never fail halfway
                try:
                    yield cursor
                except BaseException:
                    driver.rollback()  # type: ignore[union-attr]
                    raise
                driver.commit()  # type: ignore[union-attr]
                cursor.close()
            finally:
                raw.close()  # back to the pool

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A short read transaction, ended when the block ends.

        Inside a write of the same thread it reads in that transaction, so it sees what the write
        did so far (the control plane claims and splits a run in one commit)."""
        joined: Connection | None = getattr(self._local, "conn", None)
        if joined is not None:
            yield joined
            return
        with map_exceptions(self.label), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def schema_change(self) -> Iterator[Connection]:
        """A write transaction for migrations.

        On SQLite, foreign keys are off for it: Alembic's batch mode rebuilds a table by copy,
        drop and rename, and dropping a parent table with foreign keys on would cascade-delete its
        children (the baselines of every record). ``foreign_key_check`` then proves nothing was
        left dangling, and the connection is discarded so nobody gets it with foreign keys off.
        """
        with map_exceptions(self.label), self.engine.connect() as conn:
            sqlite = self.dialect == "sqlite"
            if sqlite:  # outside any transaction, or SQLite ignores it
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
            try:
                conn.execution_options(**{_WRITE: True})
                with conn.begin():
                    yield conn
                    if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                        raise StoreError(f"database {self.label}: a migration left rows pointing nowhere")
            finally:
                if sqlite:
                    conn.invalidate()

    def stream[K](self, page: Callable[[K | None], Select[Any]],
                  key: Callable[[RowMapping], K]) -> Iterator[RowMapping]:
        """Rows page by page (keyset pagination), each page in its own short transaction, so
        neither memory nor a database snapshot grows with the result. ``page(last_key)`` builds the
        query for the page after ``last_key`` (None: the first); ``key(row)`` is a row's key."""
        last: K | None = None
        while True:
            with self.read() as conn:
                rows = conn.execute(page(last)).mappings().all()
            yield from rows
            if len(rows) < PAGE_SIZE:
                return
            last = key(rows[-1])

    def close(self) -> None:
        self.engine.dispose()


def connect(url_text: str) -> Database:
    """A :class:`Database` for ``url_text`` (not yet contacted).

    Raises :class:`~lunge.errors.SettingError` for a URL lunge cannot use and
    :class:`~lunge.errors.StoreError` when the SQLite file's directory cannot be created.
    """
    url = _parse_url(url_text)
    label = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite":
        return Database(_sqlite_engine(url, label), label)
    return Database(_postgres_engine(url), label)


def _parse_url(text: str) -> URL:
    try:
        url = make_url(text.strip())
    except ArgumentError as exc:
        raise SettingError("LUNGE_DB", _mask(text), _URL_HELP) from exc
    backend, driver = url.get_backend_name(), url.get_driver_name()
    if backend == "postgresql" and driver in ("psycopg2", "psycopg"):
        return url.set(drivername="postgresql+psycopg")  # psycopg 3 is the driver lunge ships with
    if backend == "sqlite" and driver == "pysqlite":
        if url.database in (None, "", ":memory:"):
            raise SettingError("LUNGE_DB", text, "a SQLite file (sqlite:///PATH); in-memory databases lose everything")
        return url
    raise SettingError("LUNGE_DB", url.render_as_string(hide_password=True), _URL_HELP)


def _mask(text: str) -> str:
    """``text`` with anything between ``user:`` and ``@`` hidden, for URLs that do not parse."""
    scheme, sep, rest = text.partition("://")
    creds, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in creds:
        return text
    return f"{scheme}://{creds.partition(':')[0]}:***@{host}"


def _sqlite_engine(url: URL, label: str) -> Engine:
    synchronous = str(url.query.get("synchronous", "normal")).lower()
    if synchronous not in SYNCHRONOUS:
        raise SettingError("LUNGE_DB", label, f"?synchronous= one of {', '.join(SYNCHRONOUS)}")
    path = Path(url.database or "").expanduser()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"database {label}: cannot create the directory {path.parent}: {exc.strerror}") from exc
    try:
        _create_private(path)
    except OSError as exc:
        raise StoreError(f"database {label}: cannot create the file {path}: {exc.strerror}") from exc
    engine = create_engine(url.difference_update_query(["synchronous"]).set(database=str(path)))
    _install_sqlite_hooks(engine, synchronous)
    return engine


def _create_private(path: Path) -> None:
    """Create the SQLite file, if it does not exist, readable by its owner only: it holds recorded
    requests with their credentials. SQLite gives its -wal and -shm files the database file's
    permissions (``robust_open`` in its unix VFS), so they are private too."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return


def _install_sqlite_hooks(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module (it would skip it for SELECT and DDL) and set the
        # per-connection pragmas; journal_mode=WAL is persistent but cheap to assert.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        _wal_mode(cursor)
        for pragma in (f"synchronous={synchronous}", "foreign_keys=ON"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _wal_mode(cursor: sqlite3.Cursor) -> None:
    # Turning a new database to WAL takes an exclusive lock, and SQLite answers "database is
    # locked" at once, without its busy handler, while another connection is doing the same: two
    # nodes opening a new store together. Wait for it as the busy timeout would.
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _postgres_engine(url: URL) -> Engine:
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = 10  # an unreachable host fails in 10 s, not minutes
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)
