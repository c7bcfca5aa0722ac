"""API mode: a run split into shards tested by many nodes (``test_run_shards``), and the token a
node registered with (the newest node of a token takes over).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "test_run_shards",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("first_seq", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("counters", sa.JSON(), nullable=False),
        sa.Column("node_id", ID),
        sa.Column("done_at", TS),
        sa.PrimaryKeyConstraint("id", name="pk_test_run_shards"),
        sa.ForeignKeyConstraint(["run_id"], ["test_runs.id"], ondelete="CASCADE",
                                name="fk_test_run_shards_run_id_test_runs"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_test_run_shards_run_id_index", "test_run_shards", ["run_id", "index"], unique=True)
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(sa.Column("token_id", ID))
        batch.create_foreign_key("fk_nodes_token_id_tokens", "tokens", ["token_id"], ["id"], ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.drop_constraint("fk_nodes_token_id_tokens", type_="foreignkey")
        batch.drop_column("token_id")
    op.drop_table("test_run_shards")
