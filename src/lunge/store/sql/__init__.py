"""The SQL store: SQLAlchemy 2 on a SQLite file or PostgreSQL (psycopg 3), one schema for both,
migrated by Alembic from inside this package.

Durability: **a committed write survives a kill of lunge** (SIGKILL, OOM, a crash) on either
backend: once :meth:`~lunge.store.base.Store.add_baselines` returns, the rows are in the database.
SQLite runs in WAL mode with ``synchronous=NORMAL``: a commit has reached the WAL file in the
operating system when it returns, so only an OS crash or a power loss can take back the last
commits. Where that matters, ask for ``synchronous=FULL`` in the URL
(``LUNGE_DB=sqlite:////data/lunge.db?synchronous=full``): every commit then waits for the disk
(about 7x fewer single-row commits per second). PostgreSQL keeps its server's settings
(``fsync=on``, ``synchronous_commit=on`` by default: durable against power loss).

Layout, one module per concern: :mod:`.engine` (URL, engine, transactions), :mod:`.errors`
(``map_exceptions``: nothing above sees ``sqlalchemy.*``), :mod:`.schema` and :mod:`.columns`,
:mod:`.codec` (byte-faithful requests and responses), :mod:`.migrate` and ``migrations/``, and one
module per aggregate (:mod:`.records`, :mod:`.runs`, :mod:`.findings`) composed by :mod:`.store`;
:mod:`.jobqueue` (pgqueuer, the API mode's shard jobs: imported only where used, it comes with the
``postgres`` extra).

May import: :mod:`lunge.http`, :mod:`lunge.store.models` and :mod:`lunge.store.base`,
:mod:`lunge.errors`; SQLAlchemy, Alembic and the drivers are imported here and nowhere else.
"""

from __future__ import annotations

import logging

from lunge.errors import StoreError, StoreUnavailableError
from lunge.store.base import Store
from lunge.store.sql.engine import connect
from lunge.store.sql.migrate import migrate
from lunge.store.sql.store import SqlStore

__all__ = ["SqlStore", "open_store"]

logger = logging.getLogger(__name__)


def open_store(url: str) -> Store:
    """A ready store on the database at ``url``: the SQLite file's directory created, the schema
    migrated to the newest revision this lunge knows.

    ``url`` is a SQLAlchemy URL: ``sqlite:///relative.db``, ``sqlite:////abs/lunge.db`` (with
    ``?synchronous=full`` for durability against power loss) or
    ``postgresql+psycopg://user:password@host:5432/db`` (``postgresql://`` means the same).

    Raises :class:`~lunge.errors.SettingError` for a URL lunge cannot use and
    :class:`~lunge.errors.StoreUnavailableError` (a StoreError and a ConfigError: exit 2) when the
    database is unreachable or not a database (the message names the URL, password masked) or its
    schema is newer than this lunge.

    >>> import tempfile, pathlib
    >>> store = open_store(f"sqlite:///{pathlib.Path(tempfile.mkdtemp()) / 'sub' / 'lunge.db'}")
    >>> store.create_record("nightly", build_id="42").label
    'rec_0001'
    >>> store.close()
    """
    try:
        db = connect(url)
    except StoreUnavailableError:
        raise
    except StoreError as exc:
        raise StoreUnavailableError(f"LUNGE_DB: {exc}") from exc
    try:
        migrate(db)
    except StoreError as exc:
        db.close()
        if isinstance(exc, StoreUnavailableError):
            raise
        raise StoreUnavailableError(f"LUNGE_DB: {exc}") from exc
    except BaseException:
        db.close()
        raise
    logger.debug("store ready at %s", db.label)
    return SqlStore(db)
