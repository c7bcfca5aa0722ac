"""The store: test records, baselines, runs and findings, behind one interface.

Owns: the :class:`~lunge.store.base.Store` protocol, the plain models in
:mod:`~lunge.store.models` (what reports read), the batching writer (:mod:`~lunge.store.writer`)
and the SQL implementation (:mod:`lunge.store.sql`: SQLAlchemy 2, SQLite or PostgreSQL, Alembic
migrations). :func:`open_store` is the way in.

May import: :mod:`lunge.http`, the value types of :mod:`lunge.checks`, :mod:`lunge.policy`.
"""

from __future__ import annotations

from lunge.store.base import Store

__all__ = ["Store", "open_store"]


def open_store(url: str) -> Store:
    """A ready store on the database at ``url`` (``sqlite:///PATH`` or
    ``postgresql+psycopg://USER:PASSWORD@HOST/DB``), migrated to this lunge's schema
    (:func:`lunge.store.sql.open_store`), or in the control plane (``lunge+http://...``:
    :mod:`lunge.store.remote`)."""
    if url.startswith("lunge+"):
        from lunge.store.remote import open_remote

        return open_remote(url)
    # Imported here so that reading the models (reports) does not load SQLAlchemy and Alembic.
    from lunge.store.sql import open_store as open_sql_store

    return open_sql_store(url)
