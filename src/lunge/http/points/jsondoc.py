"""JSON documents (``JSON_DOC``): every scalar in nested objects and arrays, and every key.

Object members are ``HASH_<key>`` steps, array items ``ARRAY_<i>``; a key is a point of its own
with the ``_name`` service word. Spans point at the literals in the original text, so formatting,
key order and escapes of untouched values survive a rebuild.

>>> [(".".join(s.label for s in leaf.steps), leaf.role.value, leaf.value) for leaf in parse('{"a": [1, "x"]}')]
[('JSON_DOC.HASH_a', 'name', 'a'), ('JSON_DOC.HASH_a.ARRAY_0', 'value', '1'), \
('JSON_DOC.HASH_a.ARRAY_1', 'value', 'x')]
"""

from __future__ import annotations

import json
import re

from lunge.http.points.model import Leaf, Role, Step, ValueKind, step

_WS = re.compile(r"[ \t\n\r]*")
_WS_CHARS = frozenset(" \t\n\r")
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # unrolled: one step per run of plain text
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_UNPRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029]")
_LITERALS = {"true": ValueKind.BOOLEAN, "false": ValueKind.BOOLEAN, "null": ValueKind.NULL}


def encode_string(value: str) -> str:
    """A JSON string literal for ``value``. Non-ASCII text stays as it is; every control character
    (C0, DEL, C1) and the JavaScript line separators are escaped, so the literal is printable even
    when it travels inside another layer (base64 of JSON is recognised by decoding to text).

    >>> encode_string('a"b\\u0085')
    '"a\\\\"b\\\\u0085"'
    """
    literal = json.dumps(value, ensure_ascii=False)
    return _UNPRINTABLE.sub(_escape_char, literal) if _UNPRINTABLE.search(literal) else literal


def _escape_char(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group(0)):04x}"


def is_number(value: str) -> bool:
    """Whether ``value`` is a JSON number literal.

    >>> is_number("-1.5e3"), is_number("01"), is_number("1 OR 1=1")
    (True, False, False)
    """
    return _NUMBER.fullmatch(value) is not None


def encode_number(value: str) -> str:
    """A number stays a number; anything else becomes a string (a server's JSON parser would
    reject a bare ``1 OR 1=1``, an injectable query still receives it as text)."""
    return value if is_number(value) else encode_string(value)


def encode_literal(value: str) -> str:
    return value if value in _LITERALS else encode_string(value)


def looks_like_json(text: str) -> bool:
    stripped = text.strip()
    return len(stripped) >= 2 and stripped[0] in "{[" and stripped[-1] in "}]"


def _reject_constant(word: str) -> None:
    # Python's json takes NaN and Infinity; JSON (RFC 8259) does not, nor does the scanner below.
    raise ValueError(f"not JSON: {word}")


def parse(text: str) -> list[Leaf] | None:
    """The leaves of a JSON document (object or array at the top), or None when ``text`` is not
    well-formed JSON."""
    if not looks_like_json(text):
        return None
    try:
        json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None
    leaves: list[Leaf] = []
    try:
        _Scanner(text, leaves).value(_WS.match(text, 0).end(), (Step("JSON_DOC"),))  # type: ignore[union-attr]
    except RecursionError:
        return None  # nested deeper than Python's stack: treat as opaque text
    return leaves


class _Scanner:
    """Walks well-formed JSON (json.loads has already accepted it) recording literal spans."""

    def __init__(self, text: str, leaves: list[Leaf]) -> None:
        self.text = text
        self.leaves = leaves

    def skip_ws(self, pos: int) -> int:
        if self.text[pos : pos + 1] not in _WS_CHARS:
            return pos  # the common case in compact JSON: no regex call
        return _WS.match(self.text, pos).end()  # type: ignore[union-attr]

    def string(self, pos: int) -> tuple[str, int]:
        """The decoded string literal at ``pos`` and the position after it."""
        end = _STRING.match(self.text, pos).end()  # type: ignore[union-attr]
        raw = self.text[pos + 1 : end - 1]
        return (json.loads(self.text[pos:end]) if "\\" in raw else raw), end

    def value(self, pos: int, steps: tuple[Step, ...]) -> int:
        """Scan the value at ``pos``; return the position just after it."""
        ch = self.text[pos]
        if ch == "{":
            return self.object(pos, steps)
        if ch == "[":
            return self.array(pos, steps)
        if ch == '"':
            decoded, end = self.string(pos)
            self.leaves.append(Leaf(steps, (pos, end), decoded, encode_string))
            return end
        number = _NUMBER.match(self.text, pos)
        if number:
            end = number.end()
            self.leaves.append(Leaf(steps, (pos, end), self.text[pos:end], encode_number, ValueKind.NUMBER,
                                    nested=False))
            return end
        for word, kind in _LITERALS.items():
            if self.text.startswith(word, pos):
                end = pos + len(word)
                self.leaves.append(Leaf(steps, (pos, end), word, encode_literal, kind, nested=False))
                return end
        raise ValueError(f"unexpected JSON at {pos}")  # unreachable after json.loads accepted it

    def object(self, pos: int, steps: tuple[Step, ...]) -> int:
        pos = self.skip_ws(pos + 1)
        if self.text[pos] == "}":
            return pos + 1
        while True:
            key, key_end = self.string(pos)
            member = (*steps, step("HASH", key))
            self.leaves.append(Leaf(member, (pos, key_end), key, encode_string, role=Role.NAME, nested=False))
            pos = self.skip_ws(key_end)
            pos = self.skip_ws(pos + 1)  # the ':'
            pos = self.skip_ws(self.value(pos, member))
            if self.text[pos] == "}":
                return pos + 1
            pos = self.skip_ws(pos + 1)  # the ','

    def array(self, pos: int, steps: tuple[Step, ...]) -> int:
        pos = self.skip_ws(pos + 1)
        if self.text[pos] == "]":
            return pos + 1
        index = 0
        while True:
            pos = self.skip_ws(self.value(pos, (*steps, step("ARRAY", str(index)))))
            index += 1
            if self.text[pos] == "]":
                return pos + 1
            pos = self.skip_ws(pos + 1)
