"""Alembic's environment for lunge: always run from :func:`lunge.store.sql.migrate.migrate`, which
hands over an open connection inside its own transaction (there is no alembic.ini)."""

from __future__ import annotations

from alembic import context

from lunge.store.sql.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite alters tables by copying them; batch mode does that for us
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
