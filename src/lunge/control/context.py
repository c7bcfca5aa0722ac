"""The control plane's state for one server process: the store, the projects aggregate, the
configuration and the failed-auth limiter, opened (and migrated) once at start."""

from __future__ import annotations

from dataclasses import dataclass, field

from lunge.control.config import ControlConfig
from lunge.control.security import AuthLimiter
from lunge.store.sql import SqlStore
from lunge.store.sql.engine import connect
from lunge.store.sql.migrate import migrate
from lunge.store.sql.projects import Projects


@dataclass(slots=True)
class Control:
    """Everything a request handler may reach (``request.app.state.control``)."""

    config: ControlConfig
    store: SqlStore
    projects: Projects
    limiter: AuthLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.limiter = AuthLimiter(self.config.auth_failures, self.config.auth_window_s)

    def close(self) -> None:
        self.store.close()


def open_control(config: ControlConfig) -> Control:
    """Connect to ``config.db_url`` and bring its schema to this lunge's head (Alembic)."""
    db = connect(config.db_url)
    try:
        migrate(db)
    except BaseException:
        db.close()
        raise
    return Control(config, SqlStore(db), Projects(db))


def upgrade_database(db_url: str) -> str:
    """``lunge db upgrade``: migrate the database to head; returns its masked URL."""
    db = connect(db_url)
    try:
        migrate(db)
        return db.label
    finally:
        db.close()
