"""Headers: ordered, immutable, case-preserving, duplicates kept, framing kept."""

from __future__ import annotations

import copy
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunge.http import Headers
from lunge.http.headers import wire_bytes
from tests.http import strategies as gen

names = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,10}", fullmatch=True)
fields = st.lists(st.tuples(names, st.text(alphabet=st.characters(max_codepoint=0xFF, exclude_characters="\r\n"),
                                           max_size=10)), max_size=6)


def test_lookups_ignore_case_storage_does_not() -> None:
    h = Headers([("Content-Type", "a"), ("X-Dup", "1"), ("x-dup", "2")])
    assert h.get("CONTENT-TYPE") == "a" and h.get("nope") is None and h.get("nope", "d") == "d"
    assert h.get_all("X-DUP") == ["1", "2"] and h.index("x-DUP") == 1 and h.index("nope") is None
    assert "content-type" in h and "nope" not in h and 3 not in h  # type: ignore[operator]
    assert list(h) == [("Content-Type", "a"), ("X-Dup", "1"), ("x-dup", "2")] and len(h) == 3 and h[1] == ("X-Dup", "1")


def test_changes_return_new_headers() -> None:
    h = Headers([("A", "1"), ("B", "2"), ("a", "3")], [(":", " "), (": ", ""), (":\t", "")])
    assert h.set("a", "9").fields == (("A", "9"), ("B", "2"))
    assert h.set("a", "9").framing == ((":", " "), (": ", ""))
    assert h.set("C", "4").fields[-1] == ("C", "4")
    assert h.add("A", "5").fields[-1] == ("A", "5")
    assert h.remove("A").fields == (("B", "2"),)
    assert h.replace_at(2, "x").fields[2] == ("a", "x") and h.replace_at(2, "x").framing == h.framing
    assert h.fields == (("A", "1"), ("B", "2"), ("a", "3"))
    with pytest.raises(AttributeError):
        h.fields = ()  # type: ignore[misc]


@given(fields, st.data())
def test_derived_headers_behave_like_freshly_built_ones(pairs: list[tuple[str, str]], data: st.DataObject) -> None:
    h = Headers(pairs)
    name = data.draw(names)
    for derived in (h.set(name, "v"), h.add(name, "v"), h.remove(name)):
        fresh = Headers(derived.fields, derived.framing)
        assert derived == fresh
        assert derived.get_all(name) == fresh.get_all(name) and derived.index(name) == fresh.index(name)
    if pairs:
        i = data.draw(st.integers(0, len(pairs) - 1))
        assert h.replace_at(i, "z") == Headers([*pairs[:i], (pairs[i][0], "z"), *pairs[i + 1 :]])


@settings(max_examples=gen.examples(100))
@given(fields)
def test_encode_gives_the_wire_bytes(pairs: list[tuple[str, str]]) -> None:
    expected = b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in pairs)
    assert Headers(pairs).encode() == expected


def test_framing_must_match_the_fields() -> None:
    with pytest.raises(ValueError, match="framing"):
        Headers([("A", "1")], [])


def test_equality_includes_framing_and_hash_is_stable() -> None:
    assert Headers([("A", "1")]) == Headers([("A", "1")], [(": ", "")])
    assert Headers([("A", "1")]) != Headers([("A", "1")], [(":", "")])
    assert hash(Headers([("A", "1")])) == hash(Headers([("A", "1")]))
    assert Headers([("A", "1")]) != [("A", "1")]
    assert repr(Headers([("A", "1")])) == "Headers([('A', '1')])"


@given(st.text())
def test_wire_bytes_keeps_latin1_and_utf8_encodes_the_rest(text: str) -> None:
    expected = b"".join(c.encode("latin-1") if ord(c) <= 0xFF else c.encode("utf-8", "surrogatepass") for c in text)
    assert wire_bytes(text) == expected


@given(fields)
def test_headers_pickle_and_copy(pairs: list[tuple[str, str]]) -> None:
    h = Headers(pairs, [(":\t", " ")] * len(pairs))
    assert pickle.loads(pickle.dumps(h)) == h
    assert copy.deepcopy(h) == h and copy.copy(h) == h
    assert pickle.loads(pickle.dumps(h)).get_all("x") == h.get_all("x")
