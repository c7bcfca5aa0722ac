"""Batches from remote nodes, applied once: :class:`Ingest`.

A remote node (:mod:`lunge.store.remote`) sends its writes as batches, each with an id it drew
and keeps in its spool until the control plane has answered. The batch's writes and its row in
``ingested_batches`` commit in one transaction (a nested :meth:`Database.write` joins the outer
one), so a batch sent again (the answer was lost, the node restarted) is recognised by its id and
answered with what its first delivery returned, never applied twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.dialects import postgresql, sqlite

from lunge.errors import NotFoundError
from lunge.store.models import RecordState
from lunge.store.sql.engine import Database
from lunge.store.sql.schema import baselines, ingested_batches, test_records, test_runs

Apply = Callable[[], Any]


class Ingest:
    """Applies batches idempotently and answers which of a project's rows exist."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def once(self, project_id: int, batch_id: str, op: str, apply: Apply) -> Any:
        """Run ``apply`` (the batch's writes, made through the store) unless batch ``batch_id`` was
        applied before; either way, the JSON result of its one application."""
        stmt = (postgresql.insert(ingested_batches) if self._db.dialect == "postgresql"
                else sqlite.insert(ingested_batches))
        values = {"batch_id": batch_id, "project_id": project_id, "op": op, "result": None,
                  "created_at": datetime.now(UTC)}
        with self._db.write() as conn:
            # Taken first: a second delivery racing the first waits here on the key, then sees it.
            claimed = conn.execute(stmt.values(values).on_conflict_do_nothing(index_elements=["batch_id"])
                                   .returning(ingested_batches.c.batch_id)).first()
            if claimed is None:
                row = conn.execute(select(ingested_batches.c.project_id, ingested_batches.c.result)
                                   .where(ingested_batches.c.batch_id == batch_id)).one()
                if int(row[0]) != project_id:  # another project's id: as if it did not exist
                    raise NotFoundError(f"batch {batch_id} belongs to another project")
                return row[1]
            result = apply()
            conn.execute(ingested_batches.update().where(ingested_batches.c.batch_id == batch_id)
                         .values(result=result))
            return result

    def prune(self, older_than: timedelta) -> int:
        """Forget the ids of batches applied longer ago than ``older_than``; how many were."""
        cutoff = datetime.now(UTC) - older_than
        with self._db.write() as conn:
            return int(conn.execute(ingested_batches.delete().where(ingested_batches.c.created_at < cutoff)).rowcount)

    def owned_records(self, project_id: int, record_ids: Iterable[int]) -> set[int]:
        return self._owned(test_records.c.id, test_records.c.project_id, project_id, record_ids)

    def owned_runs(self, project_id: int, run_ids: Iterable[int]) -> set[int]:
        return self._owned(test_runs.c.id, test_runs.c.project_id, project_id, run_ids)

    def owned_baselines(self, project_id: int, baseline_ids: Iterable[int]) -> set[int]:
        wanted = sorted(set(baseline_ids))
        if not wanted:
            return set()
        query = (select(baselines.c.id).join(test_records, test_records.c.id == baselines.c.record_id)
                 .where(test_records.c.project_id == project_id, baselines.c.id.in_(wanted)))
        with self._db.read() as conn:
            return {int(r[0]) for r in conn.execute(query)}

    def _owned(self, id_col: Any, project_col: Any, project_id: int, ids: Iterable[int]) -> set[int]:
        wanted = sorted(set(ids))
        if not wanted:
            return set()
        with self._db.read() as conn:
            return {int(r[0]) for r in conn.execute(select(id_col).where(project_col == project_id,
                                                                          id_col.in_(wanted)))}



    def latest_record(self, project_id: int, build_id: str | None) -> int | None:
        """The id of the project's newest record with baselines (of ``build_id`` when given),
        closed ones first: the local store's rule (:meth:`Store.latest_record`), per project."""
        closed_first = case((test_records.c.state == RecordState.CLOSED.value, 0), else_=1)
        query = select(test_records.c.id).where(test_records.c.project_id == project_id,
                                                test_records.c.baseline_count > 0)
        if build_id is not None:
            query = query.where(test_records.c.build_id == build_id)
        with self._db.read() as conn:
            row = conn.execute(query.order_by(closed_first, test_records.c.id.desc()).limit(1)).first()
        return None if row is None else int(row[0])

    def latest_run(self, project_id: int, build_id: str | None) -> int | None:
        query = select(test_runs.c.id).where(test_runs.c.project_id == project_id)
        if build_id is not None:
            query = query.where(test_runs.c.build_id == build_id)
        with self._db.read() as conn:
            row = conn.execute(query.order_by(test_runs.c.id.desc()).limit(1)).first()
        return None if row is None else int(row[0])
