"""Hypothesis strategies for the HTTP layer: *valid* structured inputs per format (so the parsers
are exercised past their "is this JSON?" gate), the layers that wrap them, whole requests, and the
hostile values a check puts into a point.

Each structured strategy draws a document and the values it holds, so a test can compare what the
parser found with what was written.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

from lunge.http import Headers, Request
from lunge.http.points.tree import to_latin1

# Element names: letters, digits and '-' only. '_' is the separator of point names, so a key such
# as "a_HASH_b" could print like the path a -> HASH b; real traffic has such keys, generated data
# keeps names unambiguous so a test can look every point up by name.
names = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,7}", fullmatch=True)

# Any text a check may put in a point: quotes, separators, markup, unicode, controls.
HOSTILE = "'\"&=;<>]]>[]{}()%+#?/\\ \t\r\n\x00\x01\x7f\u00e9\u4e2d\U0001f600-_.,:@$!*`|^~"
hostile_text = st.text(
    alphabet=st.one_of(st.sampled_from(HOSTILE), st.characters(exclude_categories=("Cs",))), max_size=24
)
# Text an XML 1.0 document can hold (no C0 controls but tab, LF, CR; no U+FFFE/FFFF).
xml_chars = st.characters(
    exclude_categories=("Cs",), exclude_characters="".join(chr(c) for c in range(32) if c not in (9, 10, 13))
    + "\ufffe\uffff",
)
xml_text = st.text(alphabet=st.one_of(st.sampled_from("'\"&<>]]>;= \t\r\n\u00e9\u4e2d"), xml_chars), max_size=20)
# Plain words, as most recorded values are.
words = st.from_regex(r"[A-Za-z0-9 .@-]{0,12}", fullmatch=True)

# ---------------------------------------------------------------------- query strings and forms
QUERY_SAFE = ("", "/:@", "-._~!$'()*,/:@")


@dataclass(frozen=True)
class Pairs:
    """An ``&``-joined text and the (key as written, decoded value or None for a bare key) pairs."""

    text: str
    pairs: tuple[tuple[str, str | None], ...]


@st.composite
def query_strings(draw: st.DrawFn, min_size: int = 0) -> Pairs:
    """Query strings / form bodies with repeated keys, ``a[]=`` lists, ``a[b]=`` maps and bare keys."""
    keys: list[str] = []
    for _ in range(draw(st.integers(min_size, 6))):
        base = draw(names)
        shape = draw(st.sampled_from(["plain", "plain", "repeat", "list", "map", "map-list"]))
        if shape == "repeat":
            keys += [base] * draw(st.integers(2, 3))
        elif shape == "list":
            keys += [f"{base}[]"] * draw(st.integers(1, 3))
        elif shape == "map":
            keys.append(f"{base}[{draw(names)}]")
        elif shape == "map-list":
            keys += [f"{base}[{draw(names)}][]"] * draw(st.integers(1, 2))
        else:
            keys.append(base)
    keys = _unique_shapes(keys)
    pairs: list[tuple[str, str | None]] = []
    for key in keys:
        bare = draw(st.integers(0, 9)) == 0
        pairs.append((key, None if bare else draw(hostile_text)))
    chunks = []
    for key, value in pairs:
        if value is None:
            chunks.append(key)
            continue
        encoded = quote(value, safe=draw(st.sampled_from(QUERY_SAFE)))
        if draw(st.booleans()):
            encoded = encoded.replace("%20", "+")
        chunks.append(f"{key}={encoded}")
    return Pairs("&".join(chunks), tuple(pairs))


def _unique_shapes(keys: list[str]) -> list[str]:
    """Drop repeats of a map key (``a[x]`` twice would be one point name twice); every other mix of
    shapes (``a``, ``a`` again, ``a[]``, ``a[x]``, ``a[x][]``) gives distinct names."""
    seen: set[str] = set()
    out = []
    for key in keys:
        if "[" in key and not key.endswith("[]"):
            if key in seen:
                continue
            seen.add(key)
        out.append(key)
    return out


# ---------------------------------------------------------------------- cookies
cookie_values = st.text(
    alphabet=st.characters(exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), exclude_characters=";,\\\""),
    max_size=16,
)


@st.composite
def cookie_headers(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]]]:
    """A Cookie header value and its pairs (repeated names included)."""
    cookies = draw(st.lists(st.tuples(names, cookie_values), min_size=1, max_size=5))
    if draw(st.booleans()):
        cookies.append(cookies[0])
    separator = draw(st.sampled_from(["; ", ";"]))
    return separator.join(f"{k}={v}" for k, v in cookies), cookies


# ---------------------------------------------------------------------- JSON
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=32), hostile_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(names, inner, max_size=4),
    max_leaves=16,
)
json_containers = st.one_of(st.dictionaries(names, json_values, min_size=1, max_size=5),
                            st.lists(json_values, min_size=1, max_size=4))


@st.composite
def json_documents(draw: st.DrawFn) -> tuple[str, Any]:
    """A JSON text (varied formatting and escaping) and the document it holds."""
    doc = draw(json_containers)
    indent = draw(st.sampled_from([None, 2, "\t"]))
    separators = draw(st.sampled_from([None, (",", ":"), (", ", " : ")])) if indent is None else None
    text = json.dumps(doc, indent=indent, separators=separators, ensure_ascii=draw(st.booleans()))
    return text, doc


# ---------------------------------------------------------------------- XML
def _xml_escape(text: str, quote_char: str | None = None) -> str:
    out = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    if quote_char:
        out = out.replace(quote_char, "&quot;" if quote_char == '"' else "&apos;")
        out = out.replace("\t", "&#9;").replace("\n", "&#10;")
    return out


@st.composite
def xml_elements(draw: st.DrawFn, depth: int = 0) -> str:
    name = draw(st.sampled_from(["a", "b", "item", "soap:Body", "x-y"]) | names)
    attrs = draw(st.dictionaries(names, xml_text, max_size=2))
    attr_text = ' xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"' if name.startswith("soap:") else ""
    for key, value in attrs.items():
        quote_char = draw(st.sampled_from(['"', "'"]))
        attr_text += f" {key}={quote_char}{_xml_escape(value, quote_char)}{quote_char}"
    kind = draw(st.sampled_from(["text", "cdata", "empty", "self", "children"] if depth < 3 else ["text", "cdata"]))
    if kind == "self":
        return f"<{name}{attr_text}/>"
    if kind == "text":
        value = draw(xml_text.filter(lambda t: t.strip(" \t\r\n") == t))
        inner = _xml_escape(value)
    elif kind == "cdata":
        inner = "<![CDATA[" + draw(xml_text).replace("]]>", "]]]]><![CDATA[>") + "]]>"
    elif kind == "empty":
        inner = ""
    else:
        parts = []
        for _ in range(draw(st.integers(1, 3))):
            parts.append(draw(xml_elements(depth + 1)))
            if draw(st.integers(0, 4)) == 0:
                parts.append("<!--" + draw(words).replace("-", "") + "-->")
            if draw(st.integers(0, 6)) == 0:
                parts.append("<?pi " + draw(words) + "?>")
        sep = draw(st.sampled_from(["", "\n  "]))
        inner = sep + sep.join(parts) + sep.replace("  ", "")
    return f"<{name}{attr_text}>{inner}</{name}>"


@st.composite
def xml_documents(draw: st.DrawFn) -> str:
    """A well-formed XML document: declaration, DOCTYPE with entities, comments and PIs optional."""
    prolog = ""
    if draw(st.booleans()):
        prolog += '<?xml version="1.0" encoding="UTF-8"?>\n'
    if draw(st.integers(0, 3)) == 0:
        prolog += '<!DOCTYPE r [<!ENTITY e "' + draw(words) + '">]>\n'
    if draw(st.integers(0, 3)) == 0:
        prolog += "<!-- " + draw(words).replace("-", "") + " -->\n"
    return prolog + draw(xml_elements())


# ---------------------------------------------------------------------- GraphQL
graphql_names = st.from_regex(r"[a-z][A-Za-z0-9]{0,6}", fullmatch=True).filter(
    lambda n: n not in ("query", "mutation", "subscription", "fragment", "on", "true", "false", "null")
)


@st.composite
def graphql_values(draw: st.DrawFn, depth: int = 0) -> str:
    kinds = ["int", "string", "enum", "bool", "var"] + (["list", "object"] if depth < 2 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "int":
        return str(draw(st.integers(-1000, 10**6)))
    if kind == "string":
        return json.dumps(draw(hostile_text), ensure_ascii=draw(st.booleans()))
    if kind == "enum":
        return draw(st.from_regex(r"[A-Z][A-Z_]{0,5}", fullmatch=True))
    if kind == "bool":
        return draw(st.sampled_from(["true", "false", "null"]))
    if kind == "var":
        return "$" + draw(graphql_names)
    if kind == "list":
        return "[" + ", ".join(draw(st.lists(graphql_values(depth + 1), max_size=3))) + "]"
    fields = draw(st.dictionaries(graphql_names, graphql_values(depth + 1), max_size=3))
    return "{" + ", ".join(f"{k}: {v}" for k, v in fields.items()) + "}"


@st.composite
def graphql_selections(draw: st.DrawFn, depth: int = 0) -> str:
    fields = draw(st.lists(graphql_names, min_size=1, max_size=3, unique=True))
    out = []
    for field in fields:
        text = field
        if draw(st.integers(0, 4)) == 0:
            text = f"{field}: {draw(graphql_names)}"
        args = draw(st.dictionaries(graphql_names, graphql_values(), max_size=3))
        if args:
            text += "(" + ", ".join(f"{k}: {v}" for k, v in args.items()) + ")"
        if depth < 2 and draw(st.booleans()):
            text += " " + draw(graphql_selections(depth + 1))
        out.append(text)
    return "{ " + " ".join(out) + " }"


@st.composite
def graphql_documents(draw: st.DrawFn) -> str:
    """A GraphQL query: anonymous or named with variable definitions; arguments of every kind."""
    selection = draw(graphql_selections())
    if draw(st.booleans()):
        return selection
    op = draw(st.sampled_from(["query", "mutation"]))
    return f"{op} Op($id: ID = 1, $n: [Int!]) {selection}"


# ---------------------------------------------------------------------- layers
def b64(text: str, *, urlsafe: bool = False, padded: bool = True) -> str:
    data = text.encode()
    out = (base64.urlsafe_b64encode(data) if urlsafe else base64.b64encode(data)).decode()
    return out if padded else out.rstrip("=")


def jwt(payload: dict[str, Any], header: dict[str, Any] | None = None, signature: str = "c2lnbmF0dXJl") -> str:
    parts = [header or {"alg": "HS256", "typ": "JWT"}, payload]
    return ".".join(b64(json.dumps(p), urlsafe=True, padded=False) for p in parts) + "." + signature


json_objects = st.dictionaries(names, st.one_of(st.integers(0, 999), words, st.booleans()), min_size=1, max_size=4)


@st.composite
def wrapped_json(draw: st.DrawFn) -> tuple[str, list[str], dict[str, Any]]:
    """A JSON object wrapped in one to three layers (base64 standard / URL-safe, URL-encoding,
    JWT payload), innermost first; returns the text, the layer names outermost first, and the
    object."""
    obj = draw(json_objects)
    text = json.dumps(obj)
    layers: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        layer = draw(st.sampled_from(["BASE64", "BASE64-URLSAFE", "URL"] + ([] if layers else ["JWT"])))
        if layer == "JWT":
            if not text.startswith("{"):
                continue
            text = jwt(json.loads(text))
        elif layer == "URL":
            if layers:
                # URL-encoding is a layer only while the text has something to escape: around JSON
                # it always has, around base64 or a JWT only by chance (see test_encoded)
                continue
            text = quote(text, safe="")
        else:
            text = b64(text, urlsafe=layer.endswith("URLSAFE"), padded=draw(st.booleans()))
            layer = "BASE64"
        layers.insert(0, layer)
    return text, layers, obj


# ---------------------------------------------------------------------- requests
@st.composite
def requests(draw: st.DrawFn) -> Request:
    """A realistic request: path, query, ordinary headers, cookies (one wrapping JSON), an
    Authorization JWT, and a body in one of the structured formats."""
    segments = draw(st.lists(names, max_size=3))
    action = draw(st.sampled_from(["", "x", "user.json", "a.tar.gz", "index.php"]))
    target = "/" + "/".join([*segments, action])
    query = draw(query_strings())
    if query.text:
        target += "?" + query.text
    headers = [("Host", "t.test"), ("User-Agent", "lunge-tests/1.0"), ("Accept", "*/*")]
    if draw(st.booleans()):
        headers.append(("Authorization", "Bearer " + jwt(draw(json_objects))))
    if draw(st.booleans()):
        cookie, _ = draw(cookie_headers())
        token, _, _ = draw(wrapped_json())
        headers.append(("Cookie", f"{cookie}; state={token}"))
    body, content_type = draw(bodies())
    if content_type:
        headers.append(("Content-Type", content_type))
    method = "POST" if body else draw(st.sampled_from(["GET", "DELETE"]))
    # Headers hold latin-1 views of wire bytes; a client sends text as UTF-8
    fields = [(k, to_latin1(v)) for k, v in headers]
    return Request(method, "http", "t.test", 80, target, "HTTP/1.1", Headers(fields), body)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, str | None]:
    kind = draw(st.sampled_from(["none", "json", "form", "xml", "multipart", "graphql", "gzip-json", "text"]))
    if kind == "none":
        return b"", None
    if kind == "json":
        return draw(json_documents())[0].encode(), "application/json"
    if kind == "gzip-json":
        return gzip.compress(draw(json_documents())[0].encode(), mtime=0), "application/json"
    if kind == "form":
        return draw(query_strings(min_size=1)).text.encode(), "application/x-www-form-urlencoded"
    if kind == "xml":
        return draw(xml_documents()).encode(), "application/xml"
    if kind == "multipart":
        body, content_type, _ = draw(multipart_bodies())
        return body, content_type
    if kind == "graphql":
        doc = json.dumps({"query": draw(graphql_documents()), "variables": {"id": draw(st.integers(0, 99))}})
        return doc.encode(), "application/json"
    return draw(st.text(max_size=40)).encode(), "text/plain"


@st.composite
def multipart_bodies(draw: st.DrawFn) -> tuple[bytes, str, list[tuple[str, str, str | None]]]:
    """A multipart/form-data body, its Content-Type and its (name, value, filename) parts."""
    boundary = "----lunge" + draw(st.from_regex(r"[A-Za-z0-9]{8,16}", fullmatch=True))
    parts = draw(st.lists(
        st.tuples(names, hostile_text.filter(lambda v: boundary not in v),
                  st.none() | st.from_regex(r"[A-Za-z0-9 ._-]{1,12}", fullmatch=True)),
        min_size=1, max_size=4,
    ))
    out = []
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        head = f"Content-Disposition: {disposition}\r\n"
        if filename:
            head += "Content-Type: application/octet-stream\r\n"
        out.append(f"--{boundary}\r\n{head}\r\n{value}\r\n")
    text = "".join(out) + f"--{boundary}--\r\n"
    written = f'"{boundary}"' if draw(st.booleans()) else boundary
    content_type = f"multipart/form-data; boundary={written}"
    return text.encode(), content_type, parts


def fragments(*pieces: str, max_size: int = 30) -> st.SearchStrategy[str]:
    """Text made of these syntax fragments and arbitrary characters: near-valid input that reaches
    deep into a parser, which uniformly random text rarely does."""
    return st.lists(st.sampled_from(pieces) | st.text(max_size=2), max_size=max_size).map("".join)


def examples(n: int) -> int:
    """``n`` examples, scaled by LUNGE_HYPOTHESIS_SCALE (default 1) for a longer hunt, e.g.
    ``LUNGE_HYPOTHESIS_SCALE=20 pytest tests/http``."""
    return max(1, int(n * float(os.environ.get("LUNGE_HYPOTHESIS_SCALE", "1"))))
