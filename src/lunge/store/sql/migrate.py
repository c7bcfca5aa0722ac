"""Bringing a database to the schema this lunge knows, with Alembic but without an alembic.ini.

:func:`migrate` runs in one write transaction: PostgreSQL takes an advisory lock first and SQLite
holds its write lock (``BEGIN IMMEDIATE``), so two nodes starting together migrate once. A
database stamped with a revision this lunge does not know was written by a newer lunge: that is a
:class:`~lunge.errors.StoreError`, never a silent downgrade or a half-understood schema.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from lunge.errors import StoreError
from lunge.store.sql.engine import Database

logger = logging.getLogger(__name__)

SCRIPT_LOCATION = Path(__file__).parent / "migrations"
# Any constant works; it only has to be the same for every lunge migrating one PostgreSQL database.
_PG_LOCK_KEY = 0x6C756E6765  # "lunge"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built in code: the scripts live inside this package."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest schema revision this lunge knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise StoreError(f"no migrations found in {SCRIPT_LOCATION}: this lunge installation is broken")
    return head


def current_revision(db: Database) -> str | None:
    """The database's schema revision (None: never migrated)."""
    with db.read() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(db: Database) -> None:
    """Upgrade ``db`` to :func:`head_revision`; raise :class:`StoreError` if it is newer."""
    script = ScriptDirectory.from_config(alembic_config())
    head = head_revision()
    with db.schema_change() as conn:
        if db.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        current = MigrationContext.configure(conn).get_current_revision()
        if current == head:
            return
        known = {rev.revision for rev in script.walk_revisions()}
        if current is not None and current not in known:
            raise StoreError(
                f"database {db.label} has schema revision {current!r}, which this lunge does not know "
                f"(it knows up to {head!r}): a newer lunge wrote it; upgrade lunge or use another database"
            )
        logger.info("migrating %s from schema %s to %s", db.label, current or "(empty)", head)
        command.upgrade(alembic_config(conn), "head")
