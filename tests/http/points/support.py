"""What every parser's tests check: rebuilding with a value replaced, re-reading the request *from
its wire bytes*, and comparing point by point.

"Unchanged" is defined by the address, not by the text: after ``p`` is replaced, every point that
is not related to ``p`` keeps its name and value, and no point appears that is not related to
``p``. Related means:

- inside ``p`` (its path extends ``p``'s: the fields of a JSON text that ``p`` holds), or
  containing it (``p``'s path extends its path: the cookie header around a cookie, the base64
  around a JSON field); such points change by construction;
- ``URI`` and every other point of the request target (the target is both);
- ``XML_DTD`` and the ``XML_DTD_ENTITY_<i>`` points inside the DTD;
- the Content-Type / Content-Encoding headers and every body point (they decide how the body is
  read).

Replacing a JSON key (``..._HASH_<key>_name``) renames the element: the points under it are
expected under the new name, with their values. When the new name is a sibling's key, the two
share one name and nothing is expected of the sibling (a reader keeps one of duplicate keys).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lunge.http import Request
from lunge.http.points import Point, Points, Role, Step, multipart, parse, point_name, uri, xmldoc
from lunge.http.points import header as header_points

TARGET_FAMILIES = frozenset({"URI", "PATH", "ACTION_NAME", "ACTION_EXT", "GET"})
BODY_HEADERS = frozenset({"HEADER_CONTENT-TYPE", "HEADER_CONTENT-ENCODING"})
WIRE_LAYERS = frozenset({"BASE64", "URL", "GZIP", "JWT"})
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*")
SKIP = object()  # the value would break the enclosing structure; nothing to compare


def reparse(request: Request) -> Points:
    """The points of ``request`` as a server would see them: serialised, then parsed again."""
    again = Request.parse(request.to_bytes(), scheme=request.scheme, host=request.host, port=request.port)
    return parse(again)


def _prefix(short: tuple[Step, ...], long: tuple[Step, ...]) -> bool:
    return long[: len(short)] == short


def related(p: Point, q: Point) -> bool:
    """Whether replacing ``p`` may change ``q`` (see the module docstring)."""
    if _prefix(p.path, q.path) or _prefix(q.path, p.path):
        return True
    if _layer_of_parent(p, q) or _layer_of_parent(q, p):
        return True
    if "URI" in (p.family, q.family) and p.family in TARGET_FAMILIES and q.family in TARGET_FAMILIES:
        return True
    if {_head(p), _head(q)} & BODY_HEADERS and "POST" in (p.family, q.family):
        return True
    return _xml_dtd(p, q) or _xml_dtd(q, p)


def _layer_of_parent(p: Point, q: Point) -> bool:
    """``p`` is a whole layer recognised by decoding (a JWT, a base64 value) and ``q`` sits in the
    same parent: the replaced text may no longer decode as that layer but as another one (a
    percent-encoded newline where a JWT was), which the parser then shows under a new name."""
    return bool(p.path) and p.path[-1].parser in WIRE_LAYERS and _prefix(p.path[:-1], q.path)


def _head(p: Point) -> str:
    return p.path[0].label if p.family == "HEADER" else ""


def _xml_dtd(p: Point, q: Point) -> bool:
    parsers = [s.parser for s in p.path]
    if not parsers or parsers[-1] != "XML_DTD":
        return False
    where = p.path[: parsers.index("XML")]
    return _prefix(where, q.path) and any(s.parser == "XML_DTD_ENTITY" for s in q.path)


def renamed(p: Point, value: str, q: Point) -> str:
    """``q``'s name once ``p`` holds ``value``: a JSON key replaced renames what is under it."""
    if p.role is not Role.NAME or p.path[-1].parser != "HASH" or not _prefix(p.path, q.path):
        return q.name
    new_path = (*p.path[:-1], Step("HASH", value), *q.path[len(p.path) :])
    return point_name(new_path, q.role)


