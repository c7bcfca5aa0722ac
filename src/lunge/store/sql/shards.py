"""A run's shards in SQL (API mode): created once per run, committed once each.

:meth:`Shards.complete` is the one place a shard's results reach the run: under the run's row lock
it stores the shard's test sets and findings, marks the shard done, sums every done shard's
counters into the run's, and, when no shard is left, lets the caller decide the final state. A
shard already done is left alone, so a shard tested by two nodes (its first node was thought dead)
is stored once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, func, insert, select, update

from lunge.errors import NotFoundError
from lunge.store.models import NewFinding, RunState, Shard, ShardDone, TestSet
from lunge.store.sql.engine import Database
from lunge.store.sql.findings import _row as _finding_row
from lunge.store.sql.runs import _run, _test_set_row, _upsert_test_sets
from lunge.store.sql.schema import findings, test_run_shards, test_runs

QUEUED, DONE = "queued", "done"

# Given every shard's counters (and the run), the final changes of the run (state, error, stats ...).
Conclude = Callable[[list[dict[str, Any]]], dict[str, Any]]


class Shards:
    """Shards of runs (the shard part of :class:`~lunge.store.sql.SqlStore`)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def split(self, run_id: int, ranges: Sequence[tuple[int, int]]) -> list[Shard]:
        """Create the run's shards (``ranges`` of seq, in order) unless it has them; returns them all.
        A second call (two nodes took the run) creates nothing."""
        with self._db.write() as conn:
            _lock_run(conn, run_id)
            if not conn.execute(select(test_run_shards.c.id).where(test_run_shards.c.run_id == run_id)).first():
                rows = [{"run_id": run_id, "index": i, "first_seq": lo, "last_seq": hi, "state": QUEUED,
                         "counters": {}} for i, (lo, hi) in enumerate(ranges)]
                if rows:
                    conn.execute(insert(test_run_shards), rows)
        return self.of_run(run_id)

    def of_run(self, run_id: int) -> list[Shard]:
        query = select(test_run_shards).where(test_run_shards.c.run_id == run_id).order_by(test_run_shards.c.index)
        with self._db.read() as conn:
            return [_shard(r) for r in conn.execute(query).mappings()]

    def unfinished(self, queue: str) -> list[Shard]:
        """Shards not done of the running and paused runs queued on ``queue`` (``stats.queue``)."""
        live = (RunState.RUNNING.value, RunState.PAUSED.value)
        query = (select(test_run_shards).join(test_runs, test_runs.c.id == test_run_shards.c.run_id)
                 .where(test_runs.c.state.in_(live), test_runs.c.stats["queue"].as_string() == queue,
                        test_run_shards.c.state != DONE).order_by(test_run_shards.c.id))
        with self._db.read() as conn:
            return [_shard(r) for r in conn.execute(query).mappings()]

    def get(self, shard_id: int) -> Shard:
        with self._db.read() as conn:
            row = conn.execute(select(test_run_shards).where(test_run_shards.c.id == shard_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"no shard {shard_id}")
        return _shard(row)

    def complete(self, shard_id: int, test_sets: Sequence[TestSet], new_findings: Sequence[NewFinding],
                 counters: dict[str, Any], conclude: Conclude, node_id: int | None = None,
                 final: bool = False) -> ShardDone:
        """Store the shard's results with its done mark, in one transaction (see the module).
        ``final``: the shard stopped the run (a first failure, the target gone): the run's state is
        decided now, and its other shards, seeing it finished, stop."""
        with self._db.write() as conn:
            shard = conn.execute(select(test_run_shards).where(test_run_shards.c.id == shard_id)).mappings().first()
            if shard is None:
                raise NotFoundError(f"no shard {shard_id}")
            run_id = int(shard["run_id"])
            _lock_run(conn, run_id)  # every shard of the run commits one after another, the last decides
            state = conn.execute(select(test_run_shards.c.state).where(test_run_shards.c.id == shard_id)
                                 .with_for_update()).scalar_one()
            stored = state != DONE
            if stored:
                _store_results(conn, self._db.dialect, run_id, test_sets, new_findings)
                conn.execute(update(test_run_shards).where(test_run_shards.c.id == shard_id).values(
                    state=DONE, counters=counters, node_id=node_id, done_at=datetime.now(UTC)))
            run = _sum_into_run(conn, run_id, conclude, final and stored)
            remaining = conn.execute(select(func.count()).select_from(test_run_shards).where(
                test_run_shards.c.run_id == run_id, test_run_shards.c.state != DONE)).scalar_one()
        return ShardDone(stored, run, int(remaining))


def ranges(total: int, size: int) -> list[tuple[int, int]]:
    """``total`` baselines (seq 1..total) in slices of ``size``; the last slice runs to the end of
    the record (a baseline added later still belongs to a shard).

    >>> ranges(25, 10)
    [(1, 10), (11, 20), (21, 2147483647)]
    """
    out = [(first, first + size - 1) for first in range(1, total + 1, size)]
    if out:
        out[-1] = (out[-1][0], 2**31 - 1)
    return out


def _lock_run(conn: Connection, run_id: int) -> None:
    if conn.execute(select(test_runs.c.id).where(test_runs.c.id == run_id).with_for_update()).first() is None:
        raise NotFoundError(f"no test run {run_id}")


def _store_results(conn: Connection, dialect: str, run_id: int, test_sets: Sequence[TestSet],
                   new_findings: Sequence[NewFinding]) -> None:
    """The shard's test sets, and its findings but those another shard of the run already stored
    (one finding per fingerprint and run: the passive rules find the same header on every shard)."""
    latest = {(t.run_id, t.baseline_id): t for t in test_sets}
    if latest:
        conn.execute(_upsert_test_sets(dialect), [_test_set_row(t) for t in latest.values()])
    prints = {f.fingerprint for f in new_findings}
    seen = set(conn.execute(select(findings.c.fingerprint).where(
        findings.c.run_id == run_id, findings.c.fingerprint.in_(prints))).scalars()) if prints else set()
    now, rows = datetime.now(UTC), []
    for finding in new_findings:
        if finding.fingerprint not in seen:
            seen.add(finding.fingerprint)
            rows.append(_finding_row(finding, now))
    if rows:
        conn.execute(insert(findings), rows)


def _sum_into_run(conn: Connection, run_id: int, conclude: Conclude, final: bool) -> Any:
    """The run's counters as the sum of its done shards'; its final state once no shard is left
    (and it is not finished already: interrupted through the API, or decided by an earlier commit)."""
    shards = list(conn.execute(select(test_run_shards).where(test_run_shards.c.run_id == run_id)).mappings())
    done = [dict(s["counters"]) for s in shards if s["state"] == DONE]
    row = conn.execute(select(test_runs).where(test_runs.c.id == run_id)).mappings().one()
    changes: dict[str, Any] = {
        "baselines_tested": sum(int(c.get("tested", 0)) for c in done),
        "baselines_not_tested": sum(int(c.get("not_tested", 0)) for c in done),
        "requests_sent": sum(int(c.get("requests_sent", 0)) for c in done),
        "findings_count": conn.execute(select(func.count()).select_from(findings)
                                       .where(findings.c.run_id == run_id)).scalar_one(),
    }
    finished = RunState(row["state"]).finished
    if (final or len(done) == len(shards)) and not finished:
        changes.update(conclude(done))
        changes["finished_at"] = datetime.now(UTC)
    elif len(done) == len(shards) and row["finished_at"] is None:
        changes["finished_at"] = datetime.now(UTC)
    if "state" in changes:
        changes["state"] = RunState(changes["state"]).value
    if "stats" in changes:  # kept: what the run was ordered with (stats.order)
        changes["stats"] = {**dict(row["stats"] or {}), **changes["stats"]}
    updated = conn.execute(update(test_runs).where(test_runs.c.id == run_id).values(**changes)
                           .returning(*test_runs.c)).mappings().one()
    return _run(updated, datetime.now(UTC))  # a split run holds no lease


def _shard(row: RowMapping) -> Shard:
    return Shard(id=row["id"], run_id=row["run_id"], index=row["index"], first_seq=row["first_seq"],
                 last_seq=row["last_seq"], state=row["state"], counters=dict(row["counters"] or {}),
                 node_id=row["node_id"], done_at=row["done_at"])


__all__ = ["Conclude", "Shards", "ranges"]
