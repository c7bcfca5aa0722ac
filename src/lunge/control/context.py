"""The control plane's state for one server process: the store, the projects aggregate, the
configuration and the failed-auth limiter, opened (and migrated) once at start."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lunge.control.config import ControlConfig
from lunge.control.progress import RunRates
from lunge.control.security import AuthLimiter
from lunge.policy import TestPolicy
from lunge.store.sql import SqlStore
from lunge.store.sql.engine import connect
from lunge.store.sql.migrate import migrate
from lunge.store.sql.projects import Projects

if TYPE_CHECKING:  # psycopg is the postgres extra's: imported when a broker first needs it
    from lunge.store.sql.jobqueue import QueuePool

# A run's final changes (state, error, stats) from its policy, its done shards' counters and the
# label of the run it is compared with (fail_on: new): the engine's verdict
# (``lunge.node.shards.conclude``), handed in by ``lunge serve`` because the control plane imports
# no engine (pyproject's import contracts).
Verdict = Callable[[TestPolicy, list[dict[str, Any]], str | None], dict[str, Any]]


@dataclass(slots=True)
class Control:
    """Everything a request handler may reach (``request.app.state.control``). With a ``verdict``
    on PostgreSQL the control plane splits the runs it hands out and brokers their shard jobs."""

    config: ControlConfig
    store: SqlStore
    projects: Projects
    verdict: Verdict | None = None
    limiter: AuthLimiter = field(init=False)
    jobs_installed: bool = field(default=False, init=False)  # pgqueuer's tables are there (this process knows)
    swept: dict[str, float] = field(default_factory=dict, init=False)  # queue -> when its lost shards were requeued
    rates: RunRates = field(default_factory=RunRates, init=False)  # runs' request counts as read (current_rps)
    job_pool: QueuePool | None = field(default=None, init=False)  # the broker's connections (PostgreSQL)
    # Monotonic time before which lapsed leases are not written down (the reaper's grace, app.py):
    # set at start-up and after a sweep that failed, honoured by the reaper and the store API alike.
    reap_quiet_until: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self.limiter = AuthLimiter(self.config.auth_failures, self.config.auth_window_s)

    def close(self) -> None:
        self.store.close()


def open_control(config: ControlConfig, verdict: Verdict | None = None) -> Control:
    """Connect to ``config.db_url`` and bring its schema to this lunge's head (Alembic)."""
    db = connect(config.db_url)
    try:
        migrate(db)
    except BaseException:
        db.close()
        raise
    return Control(config, SqlStore(db), Projects(db), verdict)


def upgrade_database(db_url: str) -> str:
    """``lunge db upgrade``: migrate the database to head; returns its masked URL."""
    db = connect(db_url)
    try:
        migrate(db)
        return db.label
    finally:
        db.close()
