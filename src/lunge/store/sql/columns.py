"""Column types shared by the schema: ids, UTC timestamps and text that must survive any database.

Both :class:`WireText` and :class:`UtcDateTime` work the same on SQLite and PostgreSQL, so one
schema serves both.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Integer, Text
from sqlalchemy.types import TypeDecorator

# BIGINT ids on PostgreSQL; on SQLite only ``INTEGER PRIMARY KEY`` is the rowid (and autoincrements).
Id = BigInteger().with_variant(Integer(), "sqlite")

# Marks a value stored in escaped form. U+FFFE is a noncharacter: valid UTF-8 that no sane text
# starts with, and any original value that does start with it is escaped too, so reading is exact.
_ESCAPED = "\ufffe"


def escape_text(value: str) -> str:
    """``value`` in a form every backend stores: PostgreSQL refuses NUL in text and both refuse
    lone surrogates (which a latin-1-decoded or hand-built string may hold). Such values, and only
    those, become the marker plus their JSON string literal (pure ASCII).

    >>> escape_text("/a?b=1")
    '/a?b=1'
    >>> unescape_text(escape_text("/a\\x00b")) == "/a\\x00b"
    True
    """
    if value.isascii():
        return value if "\x00" not in value else _ESCAPED + json.dumps(value)
    if value.startswith(_ESCAPED) or "\x00" in value or not _utf8_safe(value):
        return _ESCAPED + json.dumps(value)
    return value


def unescape_text(value: str) -> str:
    """The inverse of :func:`escape_text`."""
    if value.startswith(_ESCAPED):
        return str(json.loads(value[1:]))
    return value


def _utf8_safe(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class WireText(TypeDecorator[str]):
    """Text that may hold anything a Python ``str`` can (NUL, lone surrogates): stored as is when
    the database can take it, escaped otherwise (see :func:`escape_text`)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return _escape_or_none(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return _unescape_or_none(value)

    # Seven columns of every baseline go through these, on the recorder's hot path: hand the
    # functions over directly instead of through TypeDecorator's wrapper (two calls fewer per
    # value), still chained to the inner type's own processor wherever a dialect has one.
    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        inner = self.impl_instance.bind_processor(dialect)
        if inner is None:
            return _escape_or_none
        return lambda value: inner(_escape_or_none(value))

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        inner = self.impl_instance.result_processor(dialect, coltype)
        if inner is None:
            return _unescape_or_none
        return lambda value: _unescape_or_none(inner(value))


def _escape_or_none(value: str | None) -> str | None:
    return None if value is None else escape_text(value)


def _unescape_or_none(value: str | None) -> str | None:
    return None if value is None else unescape_text(value)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware in UTC (SQLite keeps no zone; PostgreSQL
    answers in the session's zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
