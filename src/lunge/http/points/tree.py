"""Turning a request into its points, and rebuilding it with new values.

A request has three roots: the request target, each header value, and the body. Parsers find the
values inside each root (a query parameter inside the target, a JSON field inside the body); each
value found may itself be decoded (base64, a JWT, JSON inside a form field) and searched again, to
any depth. Every node remembers its span inside its parent, so rebuilding with a new value is a
chain of string splices from the leaf up to its root: nothing that was not touched is re-encoded,
and an untouched request rebuilds to the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from lunge.http.headers import wire_bytes
from lunge.http.message import Request
from lunge.http.points import body as body_parsers
from lunge.http.points import decoders, header, uri
from lunge.http.points.model import Leaf, Point, Role, Step, point_name

MAX_DEPTH = 8  # nesting deeper than this is not searched (base64 of base64 of ... ends somewhere)


class _RootKind(Enum):
    TARGET = "target"
    HEADER = "header"
    BODY = "body"


@dataclass(slots=True, eq=False)
class _Node:
    path: tuple[Step, ...]
    value: str
    span: tuple[int, int]
    leaf: Leaf | None
    parent: _Node | None
    root_kind: _RootKind | None = None
    header_index: int = -1
    depth: int = 0
    label: str = ""  # the point name without its service word, built once per node


class Points(Sequence[Point]):
    """The insertion points of one request, ready to build variants quickly.

    Parsing happens once; :meth:`replace` then only splices strings, so building many variants of
    the same request is cheap.

    >>> req = Request.from_url("http://t.test/u?id=5&q=a%20b")
    >>> pts = parse(req)
    >>> [p.name for p in pts if p.family == "GET"]
    ['GET_id_value', 'GET_q_value']
    >>> pts.replace("GET_q_value", "x&y").target
    '/u?id=5&q=x%26y'
    """

    __slots__ = ("_by_name", "_nodes", "_points", "request")

    def __init__(self, request: Request) -> None:
        self.request = request
        self._points: list[Point] = []
        self._nodes: list[_Node] = []
        self._by_name: dict[str, int] = {}
        for root, leaves in _roots(request):
            self._expand(root, leaves)

    # ------------------------------------------------------------------ Sequence
    def __len__(self) -> int:
        return len(self._points)

    def __getitem__(self, index: int) -> Point:  # type: ignore[override]
        return self._points[index]

    def __iter__(self) -> Iterator[Point]:
        return iter(self._points)

    def get(self, name: str) -> Point | None:
        """The point called ``name``, or None."""
        i = self._by_name.get(name)
        return None if i is None else self._points[i]

    # ------------------------------------------------------------------ rebuilding
    def replace(self, point: Point | str, value: str, *, raw: bool = False) -> Request:
        """A new request with ``point``'s value replaced by ``value``.

        ``value`` is a decoded value: it is encoded for its place (JSON-escaped, percent-encoded,
        re-base64'd, ...) and every enclosing layer is re-encoded. With ``raw=True`` the value is
        spliced in as written, without the point's own encoding (to put an object where a JSON
        string was, or markup into XML); enclosing layers are still re-encoded.
        """
        # One point (every attack): walk up its ancestors, re-encoding each layer, without the
        # level-by-level bookkeeping replace_many needs for several points.
        node = self._node(point)
        text = _encoded(node, value, raw)
        parent = node.parent
        assert parent is not None
        while parent.parent is not None:
            start, end = node.span
            text = _encoded(parent, parent.value[:start] + text + parent.value[end:], raw=False)
            node, parent = parent, parent.parent
        start, end = node.span
        return _rebuild(self.request, {parent: parent.value[:start] + text + parent.value[end:]})

    def replace_many(self, values: Mapping[Point | str, str], *, raw: bool = False) -> Request:
        """A new request with several points replaced at once (see :meth:`replace`).

        Raises ValueError when two of the points overlap (a point and one inside it, or ``URI``
        and a query parameter).
        """
        pending: dict[_Node, str] = {}
        for key, value in values.items():
            node = self._node(key)
            pending[node] = _encoded(node, value, raw)
        roots: dict[_Node, str] = {}
        while pending:
            depth = max(n.depth for n in pending)
            level = [n for n in pending if n.depth == depth]
            by_parent: dict[_Node, list[_Node]] = {}
            for node in level:
                assert node.parent is not None
                by_parent.setdefault(node.parent, []).append(node)
            for parent, children in by_parent.items():
                new_value = _splice(parent.value, [(c.span, pending[c]) for c in children])
                for child in children:
                    del pending[child]
                if parent.parent is None:
                    roots[parent] = new_value
                elif parent in pending:
                    raise ValueError(f"points overlap: {_describe(parent)} contains another point")
                else:
                    pending[parent] = _encoded(parent, new_value, raw=False)
        return _rebuild(self.request, roots)

    def _node(self, key: Point | str) -> _Node:
        name = key if isinstance(key, str) else key.name
        i = self._by_name.get(name)
        if i is None:
            raise KeyError(f"no point {name!r} in this request")
        return self._nodes[i]

    # ------------------------------------------------------------------ parsing
    def _expand(self, parent: _Node, leaves: list[Leaf]) -> None:
        # Runs once per value of the request: kept lean (positional _Node, the prefix built once).
        depth = parent.depth + 1
        prefix = parent.label + "_" if parent.label else ""
        for leaf in leaves:
            label = prefix + "_".join([s.label for s in leaf.steps])
            node = _Node(parent.path + leaf.steps, leaf.value, leaf.span, leaf, parent, None, -1, depth, label)
            if leaf.point:
                self._add_point(node, leaf)
            if leaf.children is not None:
                self._expand(node, leaf.children)
            elif leaf.nested and node.depth < MAX_DEPTH:
                inner = decoders.decode(leaf.value)
                if inner:
                    self._expand(node, inner)

    def _add_point(self, node: _Node, leaf: Leaf) -> None:
        name = f"{node.label}_{leaf.role.value}"  # point_name(node.path, leaf.role), without re-joining
        if name in self._by_name:
            return  # the first of identical addresses wins; parsers index duplicates to avoid this
        self._by_name[name] = len(self._points)
        self._points.append(Point(name, node.path, leaf.value, leaf.kind, leaf.role))
        self._nodes.append(node)


def parse(request: Request) -> Points:
    """All insertion points of ``request``. Never raises on malformed content: a part that does
    not parse simply has no sub-points, and its raw value stays a point."""
    return Points(request)


def replace(request: Request, point: Point | str, value: str, *, raw: bool = False) -> Request:
    """Shorthand for ``parse(request).replace(point, value)``; parse once when building many."""
    return parse(request).replace(point, value, raw=raw)


# ---------------------------------------------------------------------- roots
# Points see every part of a request as text decoded from its wire bytes as UTF-8; bytes that are
# not UTF-8 become lone surrogates U+DC80..U+DCFF (Python's surrogateescape) and go back out as the
# same bytes. The request line and headers are held as latin-1 views of their bytes (see
# lunge.http.headers), hence the two conversions below.
def _roots(request: Request) -> Iterator[tuple[_Node, list[Leaf]]]:
    target = wire_text(request.target)
    yield _Node((), target, (0, 0), None, None, _RootKind.TARGET), uri.parse_target(target)
    for i, (name, raw) in enumerate(request.headers):
        value = wire_text(raw)
        leaves = header.parse_header(name, value, request.headers, i)
        if leaves:
            yield _Node((), value, (0, 0), None, None, _RootKind.HEADER, i), leaves
    if request.body:
        text = request.body.decode("utf-8", "surrogateescape")
        yield _Node((), text, (0, 0), None, None, _RootKind.BODY), body_parsers.parse_body(
            text, request.headers
        )


def _rebuild(request: Request, roots: dict[_Node, str]) -> Request:
    target, headers, body = request.target, request.headers, request.body
    for root, value in roots.items():
        if root.root_kind is _RootKind.TARGET:
            target = to_latin1(value)
        elif root.root_kind is _RootKind.HEADER:
            headers = headers.replace_at(root.header_index, to_latin1(value))
        else:
            body = utf8_bytes(value)
    # The constructor, not dataclasses.replace: one request is rebuilt per attack.
    return Request(request.method, request.scheme, request.host, request.port, target, request.http_version,
                   headers, body)


def wire_text(latin1: str) -> str:
    """The UTF-8 reading of a latin-1 view of wire bytes (see above).

    >>> wire_text("caf\xc3\xa9"), wire_text("\xe9")
    ('café', '\udce9')
    """
    if latin1.isascii():
        return latin1
    return wire_bytes(latin1).decode("utf-8", "surrogateescape")


def to_latin1(text: str) -> str:
    """The latin-1 view of the UTF-8 bytes of ``text`` (the inverse of :func:`wire_text`).

    >>> to_latin1("a\u00e9\u4e2d")
    'a\xc3\xa9\xe4\xb8\xad'
    """
    if text.isascii():
        return text
    return utf8_bytes(text).decode("latin-1")


def utf8_bytes(text: str) -> bytes:
    """``text`` as UTF-8, surrogate-escaped bytes restored. Other lone surrogates (a JSON ``\\ud800``
    escape decoded and written back) cannot be UTF-8: they are written as their 3-byte form."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return b"".join(_char_bytes(ch) for ch in text)


