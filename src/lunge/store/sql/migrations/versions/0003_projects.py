"""The control plane: projects, their tokens, policies and nodes; records and runs belong to a project
(NULL: made locally, without a control plane).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_projects"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_projects_name", "projects", ["name"], unique=True)
    op.create_table(
        "tokens",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("secret_sha256", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS),
        sa.PrimaryKeyConstraint("id", name="pk_tokens"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE",
                                name="fk_tokens_project_id_projects"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_tokens_prefix", "tokens", ["prefix"])
    op.create_index("ix_tokens_project_id", "tokens", ["project_id"])
    op.create_table(
        "test_policies",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_test_policies"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE",
                                name="fk_test_policies_project_id_projects"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_test_policies_project_id_name", "test_policies", ["project_id", "name"], unique=True)
    for table in ("test_records", "test_runs"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("project_id", ID))
            batch.create_foreign_key(f"fk_{table}_project_id_projects", "projects", ["project_id"], ["id"],
                                     ondelete="CASCADE")
            batch.create_index(f"ix_{table}_project_id_id", ["project_id", "id"])
    op.create_table(
        "nodes",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("build_id", sa.Text()),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("run_id", ID),
        sa.Column("registered_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_nodes"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE",
                                name="fk_nodes_project_id_projects"),
        sa.ForeignKeyConstraint(["run_id"], ["test_runs.id"], ondelete="SET NULL", name="fk_nodes_run_id_test_runs"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_nodes_project_id_id", "nodes", ["project_id", "id"])


def downgrade() -> None:
    op.drop_table("nodes")
    for table in ("test_runs", "test_records"):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f"ix_{table}_project_id_id")
            batch.drop_constraint(f"fk_{table}_project_id_projects", type_="foreignkey")
            batch.drop_column("project_id")
    for table in ("test_policies", "tokens", "projects"):
        op.drop_table(table)
