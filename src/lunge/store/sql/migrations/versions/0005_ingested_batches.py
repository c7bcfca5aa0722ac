"""The remote store: ids of the batches the control plane has applied, so a batch a node sends
again (its answer was lost) is not applied twice.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ingested_batches",
        sa.Column("batch_id", sa.Text(), nullable=False),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("op", sa.Text(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name="pk_ingested_batches"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE",
                                name="fk_ingested_batches_project_id_projects"),
    )


def downgrade() -> None:
    op.drop_table("ingested_batches")
