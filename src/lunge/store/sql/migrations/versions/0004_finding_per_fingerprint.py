"""One finding per fingerprint per run: two processes (or the second-order pass) confirming the same
vulnerability store it once. Duplicates an older lunge stored are dropped, the first one kept.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM findings WHERE id NOT IN (SELECT MIN(id) FROM findings GROUP BY run_id, fingerprint)")
    op.create_index("ix_findings_run_id_fingerprint", "findings", ["run_id", "fingerprint"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_findings_run_id_fingerprint", "findings")
