"""A small LDAP directory searched with real RFC 4515 filters, for the ``ldapi`` demo.

The parser follows the RFC's grammar strictly, as OpenLDAP's ``ldap_search`` does: ``&``, ``|``
and ``!`` filters, equality, ``>=``, ``<=``, ``~=``, presence (``attr=*``) and substrings
(``attr=ab*cd*``), ``\\XX`` escapes in values; anything else, including text after the last
``)``, is "Bad search filter". Matching is case-insensitive (``caseIgnoreMatch``), and every entry
has ``objectClass``.

>>> people = [{"objectClass": ["person"], "uid": ["alice"]}, {"objectClass": ["person"], "uid": ["bob"]}]
>>> [e["uid"][0] for e in search(people, "(&(objectClass=person)(uid=a*))")]
['alice']
>>> try:
...     search(people, "(uid=alice)(uid=bob)")
... except FilterError as exc:
...     print(exc)
Bad search filter: text after the filter at 11
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

Entry = Mapping[str, Sequence[str]]
Matcher = Callable[[Entry], bool]

_ATTRIBUTE = re.compile(r"[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+")
_ESCAPE = re.compile(r"\\([0-9A-Fa-f]{2})")


class FilterError(ValueError):
    """The filter is not RFC 4515 (python-ldap's FILTER_ERROR, OpenLDAP's -7)."""


def escape(value: str) -> str:
    r"""A value made safe for a filter (RFC 4515 section 3).

    >>> escape("a*(b)\\")
    'a\\2a\\28b\\29\\5c'
    """
    return "".join(f"\\{ord(c):02x}" if c in "*()\\\x00" else c for c in value)


def search(entries: Iterable[Entry], text: str) -> list[Entry]:
    """The entries ``text`` matches; raises :class:`FilterError` for a malformed filter."""
    parser = _Parser(text)
    matcher = parser.filter()
    if parser.pos != len(text):
        raise FilterError(f"Bad search filter: text after the filter at {parser.pos}")
    return [entry for entry in entries if matcher(entry)]


@dataclass
class _Parser:
    text: str
    pos: int = 0

    def _fail(self, what: str) -> FilterError:
        return FilterError(f"Bad search filter: {what} at {self.pos}")

    def _take(self, char: str) -> None:
        if not self.text.startswith(char, self.pos):
            raise self._fail(f"expected {char!r}")
        self.pos += 1

    def filter(self) -> Matcher:
        self._take("(")
        head = self.text[self.pos: self.pos + 1]
        if head in ("&", "|"):
            self.pos += 1
            parts = self._list()
            matcher = _all(parts) if head == "&" else _any(parts)
        elif head == "!":
            self.pos += 1
            inner = self.filter()
            matcher = _not(inner)
        else:
            matcher = self._item()
        self._take(")")
        return matcher

    def _list(self) -> list[Matcher]:
        parts = []
        while self.text.startswith("(", self.pos):
            parts.append(self.filter())
        if not parts:
            raise self._fail("empty filter list")
        return parts

    def _item(self) -> Matcher:
        match = _ATTRIBUTE.match(self.text, self.pos)
        if match is None:
            raise self._fail("expected an attribute")
        attribute, self.pos = match.group(0), match.end()
        operator = next((op for op in ("~=", ">=", "<=", "=") if self.text.startswith(op, self.pos)), None)
        if operator is None:
            raise self._fail("expected a filter type")
        self.pos += len(operator)
        end = self.text.find(")", self.pos)
        if end < 0:
            raise self._fail("unterminated filter")
        raw, self.pos = self.text[self.pos: end], end
        if "(" in raw or "\x00" in raw:
            raise self._fail("unescaped character in a value")
        if operator == "=" and raw == "*":
            return _present(attribute)
        if operator == "=" and "*" in raw:
            return _substring(attribute, [_value(part) for part in raw.split("*")])
        if "*" in raw:
            raise self._fail("wildcard in a non-equality filter")
        return _compare(attribute, operator, _value(raw))


def _value(raw: str) -> str:
    if "\\" in _ESCAPE.sub("", raw):
        raise FilterError("Bad search filter: bad escape in a value")
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), raw)


def _values(entry: Entry, attribute: str) -> list[str]:
    name = attribute.lower()
    return [v.lower() for key, values in entry.items() if key.lower() == name for v in values]


def _all(parts: list[Matcher]) -> Matcher:
    return lambda entry: all(p(entry) for p in parts)


def _any(parts: list[Matcher]) -> Matcher:
    return lambda entry: any(p(entry) for p in parts)


def _not(inner: Matcher) -> Matcher:
    return lambda entry: not inner(entry)


def _present(attribute: str) -> Matcher:
    return lambda entry: bool(_values(entry, attribute))


def _substring(attribute: str, parts: list[str]) -> Matcher:
    pattern = re.compile(".*".join(re.escape(p.lower()) for p in parts), re.DOTALL)
    return lambda entry: any(pattern.fullmatch(v) for v in _values(entry, attribute))


def _compare(attribute: str, operator: str, value: str) -> Matcher:
    wanted = value.lower()
    tests: dict[str, Callable[[str], bool]] = {
        "=": lambda v: v == wanted, "~=": lambda v: v == wanted,
        ">=": lambda v: v >= wanted, "<=": lambda v: v <= wanted,
    }
    test = tests[operator]
    return lambda entry: any(test(v) for v in _values(entry, attribute))
