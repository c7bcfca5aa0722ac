"""The test-record aggregate: test records and their baselines.

A record's ``baseline_count`` column doubles as its ``seq`` allocator: :meth:`Records.add_baselines`
bumps it with ``UPDATE ... RETURNING`` in the transaction that inserts the baselines, which locks
the record's row on PostgreSQL (SQLite serialises writers anyway), so two writers adding to one
record get disjoint, gap-free ranges and seq order is commit order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Dialect, RowMapping, Select, bindparam, case, insert, select, update

from lunge.errors import NotFoundError
from lunge.store.models import Baseline, NewBaseline, RecordState, TestRecord
from lunge.store.sql.bulk import BulkInsert
from lunge.store.sql.codec import BASELINE_COLUMNS, baseline_from_row, baseline_row
from lunge.store.sql.engine import PAGE_SIZE, Database
from lunge.store.sql.schema import baselines, test_records


class Records:
    """Test records and baselines in SQL (the record half of :class:`~lunge.store.sql.SqlStore`)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._insert_baselines = BulkInsert(baselines, BASELINE_COLUMNS, db.engine.dialect)
        self._allocate_seqs = _SeqAllocator(db.engine.dialect)

    # ------------------------------------------------------------------ test records
    def create_record(self, name: str, build_id: str | None = None) -> TestRecord:
        now = datetime.now(UTC)
        values: dict[str, Any] = {"name": name, "build_id": build_id, "state": RecordState.RECORDING.value,
                                  "created_at": now, "closed_at": None, "baseline_count": 0, "stats": {}}
        with self._db.write() as conn:
            row = conn.execute(insert(test_records).values(values).returning(*test_records.c)).mappings().one()
        return _record(row)

    def close_record(self, record_id: int, stats: dict[str, Any] | None = None) -> TestRecord:
        with self._db.write() as conn:
            current = _lock_record(conn, record_id)
            merged = {**current["stats"], **(stats or {})}
            row = conn.execute(
                update(test_records)
                .where(test_records.c.id == record_id)
                .values(state=RecordState.CLOSED.value, stats=merged,
                        closed_at=current["closed_at"] or datetime.now(UTC))
                .returning(*test_records.c)
            ).mappings().one()
        return _record(row)

    def get_record(self, record_id: int) -> TestRecord:
        with self._db.read() as conn:
            row = conn.execute(select(test_records).where(test_records.c.id == record_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"no test record {record_id}")
        return _record(row)

    def latest_record(self, build_id: str | None = None) -> TestRecord | None:
        closed_first = case((test_records.c.state == RecordState.CLOSED.value, 0), else_=1)
        query = select(test_records).where(test_records.c.baseline_count > 0)
        if build_id is not None:
            query = query.where(test_records.c.build_id == build_id)
        query = query.order_by(closed_first, test_records.c.id.desc()).limit(1)
        with self._db.read() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _record(row)

    def list_records(self, limit: int = 100) -> list[TestRecord]:
        query = select(test_records).order_by(test_records.c.id.desc()).limit(limit)
        with self._db.read() as conn:
            return [_record(row) for row in conn.execute(query).mappings()]

    # ------------------------------------------------------------------ baselines
    def add_baselines(self, items: Sequence[NewBaseline]) -> None:
        if not items:
            return
        by_record: dict[int, list[NewBaseline]] = defaultdict(list)
        for item in items:
            by_record[item.record_id].append(item)
        now = datetime.now(UTC)
        with self._db.driver_write() as cursor:
            rows: list[dict[str, Any]] = []
            # Sorted, so two writers that both touch records 3 and 7 lock them in the same order.
            for record_id in sorted(by_record):
                group = by_record[record_id]
                first = self._allocate_seqs(cursor, record_id, len(group))
                rows.extend(baseline_row(item, first + i, now) for i, item in enumerate(group))
            self._insert_baselines.execute(cursor, rows)

    def iter_baselines(self, record_id: int, *, after_seq: int = 0) -> Iterator[Baseline]:
        def page(last: int | None) -> Select[Any]:
            start = after_seq if last is None else last
            return (select(baselines)
                    .where(baselines.c.record_id == record_id, baselines.c.seq > start)
                    .order_by(baselines.c.seq).limit(PAGE_SIZE))

        empty = True
        for row in self._db.stream(page, lambda row: int(row["seq"])):
            empty = False
            yield baseline_from_row(row)
        if empty:
            self.get_record(record_id)  # an unknown record is an error, an empty one is not

    def get_baseline(self, baseline_id: int) -> Baseline:
        with self._db.read() as conn:
            row = conn.execute(select(baselines).where(baselines.c.id == baseline_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"no baseline {baseline_id}")
        return baseline_from_row(row)

    def count_baselines(self, record_id: int) -> int:
        return self.get_record(record_id).baseline_count


class _SeqAllocator:
    """``UPDATE test_records SET baseline_count = baseline_count + n ... RETURNING``, compiled once
    for the dialect and run on a bare driver cursor."""

    def __init__(self, dialect: Dialect) -> None:
        statement = (update(test_records)
                     .where(test_records.c.id == bindparam("record_id"))
                     .values(baseline_count=test_records.c.baseline_count + bindparam("count"))
                     .returning(test_records.c.baseline_count))
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self._order = list(compiled.positiontup or ()) if compiled.positional else None

    def __call__(self, cursor: Any, record_id: int, count: int) -> int:
        """Reserve ``count`` seqs of the record (locking its row until commit); the first one."""
        values = {"record_id": record_id, "count": count}
        cursor.execute(self.sql, tuple(values[name] for name in self._order) if self._order is not None else values)
        row = cursor.fetchone()
        if row is None:
            raise NotFoundError(f"no test record {record_id} to add baselines to")
        return int(row[0]) - count + 1


def _lock_record(conn: Connection, record_id: int) -> RowMapping:
    row = conn.execute(
        select(test_records).where(test_records.c.id == record_id).with_for_update()
    ).mappings().first()
    if row is None:
        raise NotFoundError(f"no test record {record_id}")
    return row


def _record(row: RowMapping) -> TestRecord:
    return TestRecord(
        id=row["id"],
        name=row["name"],
        build_id=row["build_id"],
        state=RecordState(row["state"]),
        created_at=row["created_at"],
        closed_at=row["closed_at"],
        baseline_count=row["baseline_count"],
        stats=dict(row["stats"] or {}),
    )
