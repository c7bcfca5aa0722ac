"""The store interface. Code above the store never knows which implementation it has.

Two implementations are planned: :class:`lunge.store.sql.SqlStore` (SQLAlchemy on a SQLite file
or PostgreSQL) and a remote one (the control plane's HTTP API). Every method is synchronous and
thread-safe; asyncio callers run them with ``asyncio.to_thread`` (or use
:class:`~lunge.store.writer.BatchWriter` for high-volume writes).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from lunge.store.models import (
    Baseline,
    Finding,
    NewBaseline,
    NewFinding,
    RunState,
    TestRecord,
    TestRun,
    TestSet,
)


class Store(Protocol):
    """Where test records, baselines, runs and findings live.

    Example::

        store = open_store("sqlite:////tmp/lunge.db")
        record = store.create_record("nightly", build_id="42")
        store.add_baselines([NewBaseline(record.id, request, response)])
        store.close_record(record.id, stats={"duplicates": 3})
        for baseline in store.iter_baselines(record.id):   # streams, constant memory
            ...
    """

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Release connections. The store is unusable afterwards."""

    # ------------------------------------------------------------------ test records
    def create_record(self, name: str, build_id: str | None = None) -> TestRecord:
        """A new record in state ``recording``."""
        ...

    def close_record(self, record_id: int, stats: dict[str, Any] | None = None) -> TestRecord:
        """Mark the record ``closed`` and keep its recording statistics (merged into ``stats``).
        Raises NotFoundError."""
        ...

    def get_record(self, record_id: int) -> TestRecord:
        """The record with this id, with its current baseline count. Raises NotFoundError."""
        ...

    def latest_record(self, build_id: str | None = None) -> TestRecord | None:
        """The newest record (of ``build_id`` when given) that has at least one baseline;
        closed records are preferred over ones still recording."""
        ...

    def list_records(self, limit: int = 100) -> list[TestRecord]:
        """Records, newest first."""
        ...

    # ------------------------------------------------------------------ baselines
    def add_baselines(self, baselines: Sequence[NewBaseline]) -> None:
        """Store baselines in one transaction; each gets the next ``seq`` of its record.
        Durable when this returns."""
        ...

    def iter_baselines(self, record_id: int, *, after_seq: int = 0) -> Iterator[Baseline]:
        """The record's baselines in ``seq`` order, fetched page by page so memory stays flat
        whatever the size of the record."""
        ...

    def get_baseline(self, baseline_id: int) -> Baseline:
        """Raises NotFoundError."""
        ...

    def count_baselines(self, record_id: int) -> int:
        ...

    # ------------------------------------------------------------------ test runs
    def create_run(self, *, name: str, record_id: int, policy_name: str, description: str = "",
                   build_id: str | None = None, target: str | None = None) -> TestRun:
        """A new run in state ``created``."""
        ...

    def update_run(self, run_id: int, **changes: Any) -> TestRun:
        """Change fields of a run (``state``, counters, ``started_at``, ``stats`` ...) and return it.
        ``stats`` is merged, not replaced. Raises NotFoundError."""
        ...

    def get_run(self, run_id: int) -> TestRun:
        """Raises NotFoundError."""
        ...

    def latest_run(self, build_id: str | None = None) -> TestRun | None:
        ...

    def list_runs(self, limit: int = 100, state: RunState | None = None) -> list[TestRun]:
        """Runs, newest first."""
        ...

    def renew_lease(self, run_id: int, owner: str, seconds: float) -> bool:
        """Lease the unfinished run to ``owner`` (its node) for ``seconds`` from when the store
        applies this, by the store's clock, never the caller's. Whether it was renewed (False: the
        run ended). Raises NotFoundError."""
        ...

    def expire_leases(self) -> list[int]:
        """Mark ``interrupted`` (for good) every run not finished whose lease (``lease_expires_at``,
        renewed by its node's heartbeat) expired; returns their ids. Readers already see such a
        run as interrupted (:meth:`TestRun.as_seen_at`); this writes it down."""
        ...

    # ------------------------------------------------------------------ results
    def add_test_sets(self, test_sets: Sequence[TestSet]) -> None:
        """Store (or replace, by run and baseline) per-baseline outcomes in one transaction."""
        ...

    def iter_test_sets(self, run_id: int) -> Iterator[TestSet]:
        ...

    def add_findings(self, findings: Sequence[NewFinding]) -> list[Finding]:
        """Store findings in one transaction; returns those stored, with ids. A run keeps one
        finding per fingerprint: one whose fingerprint the run already has (another process, the
        second-order pass, or earlier in the same batch found it first) is not stored or returned."""
        ...

    def iter_findings(self, run_id: int) -> Iterator[Finding]:
        """The run's findings, most severe first, then in the order they were found."""
        ...

    def get_finding(self, finding_id: int) -> Finding:
        """One finding by id (``lunge reproduce``). Raises NotFoundError."""
        ...
