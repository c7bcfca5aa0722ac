"""The finding aggregate: confirmed vulnerabilities of a run, most severe first."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import RowMapping, Select, and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite

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
        """Store the findings whose fingerprint the run does not have yet (the unique index on
        run and fingerprint decides, so two processes confirming one vulnerability store it
        once); returns those stored. One statement per finding: a run's findings are few, and a
        skipped row would break the order a batched RETURNING relies on."""
        if not items:
            return []
        now = datetime.now(UTC)
        stmt = self._insert().returning(findings.c.id)
        stored = []
        with self._db.write() as conn:
            for item in items:
                row = conn.execute(stmt, _row(item, now)).first()
                if row is not None:
                    stored.append(_stored(item, int(row.id), now))
        return stored

    def _insert(self) -> Any:
        """INSERT ... ON CONFLICT (run_id, fingerprint) DO NOTHING in the database's dialect."""
        dialect = postgresql if self._db.dialect == "postgresql" else sqlite
        return dialect.insert(findings).on_conflict_do_nothing(index_elements=[findings.c.run_id,
                                                                               findings.c.fingerprint])

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
