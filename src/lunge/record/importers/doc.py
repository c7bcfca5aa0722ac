"""Reading untrusted JSON and YAML documents with a place for every error.

A :class:`Node` is a value of the document and where it is (``log.entries[3].request.url``).
Its accessors check the type they expect and raise :class:`~lunge.errors.InputFileError` naming
the file, the place and what is wrong, so importers never index raw dictionaries and a malformed
file never becomes a ``KeyError`` or ``TypeError`` traceback.

>>> doc = Node({"log": {"entries": [{"request": {"url": 3}}]}}, "", "a.har")
>>> doc.get("log").get("entries").items()[0].get("request").get("url").text()
Traceback (most recent call last):
...
lunge.errors.InputFileError: a.har: log.entries[0].request.url: expected a string, found a number
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from typing import Any

import yaml

from lunge.errors import InputFileError

# A document nested deeper than this is not a real HAR/OpenAPI/Postman file (and recursion over it
# would overflow the stack); nor is an example value with more nodes than this (a YAML alias bomb).
MAX_DEPTH = 64
MAX_NODES = 200_000
# libyaml's safe loader when PyYAML has it (about 10x faster), else the pure-Python one.
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def one_line(text: str, limit: int = 300) -> str:
    r"""``text`` fit for a one-line message: control characters escaped, long text cut.

    >>> one_line("a\nb" + "x" * 400)[:8]
    'a\\nbxxxx'
    """
    escaped = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
    return escaped if len(escaped) <= limit else escaped[:limit] + "..."


def input_error(source: str, where: str, problem: str) -> InputFileError:
    """An InputFileError whose message is one line, whatever the file put in the place or problem."""
    return InputFileError(source, one_line(where, 200), one_line(problem))


def kind_of(value: object) -> str:
    """The JSON name of a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__} value"


class Node:
    """A value somewhere in a document."""

    __slots__ = ("source", "value", "where")

    def __init__(self, value: object, where: str, source: str) -> None:
        self.value = value
        self.where = where
        self.source = source

    def __repr__(self) -> str:
        return f"Node({self.where or '(top level)'}={kind_of(self.value)})"

    def fail(self, problem: str) -> InputFileError:
        """The error to raise for a problem at this place."""
        return input_error(self.source, self.where or "(top level)", problem)

    def at(self, label: str | int) -> str:
        """The place of a child of this node."""
        if isinstance(label, int):
            return f"{self.where}[{label}]"
        return f"{self.where}.{label}" if self.where else label

    @property
    def missing(self) -> bool:
        return self.value is None

    # ------------------------------------------------------------------ containers
    def get(self, key: str) -> Node:
        """The member ``key`` of this object (a missing member is a null node)."""
        if self.value is None:
            return Node(None, self.at(key), self.source)
        return Node(self.mapping().get(key), self.at(key), self.source)

    def mapping(self) -> dict[Any, Any]:
        """The value as an object; raises unless it is one."""
        if not isinstance(self.value, dict):
            raise self.fail(f"expected an object, found {kind_of(self.value)}")
        return self.value

    def is_mapping(self) -> bool:
        return isinstance(self.value, dict)

    def members(self, *, optional: bool = True) -> list[tuple[str, Node]]:
        """The members of this object in document order (keys as text); a null is empty when optional."""
        if self.value is None and optional:
            return []
        return [(str(key), Node(value, self.at(str(key)), self.source)) for key, value in self.mapping().items()]

    def items(self, *, optional: bool = True) -> list[Node]:
        """The elements of this array; a missing array is empty when ``optional``."""
        if self.value is None and optional:
            return []
        if not isinstance(self.value, list):
            raise self.fail(f"expected an array, found {kind_of(self.value)}")
        return [Node(value, self.at(i), self.source) for i, value in enumerate(self.value)]

    # ------------------------------------------------------------------ scalars
    def text(self, default: str | None = None) -> str:
        """The value as a string; a missing value is ``default`` when one is given."""
        if self.value is None and default is not None:
            return default
        if self.value is None:
            raise self.fail("is missing")
        if not isinstance(self.value, str):
            raise self.fail(f"expected a string, found {kind_of(self.value)}")
        return self.value

    def optional_text(self) -> str | None:
        return None if self.value is None else self.text()

    def scalar_text(self, default: str = "") -> str:
        """A string, number or boolean written as text (tools write ``"value": 1`` for "1")."""
        value = self.value
        if value is None:
            return default
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float | str):
            return str(value)
        raise self.fail(f"expected a string, found {kind_of(value)}")

    def integer(self, default: int | None = None) -> int:
        if self.value is None and default is not None:
            return default
        value = self.value
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(f"expected an integer, found {kind_of(self.value)}")
        return value

    def flag(self, default: bool = False) -> bool:
        if self.value is None:
            return default
        if not isinstance(self.value, bool):
            raise self.fail(f"expected true or false, found {kind_of(self.value)}")
        return self.value


# ---------------------------------------------------------------------- loading
def load_json(text: str, source: str) -> Node:
    """The document in ``text`` (JSON), or InputFileError naming the line and column."""
    try:
        return Node(json.loads(text), "", source)
    except json.JSONDecodeError as exc:
        raise input_error(source, f"line {exc.lineno} column {exc.colno}", f"not valid JSON: {exc.msg}") from exc
    except RecursionError as exc:
        raise input_error(source, "", "nested too deeply to be read") from exc
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise input_error(source, "", f"not valid JSON: {exc}") from exc


def load_yaml_or_json(text: str, source: str) -> Node:
    """The document in ``text``: JSON when it looks like JSON, else YAML (safe loader only)."""
    if text.lstrip("\ufeff \t\r\n").startswith("{"):
        return load_json(text.lstrip("\ufeff"), source)
    try:
        return Node(yaml.load(text, Loader=_SAFE_LOADER), "", source)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise input_error(source, where, f"not valid YAML: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise input_error(source, "", f"not valid YAML: {exc}") from exc
    except RecursionError as exc:
        raise input_error(source, "", "nested too deeply to be read") from exc
    except (ValueError, TypeError, OverflowError) as exc:  # PyYAML's constructors (a date 2020-13-45, ...)
        raise input_error(source, "", f"not valid YAML: {exc}") from exc


# ---------------------------------------------------------------------- plain values
class _Budget:
    __slots__ = ("left",)

    def __init__(self, left: int) -> None:
        self.left = left


def plain(node: Node) -> Any:
    """A JSON-compatible copy of ``node``'s value (for example values written into bodies):
    YAML dates as ISO text, binary as base64, sets as lists, non-finite numbers as null.
    Raises InputFileError for a value nested too deeply, too large or referring to itself."""
    return _plain(node.value, node, 0, _Budget(MAX_NODES))


def _plain(value: Any, node: Node, depth: int, budget: _Budget) -> Any:
    budget.left -= 1
    if depth > MAX_DEPTH or budget.left < 0:
        raise node.fail("the value is nested too deeply or too large (or refers to itself)")
    if isinstance(value, dict):
        return {str(k): _plain(v, node, depth + 1, budget) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [_plain(v, node, depth + 1, budget) for v in items]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
