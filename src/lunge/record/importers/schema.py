"""OpenAPI schemas: following local ``$ref`` s, and making a plausible value from a schema.

The value a baseline carries matters only so far as the target accepts the request and every
insertion point exists: an email field gets an email, an integer honours its minimum, an object
gets its required and optional properties. Examples, defaults and enums in the document win over
anything generated.

>>> doc = Node({"components": {"schemas": {"Id": {"type": "integer", "minimum": 10}}}}, "", "api.yaml")
>>> sampler = Sampler(Resolver(doc))
>>> sampler.value(Node({"type": "object", "required": ["id"], "properties": {
...     "id": {"$ref": "#/components/schemas/Id"}, "mail": {"type": "string", "format": "email"},
...     "tags": {"type": "array", "items": {"enum": ["a", "b"]}}}}, "s", "api.yaml"))
{'id': 10, 'mail': 'user@example.com', 'tags': ['a']}
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import unquote

from lunge.record.importers.doc import Node, plain

_MAX_REF_CHAIN = 32
_MAX_DEPTH = 8  # levels of generated objects/arrays: enough for real payloads, small for recursive schemas
_MAX_COMBINED = 48  # schemas inside schemas (oneOf in allOf in $ref ...) before giving up on a value
_MAX_MERGED = 256  # schemas joined by one allOf, nested ones included
_BUDGET = 5_000  # generated values per schema: a safety net against alias bombs and huge schemas
_STRING_FORMATS = {
    "email": "user@example.com", "idn-email": "user@example.com",
    "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "date": "2024-01-15", "date-time": "2024-01-15T10:30:00Z", "time": "10:30:00Z", "duration": "P1D",
    "uri": "https://example.com/", "url": "https://example.com/", "iri": "https://example.com/",
    "uri-reference": "/example", "iri-reference": "/example", "uri-template": "https://example.com/{id}",
    "hostname": "example.com", "idn-hostname": "example.com",
    "ipv4": "192.0.2.1", "ipv6": "2001:db8::1",
    "byte": "bHVuZ2U=", "binary": "lunge", "base64": "bHVuZ2U=", "password": "Passw0rd!",
    "json-pointer": "/lunge", "relative-json-pointer": "0", "regex": "^lunge$", "phone": "+15550100",
}
_FILE_FORMATS = frozenset({"binary", "base64"})


class FileValue(str):
    """A generated string that stands for file content (``format: binary``): a multipart body
    sends it as a file part."""

    __slots__ = ()


class _Omit:
    """The value of a schema that cannot be generated here (a recursive reference): left out."""


OMIT = _Omit()


# ---------------------------------------------------------------------- $ref
class Resolver:
    """Follows local references (``#/components/...``) inside one document."""

    def __init__(self, root: Node) -> None:
        self.root = root

    def deref(self, node: Node) -> Node:
        """The node a ``$ref`` (chain) points to, or ``node`` itself. Raises InputFileError for an
        external, dangling or circular reference."""
        seen: list[str] = []
        while node.is_mapping() and "$ref" in node.mapping():
            ref = node.get("$ref").text()
            if ref in seen or len(seen) > _MAX_REF_CHAIN:
                raise node.fail(f"circular $ref {ref!r}")
            seen.append(ref)
            node = self.lookup(node, ref)
        return node

    def lookup(self, at: Node, ref: str) -> Node:
        """The node ``ref`` (a JSON pointer in this document) names."""
        if not ref.startswith("#"):
            raise at.get("$ref").fail(f"external $ref {ref!r} is not supported: bundle the document into one "
                                      "file first (for example with `redocly bundle`)")
        pointer = unquote(ref[1:])
        if pointer and not pointer.startswith("/"):
            raise at.get("$ref").fail(f"$ref {ref!r} is not a JSON pointer (#/components/...)")
        node = self.root
        for token in pointer.split("/")[1:] if pointer else []:
            token = token.replace("~1", "/").replace("~0", "~")
            value = node.value
            if isinstance(value, dict) and token in value:
                node = Node(value[token], node.at(token), node.source)
            elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
                node = Node(value[int(token)], node.at(int(token)), node.source)
            else:
                raise at.get("$ref").fail(f"$ref {ref!r} points to nothing in the document")
        return node


# ---------------------------------------------------------------------- values
class Sampler:
    """Makes a value from a schema. ``writing``: for a request (``readOnly`` properties left out)."""

    def __init__(self, resolver: Resolver, *, writing: bool = True) -> None:
        self.resolver = resolver
        self.writing = writing
        self.budget = _BUDGET

    def value(self, schema: Node) -> Any:
        """A value for ``schema`` (None when nothing can be generated)."""
        self.budget = _BUDGET
        result = self._value(schema, 0, ())
        return None if result is OMIT else result

    def _value(self, node: Node, depth: int, refs: tuple[str, ...]) -> Any:
        self.budget -= 1
        if depth > _MAX_COMBINED:
            return OMIT
        if node.value is True or node.missing or node.value == {}:
            return "lunge"  # a schema that allows anything
        if node.value is False:
            return OMIT
        node.mapping()
        if "$ref" in node.mapping():
            ref = node.get("$ref").text()
            if ref in refs or depth > _MAX_DEPTH or self.budget < 0:
                return OMIT
            return self._value(self.resolver.lookup(node, ref), depth + 1, (*refs, ref))
        given = self._given(node)
        if given is not OMIT:
            return given
        if not node.get("allOf").missing:
            return self._value(self.merge(node, refs), depth + 1, refs)
        for key in ("oneOf", "anyOf"):
            if not node.get(key).missing:
                return self._branch(node, key, depth + 1, refs)
        return self._typed(node, _type_of(node), depth, refs)

    def _given(self, node: Node) -> Any:
        """A value the document gives: example, examples[0], default, const, enum[0]."""
        schema = node.mapping()
        for key in ("example", "default", "const"):
            if key in schema:
                return plain(node.get(key))
        for key in ("examples", "enum"):
            values = schema.get(key)
            if isinstance(values, list) and values:
                non_null = [i for i, v in enumerate(values) if v is not None] or [0]
                return plain(node.get(key).items()[non_null[0]])
        return OMIT

    def _branch(self, node: Node, key: str, depth: int, refs: tuple[str, ...]) -> Any:
        """oneOf/anyOf: the first branch that is not just null; a discriminator property gets the
        name the document maps to that branch."""
        branches = node.get(key).items(optional=False)
        chosen = next((b for b in branches if not (b.is_mapping() and b.mapping().get("type") == "null")),
                      branches[0] if branches else Node(None, node.where, node.source))
        result = self._value(chosen, depth, refs)
        discriminator = node.get("discriminator")
        if isinstance(result, dict) and discriminator.is_mapping():
            prop = discriminator.get("propertyName").scalar_text()
            if prop:
                result[prop] = _discriminator_value(discriminator, chosen)
        return result

    def merge(self, node: Node, refs: tuple[str, ...] = ()) -> Node:
        """One schema from ``allOf`` and the schema around it: properties and required joined,
        anything else from the first schema that has it."""
        merged: dict[str, Any] = {"properties": {}, "required": []}
        stack: list[tuple[Node, int]] = [(node, 0)]
        parts_left = _MAX_MERGED
        while stack and parts_left > 0:
            parts_left -= 1
            part, level = stack.pop(0)
            part = self.resolver.deref(part)
            if not part.is_mapping() or level > _MAX_DEPTH:
                continue
            schema = part.mapping()
            for key, value in schema.items():
                if key == "properties" and isinstance(value, dict):
                    merged["properties"] = {**value, **merged["properties"]}
                elif key == "required" and isinstance(value, list):
                    merged["required"] += [r for r in value if r not in merged["required"]]
                elif key != "allOf":
                    merged.setdefault(key, value)
            stack += [(branch, level + 1) for branch in part.get("allOf").items()]
        if not merged["properties"]:
            del merged["properties"]
        return Node(merged, node.where, node.source)

    # ------------------------------------------------------------------ by type
    def _typed(self, node: Node, kind: str, depth: int, refs: tuple[str, ...]) -> Any:
        if kind == "object":
            return self._object(node, depth, refs)
        if kind == "array":
            return self._array(node, depth, refs)
        if kind == "integer":
            return _integer(node.mapping())
        if kind == "number":
            return _number(node.mapping())
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return _string(node.mapping())

    def _object(self, node: Node, depth: int, refs: tuple[str, ...]) -> dict[str, Any]:
        if depth >= _MAX_DEPTH or self.budget < 0:
            return {}
        required = node.get("required").value
        required = required if isinstance(required, list) else []
        result: dict[str, Any] = {}
        for name, prop in node.get("properties").members():
            target = self.resolver.deref(prop) if prop.is_mapping() else prop
            if target.is_mapping() and target.mapping().get("readOnly" if self.writing else "writeOnly") is True:
                continue
            value = self._value(prop, depth + 1, refs)
            if value is OMIT and name in required:
                value = None
            if value is not OMIT:
                result[name] = value
        extra = node.get("additionalProperties")
        if not result and extra.is_mapping():
            value = self._value(extra, depth + 1, refs)
            if value is not OMIT:
                result["key"] = value
        return result

    def _array(self, node: Node, depth: int, refs: tuple[str, ...]) -> list[Any]:
        if depth >= _MAX_DEPTH or self.budget < 0:
            return []
        schema = node.mapping()
        if isinstance(schema.get("prefixItems"), list):
            values = [self._value(item, depth + 1, refs) for item in node.get("prefixItems").items()]
            return [v for v in values if v is not OMIT]
        item = self._value(node.get("items"), depth + 1, refs)
        if item is OMIT:
            return []
        count = _bounded_int(schema.get("minItems"), 1, 1, 5)
        if isinstance(schema.get("maxItems"), int) and schema["maxItems"] == 0:
            count = 0
        return [item] * count


def _discriminator_value(discriminator: Node, chosen: Node) -> str:
    ref = chosen.mapping().get("$ref") if chosen.is_mapping() else None
    mapping = discriminator.get("mapping").value
    if isinstance(mapping, dict) and ref is not None:
        for name, target in mapping.items():
            if target == ref or (isinstance(target, str) and isinstance(ref, str) and ref.endswith("/" + target)):
                return str(name)
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else "lunge"


def _type_of(node: Node) -> str:
    schema = node.mapping()
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if isinstance(kind, str) and kind:
        return kind
    if "properties" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "string"


def _string(schema: dict[str, Any]) -> str:
    fmt = schema.get("format")
    fmt = fmt if isinstance(fmt, str) else ""
    value = _STRING_FORMATS.get(fmt, "lunge")
    if fmt in _FILE_FORMATS or "contentMediaType" in schema:
        return FileValue(value)
    low = _bounded_int(schema.get("minLength"), 0, 0, 256)
    high = schema.get("maxLength")
    if len(value) < low:
        value += "x" * (low - len(value))
    if isinstance(high, int) and not isinstance(high, bool) and 0 <= high < len(value):
        value = value[:high]
    return value


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and abs(number) < 1e15 else None


def _bounds(schema: dict[str, Any]) -> tuple[float | None, float | None, bool, bool]:
    """(low, high, low exclusive, high exclusive) in either the 3.0 (boolean) or 3.1 (number) form."""
    low, high = _finite(schema.get("minimum")), _finite(schema.get("maximum"))
    low_ex = schema.get("exclusiveMinimum") is True
    high_ex = schema.get("exclusiveMaximum") is True
    if _finite(schema.get("exclusiveMinimum")) is not None:
        low, low_ex = _finite(schema.get("exclusiveMinimum")), True
    if _finite(schema.get("exclusiveMaximum")) is not None:
        high, high_ex = _finite(schema.get("exclusiveMaximum")), True
    return low, high, low_ex, high_ex


def _integer(schema: dict[str, Any]) -> int:
    low, high, low_ex, high_ex = _bounds(schema)
    value = 1
    if low is not None and (value < low or (low_ex and value <= low)):
        value = math.floor(low) + 1 if low_ex else math.ceil(low)
    if high is not None and (value > high or (high_ex and value >= high)):
        value = math.ceil(high) - 1 if high_ex else math.floor(high)
    step = _finite(schema.get("multipleOf"))
    if step and step >= 1 and value % step:
        value = int(math.ceil(value / step) * step)
    return value


def _number(schema: dict[str, Any]) -> float:
    low, high, low_ex, high_ex = _bounds(schema)
    value = 1.5
    if low is not None and (value < low or (low_ex and value <= low)):
        value = low + 0.5 if low_ex else low
    if high is not None and (value > high or (high_ex and value >= high)):
        value = high - 0.5 if high_ex else high
    return value


def _bounded_int(value: Any, default: int, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        return default
    return max(low, min(high, value))