def _char_bytes(ch: str) -> bytes:
    if "\udc80" <= ch <= "\udcff":
        return bytes([ord(ch) - 0xDC00])
    return ch.encode("utf-8", "surrogatepass")


def _encoded(node: _Node, value: str, raw: bool) -> str:
    """The text that replaces ``node``'s span for ``value``. An unchanged value keeps its original
    text, so a no-op rebuild is byte-identical even where re-encoding would differ (JSON escapes,
    base64 padding, gzip headers)."""
    assert node.parent is not None and node.leaf is not None
    if value == node.value:
        start, end = node.span
        return node.parent.value[start:end]
    return value if raw else node.leaf.encode(value)


def _splice(text: str, parts: list[tuple[tuple[int, int], str]]) -> str:
    """``text`` with each ``(start, end)`` span replaced by its new text; spans must not overlap
    (an empty span, an insertion place, may touch its neighbours)."""
    parts.sort(key=lambda p: p[0])
    for ((_, a_end), _), ((b_start, _), _) in zip(parts, parts[1:], strict=False):
        if b_start < a_end:
            raise ValueError("points overlap: two replaced values share characters")
    out: list[str] = []
    pos = 0
    for (start, end), new in parts:
        out.append(text[pos:start])
        out.append(new)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _describe(node: _Node) -> str:
    return point_name(node.path, node.leaf.role if node.leaf else Role.VALUE)
