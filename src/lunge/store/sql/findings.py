"""The finding aggregate: confirmed vulnerabilities of a run, most severe first."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import RowMapping, Select, and_, insert, or_, select

from lunge.errors import NotFoundError
from lunge.store.models import Confidence, Finding, NewFinding, Severity
from lunge.store.sql.engine import PAGE_SIZE, Database
from lunge.store.sql.schema import findings

_NEW_FIELDS = tuple(field.name for field in dataclasses.fields(NewFinding))


class Findings:
    """Findings in SQL (the finding part of :class:`~lunge.store.sql.SqlStore`)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add_findings(self, items: Sequence[NewFinding]) -> list[Finding]:
        if not items:
            return []
        now = datetime.now(UTC)
        rows = [_row(item, now) for item in items]
        # sort_by_parameter_order: ids come back in the order of ``items``, even when the driver
        # splits the batch (insertmanyvalues).
        stmt = insert(findings).returning(findings.c.id, sort_by_parameter_order=True)
        with self._db.write() as conn:
            ids = [int(row.id) for row in conn.execute(stmt, rows)]
        return [_stored(item, id_, now) for item, id_ in zip(items, ids, strict=True)]

    def get_finding(self, finding_id: int) -> Finding:
        with self._db.read() as conn:
            row = conn.execute(select(findings).where(findings.c.id == finding_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"no finding fnd_{finding_id}")
        return _finding(row)

    def iter_findings(self, run_id: int) -> Iterator[Finding]:
        rank, id_ = findings.c.severity_rank, findings.c.id

        def page(last: tuple[int, int] | None) -> Select[Any]:
            query = select(findings).where(findings.c.run_id == run_id)
            if last is not None:  # after (rank, id) in "rank descending, id ascending" order
                query = query.where(or_(rank < last[0], and_(rank == last[0], id_ > last[1])))
            return query.order_by(rank.desc(), id_).limit(PAGE_SIZE)

        for row in self._db.stream(page, lambda row: (int(row["severity_rank"]), int(row["id"]))):
            yield _finding(row)


def _row(item: NewFinding, now: datetime) -> dict[str, Any]:
    row = {name: getattr(item, name) for name in _NEW_FIELDS}
    severity = Severity(item.severity)
    row.update(severity=severity.value, severity_rank=severity.rank, confidence=Confidence(item.confidence).value,
               created_at=now)
    return row


def _stored(item: NewFinding, id_: int, now: datetime) -> Finding:
    values = {name: getattr(item, name) for name in _NEW_FIELDS}
    return Finding(**values, id=id_, created_at=now)


def _finding(row: RowMapping) -> Finding:
    values = {name: row[name] for name in _NEW_FIELDS}
    values.update(severity=Severity(row["severity"]), confidence=Confidence(row["confidence"]),
                  details=dict(row["details"]), controls=list(row["controls"]))
    return Finding(**values, id=row["id"], created_at=row["created_at"])
