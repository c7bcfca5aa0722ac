"""Migrations: an empty database comes up at head with exactly the schema of schema.py; a newer
schema is refused with a clear StoreError; two nodes opening one new database migrate once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from lunge.errors import StoreError
from lunge.store import Store, open_store
from lunge.store.sql import SqlStore
from lunge.store.sql.migrate import current_revision, head_revision
from lunge.store.sql.schema import metadata
from tests.store.conftest import BACKENDS, sqlite_url

TABLES = {"ingested_batches", "test_records", "baselines", "test_runs", "test_sets", "findings", "alembic_version",
          "projects", "tokens", "test_policies", "nodes",  # the control plane (lunge serve)
          "test_run_shards"}  # API mode: a run split across nodes


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database nobody has migrated yet."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "not" / "there" / "yet")
    return str(request.getfixturevalue("pg_url"))


def test_an_empty_database_is_migrated_to_head(empty_url: str) -> None:
    store = open_store(empty_url)
    try:
        assert isinstance(store, SqlStore)
        assert current_revision(store.db) == head_revision()
        assert set(inspect(store.db.engine).get_table_names()) == TABLES
        with store.db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
        assert diff == [], "migrations and schema.py disagree: write a migration"
    finally:
        store.close()


def test_reopening_keeps_the_data(empty_url: str) -> None:
    store = open_store(empty_url)
    record = store.create_record("kept")
    store.close()
    again = open_store(empty_url)
    try:
        assert again.get_record(record.id) == record
    finally:
        again.close()


def test_a_newer_schema_is_refused(store_url: str) -> None:
    open_store(store_url).close()
    engine = create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    engine.dispose()
    with pytest.raises(StoreError, match="9999_from_the_future.*newer lunge") as caught:
        open_store(store_url)
    assert "does not know" in str(caught.value)


def test_nodes_starting_together_migrate_once(empty_url: str) -> None:
    stores: list[Store] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            stores.append(open_store(empty_url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)  # without the migration lock, PostgreSQL's DDL can wedge: fail, do not hang
    try:
        assert not any(thread.is_alive() for thread in threads)
        assert errors == []
        assert len({s.create_record("r").id for s in stores}) == 4
    finally:
        for store in stores:
            store.close()


def test_many_nodes_opening_new_sqlite_stores_together_never_see_database_is_locked(tmp_path: Path) -> None:
    # Turning a new SQLite file to WAL answered "database is locked" at once, without the busy
    # timeout, to a node racing another; it failed about one round in fifteen of four nodes.
    errors: list[BaseException] = []

    def start(url: str) -> None:
        try:
            open_store(url).close()
        except BaseException as exc:
            errors.append(exc)

    for round_ in range(40):
        url = sqlite_url(tmp_path / f"round{round_}")
        threads = [threading.Thread(target=start, args=(url,)) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert errors == []


def test_0004_keeps_the_first_of_a_runs_duplicate_findings(store_url: str) -> None:
    from alembic import command

    from lunge.store.models import Severity
    from lunge.store.sql.migrate import alembic_config
    from lunge.store.sql.schema import findings
    from tests.store.factories import baseline, finding

    store = open_store(store_url)
    record = store.create_record("r")
    store.add_baselines([baseline(record.id)])
    run = store.create_run(name="run", record_id=record.id, policy_name="default")
    baseline_id = next(iter(store.iter_baselines(record.id))).id
    kept = store.add_findings([finding(run.id, baseline_id, Severity.HIGH, 1), finding(run.id, baseline_id,
                                                                                     Severity.LOW, 2)])
    store.close()
    engine = create_engine(store_url)
    columns = ", ".join(c.name for c in findings.columns if c.name != "id")
    with engine.begin() as conn:  # as an older lunge left it: at 0003, the same finding stored twice
        command.downgrade(alembic_config(conn), "0003")
        conn.execute(text(f"INSERT INTO findings ({columns}) SELECT {columns} FROM findings"))
    engine.dispose()
    again = open_store(store_url)
    try:
        assert [f.id for f in again.iter_findings(run.id)] == [f.id for f in kept]
        assert again.add_findings([finding(run.id, baseline_id, Severity.HIGH, 1)]) == []
    finally:
        again.close()
