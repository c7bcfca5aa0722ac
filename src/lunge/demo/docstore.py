"""A document collection queried with MongoDB's query language, for the ``nosqli`` demo.

``find`` follows MongoDB's semantics for what it supports: a field's condition is a value
(equality, an array field matching any element) or an operator document (``$eq``, ``$ne``,
``$gt``, ``$gte``, ``$lt``, ``$lte``, ``$in``, ``$nin``, ``$regex`` with ``$options``, ``$exists``,
``$not``); ``$and``, ``$or`` and ``$nor`` at the top level. Comparisons only match values of the
same type bracket (a string is never ``$gt`` a number), ``$ne`` and ``$nin`` match documents
lacking the field, and an unknown operator or a non-string ``$regex`` is an error with the
server's message. ``$where`` (server-side JavaScript) is refused, as on MongoDB Atlas' free tier.

>>> people = [{"name": "alice", "age": 31}, {"name": "bob", "age": 27}]
>>> [p["name"] for p in find(people, {"name": {"$ne": "x"}, "age": {"$gt": 30}})]
['alice']
>>> try:
...     find(people, {"name": {"$foo": 1}})
... except QueryError as exc:
...     print(exc)
unknown operator: $foo
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Document = Mapping[str, Any]


class QueryError(ValueError):
    """What a MongoDB server answers for a malformed query (``MongoServerError``)."""


def find(documents: Iterable[Document], query: Mapping[str, Any]) -> list[Document]:
    """The documents ``query`` matches, in their order."""
    if not isinstance(query, Mapping):
        raise QueryError("query must be an object")
    return [doc for doc in documents if _matches(doc, query)]


def _matches(doc: Document, query: Mapping[str, Any]) -> bool:
    for key, condition in query.items():
        if key in ("$and", "$or", "$nor"):
            if not isinstance(condition, list) or not condition:
                raise QueryError(f"{key} must be a nonempty array")
            results = [_matches(doc, part) for part in condition]
            ok = all(results) if key == "$and" else any(results) if key == "$or" else not any(results)
        elif key == "$where":
            raise QueryError("$where is not allowed in this atlas tier")
        elif key.startswith("$"):
            raise QueryError(f"unknown top level operator: {key}")
        else:
            ok = _field(doc.get(key), key in doc, condition)
        if not ok:
            return False
    return True


def _is_operators(condition: Any) -> bool:
    return isinstance(condition, Mapping) and bool(condition) and all(str(k).startswith("$") for k in condition)


def _field(value: Any, present: bool, condition: Any) -> bool:
    if not _is_operators(condition):
        return _equal(value, condition)
    options = str(condition.get("$options", ""))
    return all(_operator(name, arg, value, present, options) for name, arg in condition.items() if name != "$options")


def _operator(name: str, arg: Any, value: Any, present: bool, options: str) -> bool:
    if name == "$eq":
        return _equal(value, arg)
    if name == "$ne":
        return not _equal(value, arg)
    if name in _ORDER:
        return any(_comparable(v, arg) and _ORDER[name](v, arg) for v in _candidates(value))
    if name in ("$in", "$nin"):
        if not isinstance(arg, list):
            raise QueryError(f"{name} needs an array")
        found = any(_equal(value, item) for item in arg)
        return found if name == "$in" else not found
    if name == "$regex":
        return _regex(value, arg, options)
    if name == "$exists":
        return present == bool(arg)
    if name == "$not":
        return not _field(value, present, arg)
    raise QueryError(f"unknown operator: {name}")


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": lambda a, b: a > b, "$gte": lambda a, b: a >= b, "$lt": lambda a, b: a < b, "$lte": lambda a, b: a <= b,
}


def _candidates(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _comparable(a: Any, b: Any) -> bool:
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    return (isinstance(a, numbers) and isinstance(b, numbers)) or (isinstance(a, str) and isinstance(b, str))


def _equal(value: Any, wanted: Any) -> bool:
    if isinstance(value, list) and not isinstance(wanted, list):
        return any(_equal(v, wanted) for v in value)
    return bool(value == wanted and type(value) is type(wanted)) or (
        _comparable(value, wanted) and not isinstance(value, str) and value == wanted)


def _regex(value: Any, pattern: Any, options: str) -> bool:
    if not isinstance(pattern, str):
        raise QueryError("$regex has to be a string")
    flags = (re.IGNORECASE if "i" in options else 0) | (re.MULTILINE if "m" in options else 0)
    try:
        compiled = re.compile(pattern, flags)
    except re.error as exc:
        raise QueryError(f"Regular expression is invalid: {exc}") from exc
    return any(isinstance(v, str) and compiled.search(v) is not None for v in _candidates(value))
