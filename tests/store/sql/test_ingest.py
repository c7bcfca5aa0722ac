"""Batches applied once by id (:mod:`lunge.store.sql.ingest`), on SQLite and PostgreSQL: the
writes and the id commit together, a second delivery answers the first result, a failed write
leaves no id behind, another project's id is unknown, and ids are forgotten after ``prune``."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lunge.errors import NotFoundError
from lunge.store import open_store
from lunge.store.sql import SqlStore
from lunge.store.sql.ingest import Ingest
from lunge.store.sql.projects import Projects
from tests.store import factories


def test_a_batch_is_applied_once(store_url: str) -> None:
    store = open_store(store_url)
    assert isinstance(store, SqlStore)
    try:
        project = Projects(store.db).ensure_project("p").id
        other = Projects(store.db).ensure_project("q").id
        ingest = Ingest(store.db)
        record = store.create_record("r")

        def add(n: int) -> dict[str, int]:
            store.add_baselines([factories.baseline(record.id, n)])
            return {"count": 1, "n": n}

        assert ingest.once(project, "batch-1", "baselines", lambda: add(1)) == {"count": 1, "n": 1}
        assert ingest.once(project, "batch-1", "baselines", lambda: add(2)) == {"count": 1, "n": 1}
        assert store.count_baselines(record.id) == 1
        with pytest.raises(NotFoundError):
            ingest.once(other, "batch-1", "baselines", lambda: add(3))

        def fails() -> None:
            store.add_baselines([factories.baseline(record.id, 4)])
            raise NotFoundError("halfway")

        with pytest.raises(NotFoundError):
            ingest.once(project, "batch-2", "baselines", fails)
        assert store.count_baselines(record.id) == 1  # rolled back, baseline and id alike
        assert ingest.once(project, "batch-2", "baselines", lambda: add(5))["n"] == 5
        assert ingest.prune(timedelta(0)) == 2
        assert ingest.once(project, "batch-1", "baselines", lambda: add(6))["n"] == 6
        assert store.count_baselines(record.id) == 3
    finally:
        store.close()
