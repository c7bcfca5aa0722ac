"""A test run's lease: which node runs it and until when its heartbeat holds. A run still
``running`` whose lease expired was abandoned (its node was killed) and reads as ``interrupted``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("test_runs") as batch:
        batch.add_column(sa.Column("lease_owner", sa.Text()))
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("test_runs") as batch:
        batch.drop_column("lease_expires_at")
        batch.drop_column("lease_owner")