def expected_value(p: Point, value: str) -> str | object | None:
    """What ``p`` holds after being replaced by ``value`` and re-read from the wire; None when it
    may legitimately not be found again (a layer recognised by decoding, a raw body that now
    parses as a form), SKIP when ``value`` breaks the document around it (XML can hold no NUL)."""
    parsers = [s.parser for s in p.path]
    if "XML" in parsers:
        return _xml_expected(p, value)
    if parsers[-1] in WIRE_LAYERS or p.name == "POST_value":
        return None
    if p.family == "URI":
        return uri.encode_uri(value)
    if p.family == "ACTION_NAME" and value == "":
        return None  # "/dir/" has no action name
    if parsers[-1] == "FILENAME":
        return multipart.encode_filename(value)
    if parsers == ["HEADER"] or parsers == ["HEADER", "ARRAY"]:
        return header_points.encode_header_value(value).strip(" \t")
    if p.family == "COOKIE" and parsers[-1] in ("COOKIE", "ARRAY"):
        return header_points.encode_cookie_value(value).strip(" \t")
    if p.family in ("HEADER", "COOKIE") and not WIRE_LAYERS & set(parsers) and any(c in value for c in ";\r\n"):
        return None  # a JSON or GraphQL text inside a header: the header's own escaping shows
    return value


def _xml_expected(p: Point, value: str) -> str | object | None:
    if _XML_ILLEGAL.search(value):
        return SKIP
    last = p.path[-1].parser
    if last == "XML_DTD":
        return SKIP  # raw markup: see the XML tests
    if p.role is Role.NAME:
        return value if _XML_NAME.fullmatch(value) and value.lower() != "xml" else SKIP
    if last == "XML_DTD_ENTITY":
        # the replacement text must be well-formed where the entity is used
        return SKIP if any(c in value for c in "&<") else value.replace("%", "&#37;").replace('"', "&#34;")
    if last == "XML_COMMENT":
        return xmldoc.encode_comment(value)
    if last == "XML_PI":
        return value.replace("?>", "? >").strip(" \t\r\n")
    return value


def check_replace(points: Points, p: Point, value: str, expected: str | object | None = None) -> Points:
    """Replace ``p`` by ``value``, re-read the request from its bytes, and check that ``p`` holds
    ``expected`` (unless None) and that every unrelated point is exactly as it was. With SKIP the
    value breaks the structure around ``p`` (raw markup in an XML DTD): the replaced request must
    still be built and read, and there is nothing to compare."""
    new = reparse(points.replace(p, value))
    if expected is SKIP:
        return new
    if expected is not None:
        name = renamed(p, value, p)
        got = new.get(name)
        assert got is not None, f"{name} is gone after replacing it with {value!r}; points: {names(new)}"
        assert got.value == expected, f"{name}: {got.value!r} != {expected!r}"
    check_unrelated(points, p, value, new)
    return new


def shadowed(p: Point, value: str, q: Point) -> bool:
    """``p`` is a JSON key renamed to ``value``, and ``q`` is under a sibling key already named
    ``value``: the object now holds that key twice, and a reader keeps only one of the two."""
    if p.role is not Role.NAME or p.path[-1].parser != "HASH" or len(q.path) < len(p.path):
        return False
    return q.path[: len(p.path) - 1] == p.path[:-1] and q.path[len(p.path) - 1] == Step("HASH", value)


def check_unrelated(points: Points, p: Point, value: str, new: Points) -> None:
    twice = {q.name for q in points if shadowed(p, value, q)}  # names that now point at two places
    before = {renamed(p, value, q): q for q in points
              if (not related(p, q) or renamed(p, value, q) != q.name) and renamed(p, value, q) not in twice}
    for name, q in before.items():
        if name == renamed(p, value, p):
            continue
        got = new.get(name)
        assert got is not None, f"replacing {p.name} with {value!r} lost {name}; points: {names(new)}"
        assert got.value == q.value, f"replacing {p.name} with {value!r} changed {name}: {q.value!r} -> {got.value!r}"
    new_p = next((n for n in new if n.name == renamed(p, value, p)), p)
    for n in new:
        if n.name not in before and not related(new_p, n) and not related(p, n):
            raise AssertionError(f"replacing {p.name} with {value!r} made a new point {n.name}={n.value!r}")


def names(points: Iterable[Point]) -> list[str]:
    return [p.name for p in points]


def body_request(body: str | bytes, content_type: str | None, method: str = "POST", **headers: str) -> Request:
    """A POST to http://t.test/api with ``body`` and the given Content-Type."""
    pairs = [("Host", "t.test")]
    if content_type:
        pairs.append(("Content-Type", content_type))
    pairs += [(k.replace("_", "-"), v) for k, v in headers.items()]
    data = body.encode("utf-8", "surrogateescape") if isinstance(body, str) else body
    return Request.from_url("http://t.test/api", method, pairs, data)


def check_all(points: Points, value: str) -> None:
    """:func:`check_replace` for every point of ``points`` that ``value`` can be put into."""
    for p in points:
        expected = expected_value(p, value)
        if expected is not SKIP:
            check_replace(points, p, value, expected)
