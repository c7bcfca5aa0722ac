"""The control plane's aggregate: projects, tokens, test policies, and which project owns a record
or a run (``project_id`` on ``test_records`` and ``test_runs``; NULL for local, project-less use).

Run state changes made by API clients (pause, resume, interrupt) are compare-and-set updates
(``UPDATE ... WHERE state IN (...)``), so a client and a node changing one run at the same time
never undo each other: the loser sees the state the winner left.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, RowMapping, Table, delete, func, insert, select, text, update

from lunge.errors import NotFoundError
from lunge.store.models import RunState, TestRecord, TestRun, claim_owner
from lunge.store.projects import Node, Project, StoredPolicy, Token
from lunge.store.sql.engine import Database
from lunge.store.sql.records import _record
from lunge.store.sql.runs import _run
from lunge.store.sql.schema import nodes, projects, test_policies, test_records, test_runs, tokens

REPLACED = "replaced"
# A claimed run is leased to its node from the claim on, and each heartbeat of the node extends
# the lease until the node starts the run (its own lease, engine.lease, takes over; a split run is
# released: its shards are jobs). A node killed before that leaves a run that reads
# ``interrupted`` once this passes, instead of ``running`` for ever; a node that waits out an
# outage of the control plane to start it keeps it.
CLAIM_LEASE = timedelta(seconds=60)
_LIVE = (RunState.CREATED.value, RunState.RUNNING.value, RunState.PAUSED.value)


class Projects:
    """Projects, tokens, policies and ownership in SQL. Thread-safe, like the store."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def ping(self) -> None:
        """Raise :class:`~lunge.errors.StoreError` unless the database answers (readiness)."""
        with self._db.read() as conn:
            conn.execute(text("SELECT 1"))

    # ------------------------------------------------------------------ projects
    def ensure_project(self, name: str) -> Project:
        """The project called ``name``, created when absent."""
        with self._db.write() as conn:
            row = conn.execute(select(projects).where(projects.c.name == name)).mappings().first()
            if row is None:
                row = conn.execute(insert(projects).values(name=name, created_at=datetime.now(UTC))
                                   .returning(*projects.c)).mappings().one()
        return _project(row)

    def project_named(self, name: str) -> Project:
        with self._db.read() as conn:
            row = conn.execute(select(projects).where(projects.c.name == name)).mappings().first()
        if row is None:
            raise NotFoundError(f"no project named {name!r}")
        return _project(row)

    def get_project(self, project_id: int) -> Project:
        with self._db.read() as conn:
            row = conn.execute(select(projects).where(projects.c.id == project_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"no project {project_id}")
        return _project(row)

    def list_projects(self) -> list[Project]:
        with self._db.read() as conn:
            return [_project(r) for r in conn.execute(select(projects).order_by(projects.c.id)).mappings()]

    # ------------------------------------------------------------------ tokens
    def add_token(self, project_id: int, name: str, prefix: str, secret_sha256: str) -> Token:
        self.get_project(project_id)
        values = {"project_id": project_id, "name": name, "prefix": prefix, "secret_sha256": secret_sha256,
                  "created_at": datetime.now(UTC), "revoked_at": None}
        with self._db.write() as conn:
            row = conn.execute(insert(tokens).values(values).returning(*tokens.c)).mappings().one()
        return _token(row)

    def token_candidates(self, prefix: str) -> list[tuple[Token, str]]:
        """The live tokens whose public prefix is ``prefix``, each with its stored SHA-256."""
        query = select(tokens).where(tokens.c.prefix == prefix, tokens.c.revoked_at.is_(None))
        with self._db.read() as conn:
            return [(_token(r), str(r["secret_sha256"])) for r in conn.execute(query).mappings()]

    def list_tokens(self, project_id: int) -> list[Token]:
        self.get_project(project_id)
        query = select(tokens).where(tokens.c.project_id == project_id).order_by(tokens.c.id)
        with self._db.read() as conn:
            return [_token(r) for r in conn.execute(query).mappings()]

    def revoke_token(self, project_id: int, token_id: int) -> Token:
        """Revoke the token (it authenticates nothing afterwards); revoking twice keeps the first time."""
        query = (update(tokens).where(tokens.c.id == token_id, tokens.c.project_id == project_id)
                 .values(revoked_at=func.coalesce(tokens.c.revoked_at, datetime.now(UTC))).returning(*tokens.c))
        with self._db.write() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFoundError(f"no token {token_id} in project {project_id}")
        return _token(row)

    # ------------------------------------------------------------------ policies
    def add_policy(self, project_id: int, name: str, source: str, summary: dict[str, Any]) -> StoredPolicy:
        now = datetime.now(UTC)
        values = {"project_id": project_id, "name": name, "source": source, "summary": summary,
                  "created_at": now, "updated_at": now}
        with self._db.write() as conn:
            row = conn.execute(insert(test_policies).values(values).returning(*test_policies.c)).mappings().one()
        return _policy(row)

    def get_policy(self, project_id: int, policy_id: int) -> StoredPolicy:
        query = select(test_policies).where(test_policies.c.id == policy_id,
                                            test_policies.c.project_id == project_id)
        with self._db.read() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFoundError(f"no test policy {policy_id}")
        return _policy(row)

    def list_policies(self, project_id: int, limit: int, offset: int) -> list[StoredPolicy]:
        query = (select(test_policies).where(test_policies.c.project_id == project_id)
                 .order_by(test_policies.c.id).limit(limit).offset(offset))
        with self._db.read() as conn:
            return [_policy(r) for r in conn.execute(query).mappings()]

    def update_policy(self, project_id: int, policy_id: int, name: str, source: str,
                      summary: dict[str, Any]) -> StoredPolicy:
        query = (update(test_policies)
                 .where(test_policies.c.id == policy_id, test_policies.c.project_id == project_id)
                 .values(name=name, source=source, summary=summary, updated_at=datetime.now(UTC))
                 .returning(*test_policies.c))
        with self._db.write() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFoundError(f"no test policy {policy_id}")
        return _policy(row)

    def delete_policy(self, project_id: int, policy_id: int) -> None:
        query = delete(test_policies).where(test_policies.c.id == policy_id, test_policies.c.project_id == project_id)
        with self._db.write() as conn:
            if conn.execute(query).rowcount == 0:
                raise NotFoundError(f"no test policy {policy_id}")

    # ------------------------------------------------------------------ ownership
    def assign_record(self, record_id: int, project_id: int) -> None:
        self._assign(test_records, record_id, project_id)

    def assign_run(self, run_id: int, project_id: int) -> None:
        self._assign(test_runs, run_id, project_id)

    def _assign(self, table: Table, row_id: int, project_id: int) -> None:
        with self._db.write() as conn:
            if conn.execute(update(table).where(table.c.id == row_id).values(project_id=project_id)).rowcount == 0:
                raise NotFoundError(f"no {table.name} row {row_id}")

    def record_owner(self, record_id: int) -> int | None:
        """The project owning the record (None: a local record, or no such record)."""
        return self._owner(test_records, record_id)

    def run_owner(self, run_id: int) -> int | None:
        return self._owner(test_runs, run_id)

    def _owner(self, table: Table, row_id: int) -> int | None:
        with self._db.read() as conn:
            row = conn.execute(select(table.c.project_id).where(table.c.id == row_id)).first()
        return None if row is None or row[0] is None else int(row[0])

    def list_records(self, project_id: int, limit: int, offset: int) -> list[TestRecord]:
        query = (select(test_records).where(test_records.c.project_id == project_id)
                 .order_by(test_records.c.id.desc()).limit(limit).offset(offset))
        with self._db.read() as conn:
            return [_record(r) for r in conn.execute(query).mappings()]

    def latest_record(self, project_id: int, build_id: str | None) -> TestRecord | None:
        """The project's newest record with baselines (of ``build_id`` when given)."""
        query = select(test_records).where(test_records.c.project_id == project_id, test_records.c.baseline_count > 0)
        if build_id is not None:
            query = query.where(test_records.c.build_id == build_id)
        with self._db.read() as conn:
            row = conn.execute(query.order_by(test_records.c.id.desc()).limit(1)).mappings().first()
        return None if row is None else _record(row)

    def list_runs(self, project_id: int, limit: int, offset: int, states: Iterable[RunState] = ()) -> list[TestRun]:
        query = select(test_runs).where(test_runs.c.project_id == project_id)
        wanted = [RunState(s).value for s in states]
        if wanted:
            query = query.where(test_runs.c.state.in_(wanted))
        query = query.order_by(test_runs.c.id.desc()).limit(limit).offset(offset)
        now = self._db.now()
        with self._db.read() as conn:
            return [_run(r, now) for r in conn.execute(query).mappings()]

    def runs_of_record(self, project_id: int, record_id: int) -> list[TestRun]:
        """The project's runs over ``record_id``, newest first."""
        query = (select(test_runs).where(test_runs.c.project_id == project_id, test_runs.c.record_id == record_id)
                 .order_by(test_runs.c.id.desc()))
        now = self._db.now()
        with self._db.read() as conn:
            return [_run(r, now) for r in conn.execute(query).mappings()]

    def transition_run(self, run_id: int, allowed_from: Iterable[RunState], to: RunState) -> TestRun | None:
        """Move the run to ``to`` if it is in one of ``allowed_from`` (atomically); None when it
        was not (the caller reads the run to say why). A finished state stamps ``finished_at``."""
        values: dict[str, Any] = {"state": to.value}
        if to.finished:
            values["finished_at"] = func.coalesce(test_runs.c.finished_at, datetime.now(UTC))
        query = (update(test_runs)
                 .where(test_runs.c.id == run_id, test_runs.c.state.in_([s.value for s in allowed_from]))
                 .values(values).returning(*test_runs.c))
        with self._db.write() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _run(row, self._db.now())

    # ------------------------------------------------------------------ nodes
    def register_node(self, project_id: int, name: str, build_id: str | None, token_id: int | None = None) -> Node:
        """Register a node. Without BUILD_ID, FAST's rule: the newest node of a token takes over, so
        the token's older nodes without BUILD_ID are marked ``replaced`` and their runs interrupted."""
        now = datetime.now(UTC)
        values = {"project_id": project_id, "name": name, "build_id": build_id, "state": "idle", "run_id": None,
                  "registered_at": now, "last_seen_at": now, "token_id": token_id}
        with self._db.write() as conn:
            if build_id is None and token_id is not None:
                self._replace_older(conn, project_id, token_id, now)
            row = conn.execute(insert(nodes).values(values).returning(*nodes.c)).mappings().one()
        return _node(row)

    @staticmethod
    def _replace_older(conn: Connection, project_id: int, token_id: int, now: datetime) -> None:
        older = (nodes.c.project_id == project_id, nodes.c.token_id == token_id, nodes.c.build_id.is_(None),
                 nodes.c.state != REPLACED)
        runs = [r for (r,) in conn.execute(select(nodes.c.run_id).where(*older, nodes.c.run_id.is_not(None)))]
        conn.execute(update(nodes).where(*older).values(state=REPLACED))
        if runs:
            conn.execute(update(test_runs).where(test_runs.c.id.in_(runs), test_runs.c.state.in_(_LIVE)).values(
                state=RunState.INTERRUPTED.value, finished_at=now,
                error="interrupted: a newer node of the same token took over"))

    def get_node(self, project_id: int, node_id: int) -> Node:
        with self._db.read() as conn:
            row = conn.execute(select(nodes).where(nodes.c.id == node_id, nodes.c.project_id == project_id)
                               ).mappings().first()
        if row is None:
            raise NotFoundError(f"no node {node_id}")
        return _node(row)

    def list_nodes(self, project_id: int, limit: int, offset: int) -> list[Node]:
        query = (select(nodes).where(nodes.c.project_id == project_id).order_by(nodes.c.id.desc())
                 .limit(limit).offset(offset))
        with self._db.read() as conn:
            return [_node(r) for r in conn.execute(query).mappings()]

    def heartbeat(self, project_id: int, node_id: int, state: str, run_id: int | None) -> Node:
        """The node is alive: its state, and the lease of every run it claimed and has not started
        yet (``CLAIM_LEASE`` from now by the database's clock). A replaced node is told so."""
        mine = (nodes.c.id == node_id, nodes.c.project_id == project_id)
        claimed_until = self._db.now() + CLAIM_LEASE
        with self._db.write() as conn:
            row = conn.execute(update(nodes).where(*mine, nodes.c.state != REPLACED).values(
                state=state, run_id=run_id, last_seen_at=datetime.now(UTC)).returning(*nodes.c)).mappings().first()
            if row is None:  # a replaced node stays replaced; it is told so in the answer
                row = conn.execute(update(nodes).where(*mine).values(last_seen_at=datetime.now(UTC))
                                   .returning(*nodes.c)).mappings().first()
            else:  # the runs it claimed and has not started yet (an outage meanwhile) stay its own
                conn.execute(update(test_runs).where(
                    test_runs.c.project_id == project_id, test_runs.c.lease_owner == claim_owner(node_id),
                    test_runs.c.state.in_([RunState.RUNNING.value, RunState.PAUSED.value]))
                    .values(lease_expires_at=claimed_until))
        if row is None:
            raise NotFoundError(f"no node {node_id}")
        return _node(row)

    def claim_run(self, node: Node, attempts: int = 5) -> TestRun | None:
        """Give the node the oldest ``created`` run of its project (of its BUILD_ID when it has
        one), moving the run to ``running`` and leasing it to the node (``CLAIM_LEASE``).
        Compare-and-set: of two nodes claiming one run, one wins and the other tries the next
        run. A replaced node takes nothing."""
        if node.state == REPLACED:
            return None
        for _ in range(attempts):
            query = select(test_runs.c.id).where(test_runs.c.project_id == node.project_id,
                                                 test_runs.c.state == RunState.CREATED.value)
            if node.build_id is not None:
                query = query.where(test_runs.c.build_id == node.build_id)
            with self._db.read() as conn:
                found = conn.execute(query.order_by(test_runs.c.id).limit(1)).first()
            if found is None:
                return None
            now = self._db.now()
            with self._db.write() as conn:
                row = conn.execute(
                    update(test_runs).where(test_runs.c.id == found[0], test_runs.c.state == RunState.CREATED.value)
                    .values(state=RunState.RUNNING.value, started_at=datetime.now(UTC),
                            lease_owner=claim_owner(node.id), lease_expires_at=now + CLAIM_LEASE)
                    .returning(*test_runs.c)
                ).mappings().first()
                if row is not None:
                    conn.execute(update(nodes).where(nodes.c.id == node.id)
                                 .values(state="testing", run_id=row["id"], last_seen_at=datetime.now(UTC)))
                    return _run(row, now)
        return None



def _node(row: RowMapping) -> Node:
    return Node(id=row["id"], project_id=row["project_id"], name=row["name"], build_id=row["build_id"],
                state=row["state"], run_id=row["run_id"], registered_at=row["registered_at"],
                last_seen_at=row["last_seen_at"], token_id=row["token_id"])


def _project(row: RowMapping) -> Project:
    return Project(id=row["id"], name=row["name"], created_at=row["created_at"])


def _token(row: RowMapping) -> Token:
    return Token(id=row["id"], project_id=row["project_id"], name=row["name"], prefix=row["prefix"],
                 created_at=row["created_at"], revoked_at=row["revoked_at"])


def _policy(row: RowMapping) -> StoredPolicy:
    return StoredPolicy(id=row["id"], project_id=row["project_id"], name=row["name"], source=row["source"],
                        created_at=row["created_at"], updated_at=row["updated_at"], summary=dict(row["summary"]))
