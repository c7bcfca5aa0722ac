""":class:`SqlStore`: the :class:`~lunge.store.base.Store` protocol on SQL, composed of one part
per aggregate (:mod:`.records`, :mod:`.runs`, :mod:`.findings`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from lunge.store.models import (
    Baseline,
    Finding,
    NewBaseline,
    NewFinding,
    RunState,
    TestRecord,
    TestRun,
    TestSet,
    TestSetTotals,
)
from lunge.store.sql.engine import Database
from lunge.store.sql.findings import Findings
from lunge.store.sql.records import Records
from lunge.store.sql.runs import Runs
from lunge.store.sql.shards import Shards


class SqlStore:
    """The store on SQLite or PostgreSQL. Build it with :func:`lunge.store.sql.open_store`, which
    migrates the schema first. Thread-safe: every method runs in its own short transaction on a
    pooled connection. The methods are documented on :class:`~lunge.store.base.Store`.

    Example::

        store = open_store("sqlite:////tmp/lunge.db")
        record = store.create_record("nightly", build_id="42")
        store.add_baselines([NewBaseline(record.id, request, response)])
        assert [b.seq for b in store.iter_baselines(record.id)] == [1]
        store.close()
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._records = Records(db)
        self._runs = Runs(db)
        self._findings = Findings(db)
        self.shards = Shards(db)  # API mode: a run split across nodes (not in the Store protocol)

    def __repr__(self) -> str:
        return f"SqlStore({self.db.label!r})"

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Release connections. The store is unusable afterwards."""
        self.db.close()

    # ------------------------------------------------------------------ test records
    def create_record(self, name: str, build_id: str | None = None) -> TestRecord:
        return self._records.create_record(name, build_id)

    def close_record(self, record_id: int, stats: dict[str, Any] | None = None) -> TestRecord:
        return self._records.close_record(record_id, stats)

    def get_record(self, record_id: int) -> TestRecord:
        return self._records.get_record(record_id)

    def latest_record(self, build_id: str | None = None) -> TestRecord | None:
        return self._records.latest_record(build_id)

    def list_records(self, limit: int = 100) -> list[TestRecord]:
        return self._records.list_records(limit)

    # ------------------------------------------------------------------ baselines
    def add_baselines(self, baselines: Sequence[NewBaseline]) -> None:
        self._records.add_baselines(baselines)

    def iter_baselines(self, record_id: int, *, after_seq: int = 0) -> Iterator[Baseline]:
        return self._records.iter_baselines(record_id, after_seq=after_seq)

    def get_baseline(self, baseline_id: int) -> Baseline:
        return self._records.get_baseline(baseline_id)

    def count_baselines(self, record_id: int) -> int:
        """The record's number of baselines. Raises NotFoundError for an unknown record."""
        return self._records.count_baselines(record_id)

    # ------------------------------------------------------------------ test runs
    def create_run(self, *, name: str, record_id: int, policy_name: str, description: str = "",
                   build_id: str | None = None, target: str | None = None) -> TestRun:
        """A new run in state ``created``. Raises NotFoundError for an unknown record."""
        return self._runs.create_run(name=name, record_id=record_id, policy_name=policy_name,
                                     description=description, build_id=build_id, target=target)

    def update_run(self, run_id: int, **changes: Any) -> TestRun:
        """Change fields of a run; ``stats`` is merged key by key (a key given replaces the stored
        one, others stay). An unknown field name is a TypeError. Raises NotFoundError."""
        return self._runs.update_run(run_id, **changes)

    def get_run(self, run_id: int) -> TestRun:
        return self._runs.get_run(run_id)

    def latest_run(self, build_id: str | None = None) -> TestRun | None:
        return self._runs.latest_run(build_id)

    def list_runs(self, limit: int = 100, state: RunState | None = None) -> list[TestRun]:
        return self._runs.list_runs(limit, state)

    def renew_lease(self, run_id: int, owner: str, seconds: float) -> bool:
        return self._runs.renew_lease(run_id, owner, seconds)

    def lapsed_leases(self, project_id: int | None = None) -> list[int]:
        """The runs :meth:`expire_leases` would mark now (of ``project_id`` when given)."""
        return self._runs.lapsed_leases(project_id)

    def expire_leases(self, run_id: int | None = None) -> list[int]:
        """As the protocol's; ``run_id``: that run only (the reaper's one transaction per run)."""
        return self._runs.expire_leases(run_id)

    # ------------------------------------------------------------------ results
    def add_test_sets(self, test_sets: Sequence[TestSet]) -> None:
        self._runs.add_test_sets(test_sets)

    def iter_test_sets(self, run_id: int) -> Iterator[TestSet]:
        """The run's test sets by baseline id, streamed page by page."""
        return self._runs.iter_test_sets(run_id)

    def test_set_totals(self, run_id: int) -> TestSetTotals:
        """The run's test sets stored so far, summed (the control plane's live counters; not in the
        Store protocol)."""
        return self._runs.test_set_totals(run_id)

    def add_findings(self, findings: Sequence[NewFinding]) -> list[Finding]:
        return self._findings.add_findings(findings)

    def iter_findings(self, run_id: int) -> Iterator[Finding]:
        return self._findings.iter_findings(run_id)

    def get_finding(self, finding_id: int) -> Finding:
        """Raises NotFoundError."""
        return self._findings.get_finding(finding_id)
