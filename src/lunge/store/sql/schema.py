"""The tables, one schema for SQLite and PostgreSQL. Names follow DESIGN.md's vocabulary.

``migrations/`` creates exactly this (a test compares the two); change both together.

Requests and responses are split into columns rather than stored as one blob so the control plane
can list and filter baselines (method, host, target, status) in SQL; headers are a JSON text
column holding names, values and their framing (see :mod:`lunge.store.sql.codec`).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    Table,
    Text,
)

from lunge.store.sql.columns import Id, UtcDateTime, WireText

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

test_records = Table(
    "test_records",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", WireText, nullable=False),
    Column("build_id", Text),
    Column("state", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime),
    # Also the seq allocator: add_baselines bumps it under the row lock and numbers the new rows.
    Column("baseline_count", Integer, nullable=False),
    Column("stats", JSON, nullable=False),
    Index(None, "build_id", "id"),
    sqlite_autoincrement=True,  # display ids (rec_0012) are never reused
)

baselines = Table(
    "baselines",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("record_id", Id, ForeignKey("test_records.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("method", WireText, nullable=False),
    Column("scheme", WireText, nullable=False),
    Column("host", WireText, nullable=False),
    Column("port", Integer, nullable=False),
    Column("target", WireText, nullable=False),
    Column("http_version", WireText, nullable=False),
    Column("request_headers", Text, nullable=False),
    Column("request_body", LargeBinary, nullable=False),
    Column("status", Integer),  # NULL: no response was recorded
    Column("reason", WireText),
    Column("response_version", WireText),
    Column("response_headers", Text),
    Column("response_body", LargeBinary),
    Column("response_truncated", Boolean, nullable=False),
    Column("elapsed_ms", Float, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Index(None, "record_id", "seq", unique=True),
)

test_runs = Table(
    "test_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", WireText, nullable=False),
    Column("description", WireText, nullable=False),
    Column("record_id", Id, ForeignKey("test_records.id", ondelete="CASCADE"), nullable=False),
    Column("policy_name", WireText, nullable=False),
    Column("state", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("build_id", Text),
    Column("target", WireText),
    Column("started_at", UtcDateTime),
    Column("finished_at", UtcDateTime),
    Column("requests_sent", Integer, nullable=False),
    Column("baselines_total", Integer, nullable=False),
    Column("baselines_tested", Integer, nullable=False),
    Column("baselines_not_tested", Integer, nullable=False),
    Column("findings_count", Integer, nullable=False),
    Column("error", WireText),
    Column("stats", JSON, nullable=False),
    # The lease: the node running the run ("host:pid") and until when its heartbeat holds.
    Column("lease_owner", Text),
    Column("lease_expires_at", UtcDateTime),
    Index(None, "build_id", "id"),
    Index(None, "state", "id"),
    Index(None, "record_id"),
    sqlite_autoincrement=True,
)

test_sets = Table(
    "test_sets",
    metadata,
    Column("run_id", Id, ForeignKey("test_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("baseline_id", Id, ForeignKey("baselines.id", ondelete="CASCADE"), primary_key=True),
    Column("status", Text, nullable=False),
    Column("reason", WireText, nullable=False),
    Column("requests_sent", Integer, nullable=False),
    Column("findings_count", Integer, nullable=False),
    Column("points_tested", Integer, nullable=False),
    Index(None, "baseline_id"),
)

findings = Table(
    "findings",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("run_id", Id, ForeignKey("test_runs.id", ondelete="CASCADE"), nullable=False),
    Column("baseline_id", Id, ForeignKey("baselines.id", ondelete="CASCADE"), nullable=False),
    Column("check_id", Text, nullable=False),
    Column("title", WireText, nullable=False),
    Column("severity", Text, nullable=False),
    # Severity.rank (critical = 4), so "most severe first" is an index scan, not a CASE sort.
    Column("severity_rank", SmallInteger, nullable=False),
    Column("cwe", Integer, nullable=False),
    Column("confidence", Text, nullable=False),
    Column("method", WireText, nullable=False),
    Column("url", WireText, nullable=False),
    Column("point", WireText, nullable=False),
    Column("payload", WireText, nullable=False),
    Column("attack_request", WireText, nullable=False),
    Column("response_status", Integer, nullable=False),
    Column("response_excerpt", WireText, nullable=False),
    Column("proof", WireText, nullable=False),
    Column("confirmation", WireText, nullable=False),
    Column("fingerprint", Text, nullable=False),
    Column("details", JSON, nullable=False),
    Column("controls", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index(None, "run_id", "severity_rank", "id"),
    Index(None, "baseline_id"),
    Index(None, "fingerprint"),
    # One finding per fingerprint per run, whichever process confirmed it first (migration 0004).
    Index(None, "run_id", "fingerprint", unique=True),
    sqlite_autoincrement=True,
)


# ---------------------------------------------------------------- the control plane (lunge serve)
# A project owns tokens, policies, records and runs; records and runs made without a control plane
# (local CI mode) have no project (project_id NULL) and are reachable through no token.
projects = Table(
    "projects",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", WireText, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index(None, "name", unique=True),
    sqlite_autoincrement=True,
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("project_id", Id, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", WireText, nullable=False),
    # The first characters of the secret, public: they find the row; the SHA-256 of the whole
    # secret proves it (compared with hmac.compare_digest). The secret itself is never stored.
    Column("prefix", Text, nullable=False),
    Column("secret_sha256", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
    Index(None, "prefix"),
    Index(None, "project_id"),
    sqlite_autoincrement=True,
)

test_policies = Table(
    "test_policies",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("project_id", Id, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", WireText, nullable=False),
    Column("source", WireText, nullable=False),  # the YAML or JSON text as given, validated
    Column("summary", JSON, nullable=False),  # TestPolicy.summary() of the parsed policy
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "project_id", "name", unique=True),
    sqlite_autoincrement=True,
)

test_records.append_column(Column("project_id", Id, ForeignKey("projects.id", ondelete="CASCADE")))
test_records.append_constraint(Index(None, "project_id", "id"))
test_runs.append_column(Column("project_id", Id, ForeignKey("projects.id", ondelete="CASCADE")))
test_runs.append_constraint(Index(None, "project_id", "id"))

nodes = Table(
    "nodes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("project_id", Id, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", WireText, nullable=False),
    Column("build_id", Text),
    Column("state", Text, nullable=False),  # idle, testing, replaced
    Column("run_id", Id, ForeignKey("test_runs.id", ondelete="SET NULL")),
    Column("registered_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Index(None, "project_id", "id"),
    sqlite_autoincrement=True,
)

# ---------------------------------------------------------------- the remote store's batches
# Every batch a remote node sends (baselines, test sets, findings, ...) carries an id it drew; the
# batch's writes and this row commit together, so a batch sent again after a lost answer is
# recognised and answered with what the first delivery returned (``result``), never applied twice.
ingested_batches = Table(
    "ingested_batches",
    metadata,
    Column("batch_id", Text, primary_key=True),
    Column("project_id", Id, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("op", Text, nullable=False),
    Column("result", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

nodes.append_column(Column("token_id", Id, ForeignKey("tokens.id", ondelete="SET NULL")))

# A run tested by many nodes (API mode): its baselines split into shards by recorded order
# (seq first_seq..last_seq), each a pgqueuer job; a shard's results are committed with its
# 'done' mark in one transaction, so a shard tested twice is stored once.
test_run_shards = Table(
    "test_run_shards",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("run_id", Id, ForeignKey("test_runs.id", ondelete="CASCADE"), nullable=False),
    Column("index", Integer, nullable=False),
    Column("first_seq", Integer, nullable=False),
    Column("last_seq", Integer, nullable=False),
    Column("state", Text, nullable=False),  # queued, done
    Column("counters", JSON, nullable=False),
    Column("node_id", Id),
    Column("done_at", UtcDateTime),
    Index(None, "run_id", "index", unique=True),
    sqlite_autoincrement=True,
)
