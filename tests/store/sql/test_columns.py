"""Column types: text escaping is exact and leaves ordinary text alone."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lunge.store.sql.columns import escape_text, unescape_text


@given(st.text(st.characters(exclude_categories=())))
def test_escaping_round_trips_any_string(value: str) -> None:
    escaped = escape_text(value)
    assert unescape_text(escaped) == value
    assert "\x00" not in escaped
    escaped.encode("utf-8")  # storable: no lone surrogates left


@given(st.text(st.characters(exclude_characters="\x00\ufffe", exclude_categories=("Cs",))))
def test_ordinary_text_is_stored_as_is(value: str) -> None:
    assert escape_text(value) == value


def test_text_that_looks_escaped_is_escaped_too() -> None:
    tricky = '\ufffe"not really escaped"'
    assert escape_text(tricky) != tricky
    assert unescape_text(escape_text(tricky)) == tricky
