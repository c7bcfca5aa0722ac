"""The initial schema: test records, baselines, test runs, test sets, findings.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Spelled out rather than imported from schema.py: a migration is frozen history.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    _test_records()
    _baselines()
    _test_runs()
    _test_sets()
    _findings()


def _test_records() -> None:
    op.create_table(
        "test_records",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("build_id", sa.Text()),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("closed_at", TS),
        sa.Column("baseline_count", sa.Integer(), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_test_records"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_test_records_build_id_id", "test_records", ["build_id", "id"])


def _baselines() -> None:
    op.create_table(
        "baselines",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("record_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("scheme", sa.Text(), nullable=False),
        sa.Column("host", sa.Text(), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("http_version", sa.Text(), nullable=False),
        sa.Column("request_headers", sa.Text(), nullable=False),
        sa.Column("request_body", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.Integer()),
        sa.Column("reason", sa.Text()),
        sa.Column("response_version", sa.Text()),
        sa.Column("response_headers", sa.Text()),
        sa.Column("response_body", sa.LargeBinary()),
        sa.Column("response_truncated", sa.Boolean(), nullable=False),
        sa.Column("elapsed_ms", sa.Float(), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_baselines"),
        sa.ForeignKeyConstraint(["record_id"], ["test_records.id"], ondelete="CASCADE",
                                name="fk_baselines_record_id_test_records"),
    )
    op.create_index("ix_baselines_record_id_seq", "baselines", ["record_id", "seq"], unique=True)


def _test_runs() -> None:
    op.create_table(
        "test_runs",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("record_id", ID, nullable=False),
        sa.Column("policy_name", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("build_id", sa.Text()),
        sa.Column("target", sa.Text()),
        sa.Column("started_at", TS),
        sa.Column("finished_at", TS),
        sa.Column("requests_sent", sa.Integer(), nullable=False),
        sa.Column("baselines_total", sa.Integer(), nullable=False),
        sa.Column("baselines_tested", sa.Integer(), nullable=False),
        sa.Column("baselines_not_tested", sa.Integer(), nullable=False),
        sa.Column("findings_count", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_test_runs"),
        sa.ForeignKeyConstraint(["record_id"], ["test_records.id"], ondelete="CASCADE",
                                name="fk_test_runs_record_id_test_records"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_test_runs_build_id_id", "test_runs", ["build_id", "id"])
    op.create_index("ix_test_runs_state_id", "test_runs", ["state", "id"])
    op.create_index("ix_test_runs_record_id", "test_runs", ["record_id"])


def _test_sets() -> None:
    op.create_table(
        "test_sets",
        sa.Column("run_id", ID, nullable=False),
        sa.Column("baseline_id", ID, nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requests_sent", sa.Integer(), nullable=False),
        sa.Column("findings_count", sa.Integer(), nullable=False),
        sa.Column("points_tested", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "baseline_id", name="pk_test_sets"),
        sa.ForeignKeyConstraint(["run_id"], ["test_runs.id"], ondelete="CASCADE",
                                name="fk_test_sets_run_id_test_runs"),
        sa.ForeignKeyConstraint(["baseline_id"], ["baselines.id"], ondelete="CASCADE",
                                name="fk_test_sets_baseline_id_baselines"),
    )
    op.create_index("ix_test_sets_baseline_id", "test_sets", ["baseline_id"])


def _findings() -> None:
    text_columns = ("title", "check_id", "severity", "confidence", "method", "url", "point", "payload",
                    "attack_request", "response_excerpt", "proof", "confirmation", "fingerprint")
    op.create_table(
        "findings",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("baseline_id", ID, nullable=False),
        sa.Column("severity_rank", sa.SmallInteger(), nullable=False),
        sa.Column("cwe", sa.Integer(), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Text(), nullable=False) for name in text_columns),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("controls", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_findings"),
        sa.ForeignKeyConstraint(["run_id"], ["test_runs.id"], ondelete="CASCADE",
                                name="fk_findings_run_id_test_runs"),
        sa.ForeignKeyConstraint(["baseline_id"], ["baselines.id"], ondelete="CASCADE",
                                name="fk_findings_baseline_id_baselines"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_findings_run_id_severity_rank_id", "findings", ["run_id", "severity_rank", "id"])
    op.create_index("ix_findings_baseline_id", "findings", ["baseline_id"])
    op.create_index("ix_findings_fingerprint", "findings", ["fingerprint"])


def downgrade() -> None:
    for table in ("findings", "test_sets", "test_runs", "baselines", "test_records"):
        op.drop_table(table)
