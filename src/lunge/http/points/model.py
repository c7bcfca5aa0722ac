"""The value types of insertion points: steps, points, and what a parser returns.

A parser is a pure function ``(text) -> list[Leaf] | None``: it finds the values inside ``text``
and says, for each, where it sits (a span of ``text``), what it decodes to, and how a new value is
encoded back into that span. The tree in :mod:`lunge.http.points.tree` strings parsers together
and does all the splicing, so a parser never rebuilds anything itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache


class ValueKind(StrEnum):
    """What the recorded value is, so a check can pick the right context (numeric, string, ...)."""

    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    NULL = "null"
    BINARY = "binary"


class Role(StrEnum):
    """Whether a point holds an element's value or its name (a JSON key, an XML PI target)."""

    VALUE = "value"
    NAME = "name"


@dataclass(frozen=True, slots=True)
class Step:
    """One link of a point's path: a parser or filter name, and the element it selects, if any.

    >>> Step("GET", "uid").label, Step("BASE64").label
    ('GET_uid', 'BASE64')
    """

    parser: str
    key: str | None = None
    # The step as written in a point name; computed once, since names are built for every point.
    label: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "label", self.parser if self.key is None else f"{self.parser}_{self.key}")


@lru_cache(maxsize=8192)
def step(parser: str, key: str | None = None) -> Step:
    """A shared :class:`Step` (they are immutable): parsers of large documents meet the same keys
    and indexes over and over.

    >>> step("ARRAY", "0") is step("ARRAY", "0")
    True
    """
    return Step(parser, key)


def point_name(path: tuple[Step, ...], role: Role = Role.VALUE) -> str:
    """The printable FAST-grammar name of a path.

    >>> point_name((Step("POST"), Step("JSON_DOC"), Step("HASH", "user"), Step("HASH", "name")))
    'POST_JSON_DOC_HASH_user_HASH_name_value'
    """
    return "_".join(step.label for step in path) + "_" + role.value


@dataclass(frozen=True, slots=True)
class Point:
    """The address of one value inside a request, with the value recorded there.

    ``name`` is stable across baselines of the same shape and is what policies match (FAST's point
    grammar, see ``docs/points.md``); ``path`` is the same address as structured steps.
    """

    name: str
    path: tuple[Step, ...]
    value: str
    kind: ValueKind = ValueKind.STRING
    role: Role = Role.VALUE

    @property
    def family(self) -> str:
        """The request part the point lives in: URI, PATH, ACTION_NAME, ACTION_EXT, GET, HEADER,
        COOKIE or POST."""
        first = self.path[0].parser
        if first == "HEADER":
            # HEADER_COOKIE[_ARRAY_<i>]_COOKIE_<name>: a cookie, even in a repeated Cookie header
            following = [s.parser for s in self.path[1:3] if s.parser != "ARRAY"]
            if following[:1] == ["COOKIE"]:
                return "COOKIE"
        return first

    @property
    def layers(self) -> tuple[str, ...]:
        """The encodings and formats the value is nested in, outermost first (e.g. BASE64,
        JSON_DOC)."""
        return tuple(s.parser for s in self.path[1:] if s.parser in LAYER_PARSERS)


# Parsers that wrap other values (as opposed to selecting an element of a container).
LAYER_PARSERS = frozenset(
    {"JSON_DOC", "XML", "BASE64", "URL", "GZIP", "JWT", "GRAPHQL", "FORM_URLENCODED", "MULTIPART"}
)

Encoder = Callable[[str], str]


def identity(value: str) -> str:
    return value


@dataclass(slots=True)
class Leaf:
    """What a parser found inside a text.

    - ``steps``: the path from the parsed text to this value (a JSON parser returns several steps
      for a nested field, e.g. ``JSON_DOC, HASH user, HASH name``).
    - ``span``: ``(start, end)`` of the value's encoded form in the parsed text; may be empty
      (``start == end``) for an insertion place, such as where a DOCTYPE would go.
    - ``value``: the decoded value (what a check sees and replaces).
    - ``encode``: turns a new decoded value into the text that replaces ``span``.
    - ``point``: False for structural layers that are not worth attacking on their own (a JWT
      part's raw JSON); their descendants still are points.
    - ``nested``: whether decoders (base64, JSON, ...) may look inside ``value``.
    - ``children``: values inside this one, relative to ``value``, when the parser already knows
      them (a JWT part's claims); otherwise the tree runs the decoders on ``value``.
    """

    steps: tuple[Step, ...]
    span: tuple[int, int]
    value: str
    encode: Encoder = identity
    kind: ValueKind = ValueKind.STRING
    role: Role = Role.VALUE
    point: bool = True
    nested: bool = True
    children: list[Leaf] | None = field(default=None)


Parser = Callable[[str], "list[Leaf] | None"]
