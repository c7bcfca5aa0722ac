"""The demo shop's SQLite database: schema, seed data, and queries run off the event loop.

Every query opens its own connection in a worker thread, so a query that sleeps (a time-based
injection) delays only its own request, never the rest of the application. The connection carries a
``sleep(seconds)`` SQL function, MySQL's ``SLEEP``: time-based payloads need one, and SQLite has
none built in.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
Row = tuple[Any, ...]

MAX_SLEEP = 10.0  # seconds: one query never sleeps longer, whatever it asks for
# Bytes in one string or blob. SQLite's own time payloads build huge blobs (RANDOMBLOB(5e8)) to keep
# the CPU busy; on the demo they fail fast ("string or blob too big") instead of eating memory.
MAX_LENGTH = 10_000_000
PBKDF2_ROUNDS = 1000  # a demo: cheap enough that attacks on the login stay fast

# What a failed query raises: SQL errors, and ValueError for text SQLite refuses (NUL, surrogates).
DB_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, ValueError)

SCHEMA = """
CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE NOT NULL, display_name TEXT NOT NULL,
                    email TEXT NOT NULL, bio TEXT NOT NULL, salt TEXT NOT NULL, password_hash TEXT NOT NULL);
CREATE TABLE sessions (token TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id));
CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL NOT NULL, description TEXT NOT NULL);
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, email TEXT NOT NULL);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),
                     total REAL NOT NULL);
CREATE TABLE tenants (slug TEXT PRIMARY KEY, name TEXT NOT NULL, plan TEXT NOT NULL);
CREATE TABLE languages (code TEXT PRIMARY KEY, label TEXT NOT NULL);
CREATE TABLE comments (id INTEGER PRIMARY KEY, board TEXT NOT NULL, text TEXT NOT NULL);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

USERS = (  # username, display name, email, bio, password
    ("alice", "Alice Liddell", "alice@example.com", "Curious about rabbit holes.", "wonderland"),
    ("bob", "Bob Builder", "bob@example.com", "Can we fix it? Yes we can.", "builder"),
    ("carol", "Carol Danvers", "carol@example.com", "Higher, further, faster.", "marvel"),
)
PRODUCTS = (
    ("Widget", 9.99, "A small widget for everyday use."),
    ("Gadget", 24.5, "A gadget with three buttons."),
    ("Widget Pro", 49.0, "The widget, with a warranty."),
    ("Doohickey", 3.25, "Nobody knows what it does."),
)
CUSTOMERS = (("alice", "alice@example.com"), ("bob", "bob@example.com"), ("dave", "dave@example.com"))
ORDERS = ((1, 19.98), (1, 49.0), (2, 3.25), (3, 24.5))
TENANTS = (("acme", "Acme Corporation", "gold"), ("globex", "Globex", "silver"), ("initech", "Initech", "free"))
LANGUAGES = (("en", "English"), ("fr", "Français"), ("de", "Deutsch"))
COMMENTS = (("open", "Fast delivery, thanks!"), ("open", "The widget broke after a week."),
            ("safe", "Fast delivery, thanks!"), ("safe", "The widget broke after a week."))


def password_hash(password: str, salt: str) -> str:
    """PBKDF2-SHA256 of ``password`` (hex).

    >>> len(password_hash("wonderland", "00"))
    64
    """
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8", "replace"), bytes.fromhex(salt),
                               PBKDF2_ROUNDS).hex()


def connect(path: Path) -> sqlite3.Connection:
    """A connection with the ``sleep`` function registered and strings bounded (:data:`MAX_LENGTH`)."""
    conn = sqlite3.connect(path, timeout=10.0)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_LENGTH)
    conn.create_function("sleep", 1, _sleeper())
    return conn


def _sleeper() -> Callable[[Any], int]:
    """``sleep(seconds)`` for one connection (so for one query): sleeps at most :data:`MAX_SLEEP`,
    and only on its first call, so a condition evaluated once per row delays the query once, as
    MySQL's ``SLEEP`` in a sub-select does. Returns 0 like ``SLEEP``."""
    slept = False

    def sleep(seconds: Any) -> int:
        nonlocal slept
        try:
            delay = min(max(float(seconds), 0.0), MAX_SLEEP)
        except (TypeError, ValueError):
            return 0
        if delay > 0 and not slept:
            slept = True
            time.sleep(delay)
        return 0

    return sleep


def create(path: Path) -> None:
    """Create and seed the database at ``path`` unless it already holds the schema."""
    with closing(sqlite3.connect(path)) as conn:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'users'").fetchone():
            return
        conn.execute("PRAGMA journal_mode=WAL")  # readers never wait for the comment writers
        conn.executescript(SCHEMA)
        _seed(conn)
        conn.commit()
    logger.debug("seeded the demo database at %s", path)


def _seed(conn: sqlite3.Connection) -> None:
    for username, display, email, bio, password in USERS:
        salt = secrets.token_hex(8)
        conn.execute("INSERT INTO users (username, display_name, email, bio, salt, password_hash) "
                     "VALUES (?, ?, ?, ?, ?, ?)", (username, display, email, bio, salt, password_hash(password, salt)))
    conn.executemany("INSERT INTO products (name, price, description) VALUES (?, ?, ?)", PRODUCTS)
    conn.executemany("INSERT INTO customers (name, email) VALUES (?, ?)", CUSTOMERS)
    conn.executemany("INSERT INTO orders (customer_id, total) VALUES (?, ?)", ORDERS)
    conn.executemany("INSERT INTO tenants (slug, name, plan) VALUES (?, ?, ?)", TENANTS)
    conn.executemany("INSERT INTO languages (code, label) VALUES (?, ?)", LANGUAGES)
    conn.executemany("INSERT INTO comments (board, text) VALUES (?, ?)", COMMENTS)
    conn.execute("INSERT INTO settings (key, value) VALUES ('jwt_secret', ?)", (secrets.token_hex(32),))


@dataclass(slots=True)
class Database:
    """The demo database at ``path``; queries run in ``pool`` (see the module docstring)."""

    path: Path
    pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=32, thread_name_prefix="lunge-demo-db")
    )

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """All rows of one statement. Raises one of :data:`DB_ERRORS` when it fails."""
        return await self.call(lambda conn: conn.execute(sql, params).fetchall())

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement that writes, and commit."""

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(sql, params)
            conn.commit()

        await self.call(write)

    async def call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` with a fresh connection in the worker pool."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, self._with_connection, work)

    def _with_connection(self, work: Callable[[sqlite3.Connection], T]) -> T:
        with closing(connect(self.path)) as conn:
            return work(conn)

    def close(self) -> None:
        """Stop the worker pool; a query still sleeping finishes on its own."""
        self.pool.shutdown(wait=False, cancel_futures=True)
