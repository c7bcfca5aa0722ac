"""Where database exceptions become lunge's: :func:`map_exceptions` (httpcore's idea).

Everything SQLAlchemy, psycopg or sqlite3 raises inside the SQL store leaves it as a
:class:`~lunge.errors.StoreError` with one readable line; nothing above ever sees ``sqlalchemy.*``.
:class:`~lunge.errors.NotFoundError` raised by the store itself passes through unchanged.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc

from lunge.errors import StoreError

__all__ = ["map_exceptions", "reason_of"]


def reason_of(exc: BaseException) -> str:
    """The first line of what the database said, without SQLAlchemy's SQL dump and links."""
    cause = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__


@contextmanager
def map_exceptions(database: str) -> Iterator[None]:
    """Turn database exceptions raised in the block into :class:`StoreError`.

    ``database`` is the masked URL: connection failures name it, so the user knows which
    database is unreachable.

    >>> with map_exceptions("sqlite:///x.db"):
    ...     raise sa_exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError("disk I/O error"))
    Traceback (most recent call last):
    ...
    lunge.errors.StoreError: database sqlite:///x.db: disk I/O error
    """
    try:
        yield
    except sa_exc.IntegrityError as exc:
        raise StoreError(f"refused by the database: {reason_of(exc)}") from exc
    except sa_exc.DBAPIError as exc:
        # Unreachable server, dropped connection, locked, unwritable or corrupt SQLite file.
        raise StoreError(f"database {database}: {reason_of(exc)}") from exc
    except sa_exc.SQLAlchemyError as exc:
        raise StoreError(f"store failed: {reason_of(exc)}") from exc
    except sqlite3.Error as exc:  # raised by the driver outside SQLAlchemy (pragmas, driver_write)
        raise StoreError(f"database {database}: {reason_of(exc)}") from exc
    except Exception as exc:
        # psycopg raises outside SQLAlchemy in driver_write; it is an optional extra, so it is only
        # looked up when loaded (then the SQLAlchemy dialect in use has imported it).
        psycopg = sys.modules.get("psycopg")
        if psycopg is None or not isinstance(exc, psycopg.Error):
            raise
        if isinstance(exc, psycopg.IntegrityError):
            raise StoreError(f"refused by the database: {reason_of(exc)}") from exc
        raise StoreError(f"database {database}: {reason_of(exc)}") from exc
