"""The test-run aggregate: test runs and their test sets (one outcome per baseline).

:meth:`Runs.update_run` changes columns in place; ``stats`` is merged key by key into the stored
JSON under the run's row lock, so two updaters never lose each other's keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Insert, RowMapping, Select, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from lunge.errors import NotFoundError
from lunge.store.models import RunState, TestRun, TestSet, TestSetStatus, TestSetTotals
from lunge.store.sql.engine import PAGE_SIZE, Database
from lunge.store.sql.schema import test_records, test_runs, test_sets

# The fields update_run may change, with the conversion each value goes through.
_UPDATABLE: dict[str, Callable[[Any], Any]] = {
    "name": str, "description": str, "policy_name": str, "build_id": lambda v: v, "target": lambda v: v,
    "state": lambda v: RunState(v).value, "error": lambda v: None if v is None else str(v),
    "started_at": lambda v: v, "finished_at": lambda v: v,
    "requests_sent": int, "baselines_total": int, "baselines_tested": int, "baselines_not_tested": int,
    "findings_count": int, "lease_owner": lambda v: v, "lease_expires_at": lambda v: v,
}
_UNFINISHED = (RunState.CREATED.value, RunState.RUNNING.value, RunState.PAUSED.value)


class Runs:
    """Test runs and test sets in SQL (the run half of :class:`~lunge.store.sql.SqlStore`)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # ------------------------------------------------------------------ test runs
    def create_run(self, *, name: str, record_id: int, policy_name: str, description: str = "",
                   build_id: str | None = None, target: str | None = None) -> TestRun:
        values = {"name": name, "description": description, "record_id": record_id, "policy_name": policy_name,
                  "state": RunState.CREATED.value, "created_at": datetime.now(UTC), "build_id": build_id,
                  "target": target, "requests_sent": 0, "baselines_total": 0, "baselines_tested": 0,
                  "baselines_not_tested": 0, "findings_count": 0, "error": None, "stats": {}}
        with self._db.write() as conn:
            if conn.execute(select(test_records.c.id).where(test_records.c.id == record_id)).first() is None:
                raise NotFoundError(f"no test record {record_id} to create a run for")
            row = conn.execute(insert(test_runs).values(values).returning(*test_runs.c)).mappings().one()
        return _run(row, self._db.now())

    def update_run(self, run_id: int, **changes: Any) -> TestRun:
        values = _column_values(changes)
        with self._db.write() as conn:
            if "stats" in changes:
                values["stats"] = {**_locked_stats(conn, run_id), **dict(changes["stats"] or {})}
            query = update(test_runs).where(test_runs.c.id == run_id)
            if values:
                query = query.values(values)
            else:  # nothing to change: still answer with the run (or NotFoundError)
                query = query.values(id=test_runs.c.id)
            row = conn.execute(query.returning(*test_runs.c)).mappings().first()
        if row is None:
            raise NotFoundError(f"no test run {run_id}")
        return _run(row, self._db.now())

    def get_run(self, run_id: int) -> TestRun:
        with self._db.read() as conn:
            row = conn.execute(select(test_runs).where(test_runs.c.id == run_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"no test run {run_id}")
        return _run(row, self._db.now())

    def latest_run(self, build_id: str | None = None) -> TestRun | None:
        query = select(test_runs).order_by(test_runs.c.id.desc()).limit(1)
        if build_id is not None:
            query = query.where(test_runs.c.build_id == build_id)
        with self._db.read() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _run(row, self._db.now())

    def list_runs(self, limit: int = 100, state: RunState | None = None) -> list[TestRun]:
        query = select(test_runs).order_by(test_runs.c.id.desc()).limit(limit)
        if state is not None:
            query = query.where(test_runs.c.state == RunState(state).value)
        now = self._db.now()
        with self._db.read() as conn:
            return [_run(row, now) for row in conn.execute(query).mappings()]

    def renew_lease(self, run_id: int, owner: str, seconds: float) -> bool:
        """Lease the run to ``owner`` until ``seconds`` from now by the database's clock (the time
        the renewal lands, not the time it was sent: a renewal that waited out an outage still
        holds). Whether it was renewed: a finished run is left alone; an unknown one is a NotFoundError."""
        expires = self._db.now() + timedelta(seconds=seconds)
        with self._db.write() as conn:
            found = conn.execute(update(test_runs).where(test_runs.c.id == run_id, test_runs.c.state.in_(_UNFINISHED))
                                 .values(lease_owner=owner, lease_expires_at=expires).returning(test_runs.c.id)).first()
            if found is None and conn.execute(select(test_runs.c.id).where(test_runs.c.id == run_id)).first() is None:
                raise NotFoundError(f"no test run {run_id}")
        return found is not None

    def lapsed_leases(self, project_id: int | None = None) -> list[int]:
        """The unfinished runs (of ``project_id``, or of every project) whose lease expired by the
        database's clock, not yet written down: what :meth:`expire_leases` would mark."""
        query = select(test_runs.c.id).where(_lapsed_at(self._db.now(), project_id)).order_by(test_runs.c.id)
        with self._db.read() as conn:
            return [int(run_id) for run_id in conn.execute(query).scalars()]

    def expire_leases(self, run_id: int | None = None) -> list[int]:
        """Mark ``interrupted`` every unfinished run (only ``run_id`` when given) whose lease expired
        by the database's clock; returns their ids. The rows are locked: a renewal that lands
        meanwhile waits, then finds the run interrupted."""
        now = self._db.now()
        expired = _lapsed_at(now, None)
        if run_id is not None:
            expired &= test_runs.c.id == run_id
        with self._db.write() as conn:
            rows = conn.execute(select(test_runs).where(expired).order_by(test_runs.c.id).with_for_update()
                                ).mappings().all()
            for row in rows:
                seen = _run(row, now)
                conn.execute(update(test_runs).where(test_runs.c.id == seen.id).values(
                    state=seen.state.value, error=seen.error, finished_at=seen.finished_at, lease_expires_at=None))
        return [int(row["id"]) for row in rows]

    # ------------------------------------------------------------------ test sets
    def add_test_sets(self, items: Sequence[TestSet]) -> None:
        # The last outcome of a (run, baseline) wins, inside the batch as across batches.
        latest = {(item.run_id, item.baseline_id): item for item in items}
        if not latest:
            return
        rows = [_test_set_row(item) for item in latest.values()]
        with self._db.write() as conn:
            conn.execute(_upsert_test_sets(self._db.dialect), rows)

    def test_set_totals(self, run_id: int) -> TestSetTotals:
        skipped = test_sets.c.status == TestSetStatus.NOT_TESTED.value
        query = select(func.count().filter(~skipped), func.count().filter(skipped),
                       func.coalesce(func.sum(test_sets.c.requests_sent), 0)).where(test_sets.c.run_id == run_id)
        with self._db.read() as conn:
            tested, not_tested, sent = conn.execute(query).one()
        return TestSetTotals(int(tested), int(not_tested), int(sent))

    def iter_test_sets(self, run_id: int) -> Iterator[TestSet]:
        def page(last: int | None) -> Select[Any]:
            query = select(test_sets).where(test_sets.c.run_id == run_id)
            if last is not None:
                query = query.where(test_sets.c.baseline_id > last)
            return query.order_by(test_sets.c.baseline_id).limit(PAGE_SIZE)

        for row in self._db.stream(page, lambda row: int(row["baseline_id"])):
            yield _test_set(row)


def _column_values(changes: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(changes) - set(_UPDATABLE) - {"stats"})
    if unknown:
        raise TypeError(f"update_run() cannot change {', '.join(unknown)}; it changes {', '.join(sorted(_UPDATABLE))}"
                        " and stats")
    return {name: _UPDATABLE[name](value) for name, value in changes.items() if name != "stats"}


def _locked_stats(conn: Connection, run_id: int) -> dict[str, Any]:
    row = conn.execute(select(test_runs.c.stats).where(test_runs.c.id == run_id).with_for_update()).first()
    if row is None:
        raise NotFoundError(f"no test run {run_id}")
    return dict(row[0] or {})


def _upsert_test_sets(dialect: str) -> Insert:
    stmt = postgresql.insert(test_sets) if dialect == "postgresql" else sqlite.insert(test_sets)
    keys = {"run_id", "baseline_id"}
    changed = {col.name: stmt.excluded[col.name] for col in test_sets.c if col.name not in keys}
    return stmt.on_conflict_do_update(index_elements=sorted(keys), set_=changed)


def _test_set_row(item: TestSet) -> dict[str, Any]:
    return {"run_id": item.run_id, "baseline_id": item.baseline_id, "status": TestSetStatus(item.status).value,
            "reason": item.reason, "requests_sent": item.requests_sent, "findings_count": item.findings_count,
            "points_tested": item.points_tested}


def _lapsed_at(now: datetime, project_id: int | None) -> ColumnElement[bool]:
    lapsed = test_runs.c.state.in_(_UNFINISHED) & (test_runs.c.lease_expires_at < now)
    return lapsed if project_id is None else lapsed & (test_runs.c.project_id == project_id)


def _test_set(row: RowMapping) -> TestSet:
    return TestSet(run_id=row["run_id"], baseline_id=row["baseline_id"], status=TestSetStatus(row["status"]),
                   reason=row["reason"], requests_sent=row["requests_sent"], findings_count=row["findings_count"],
                   points_tested=row["points_tested"])


def _run(row: RowMapping, now: datetime) -> TestRun:
    """A row as every reader must see it at ``now`` (the database's clock, :meth:`Database.now`):
    an abandoned run (lease expired) is ``interrupted``."""
    fields = {name: row[name] for name in TestRun.__dataclass_fields__ if name not in ("state", "stats")}
    run = TestRun(**fields, state=RunState(row["state"]), stats=dict(row["stats"] or {}))
    return run.as_seen_at(now)
