"""Postman collections (v2.1, and v2.0 which differs only in how auth is written) into baselines.

Folders are walked depth first in document order. ``{{name}}`` variables are resolved from the
collection's ``variable`` list, then from ``--var name=value`` (which wins); a few dynamic
variables (``{{$guid}}``, ``{{$timestamp}}`` ...) get fixed plausible values so an import is
reproducible. A variable that stays unresolved is kept as written and warned about once; in the
host it is an error (there is no URL to build) unless ``--base-url`` gives the origin.
Auth (bearer, basic, API key, OAuth 2 access token) is inherited from folders and the collection.
Pre-request and test scripts are not run.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

from lunge.http.curl import FormPart, encode_multipart
from lunge.record.importers.build import (
    HTTP_SCHEMES,
    BaseUrl,
    make_request,
    parse_base_url,
    url_scheme,
    utf8,
)
from lunge.record.importers.doc import MAX_DEPTH, Node, kind_of, load_json
from lunge.record.importers.model import Imported, Item, Skipped

logger = logging.getLogger(__name__)

_VARIABLE = re.compile(r"\{\{([^{}]+?)\}\}")
_RAW_LANGUAGE_TYPES = {"json": "application/json", "xml": "application/xml", "html": "text/html",
                       "javascript": "application/javascript", "text": "text/plain"}
# Postman's dynamic variables, with fixed values: an import gives the same record every time.
_DYNAMIC = {
    "$guid": "9c8d7e6f-5a4b-4c3d-8e2f-1a0b9c8d7e6f", "$randomUUID": "9c8d7e6f-5a4b-4c3d-8e2f-1a0b9c8d7e6f",
    "$timestamp": "1700000000", "$isoTimestamp": "2023-11-14T22:13:20.000Z", "$randomInt": "42",
    "$randomEmail": "user@example.com", "$randomUserName": "lunge_user", "$randomFirstName": "Alex",
    "$randomLastName": "Doe", "$randomFullName": "Alex Doe", "$randomPassword": "Passw0rd!",
    "$randomPhoneNumber": "555-0100", "$randomBoolean": "true", "$randomWord": "lunge",
    "$randomIP": "192.0.2.10", "$randomUrl": "https://example.com", "$randomAlphaNumeric": "a",
}
_RESOLVE_PASSES = 10  # variables may refer to variables; a cycle stops here
_MAX_RESOLVED = 1 << 20  # characters one value may grow to while variables are resolved


class Variables:
    """``{{name}}`` resolution for one collection; warns once per unresolved name.

    >>> v = Variables({"host": "api.test", "url": "https://{{host}}/v1"}, "c.json")
    >>> v.resolve("{{url}}/users/{{id}}")
    ('https://api.test/v1/users/{{id}}', ['id'])
    """

    def __init__(self, values: Mapping[str, str], source: str) -> None:
        self.values = dict(values)
        self.source = source
        self.warned: set[str] = set()

    def resolve(self, text: str, where: str = "") -> tuple[str, list[str]]:
        """``text`` with every known variable replaced, and the names left unresolved."""
        missing: list[str] = []
        for _ in range(_RESOLVE_PASSES):
            if "{{" not in text:
                break
            new = _VARIABLE.sub(self._value, text)
            if new == text or len(new) > _MAX_RESOLVED:
                break  # nothing more to resolve, or variables that expand without end
            text = new
        for name in _VARIABLE.findall(text):
            name = name.strip()
            if name not in missing:
                missing.append(name)
            if name not in self.warned:
                self.warned.add(name)
                self._warn(name, where)
        return text, missing

    def _warn(self, name: str, where: str) -> None:
        if name in self.values:
            logger.warning("%s: variable {{%s}} refers to itself (first used at %s); it is kept as written",
                           self.source, name, where or "?")
        else:
            logger.warning("%s: variable {{%s}} is not defined (first used at %s); it is kept as written. "
                           "Define it with --var %s=VALUE", self.source, name, where or "?", name)

    def _value(self, match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if name in self.values:
            return self.values[name]
        if name in _DYNAMIC:
            return _DYNAMIC[name]
        return match.group(0)


@dataclass(slots=True)
class _Context:
    """What a request item needs from the collection: variables, inherited auth, the base URL."""

    variables: Variables
    base: BaseUrl | None
    notes: list[str]
    unresolved: list[str]

    def text(self, value: str, node: Node) -> str:
        resolved, missing = self.variables.resolve(value, node.where)
        self.unresolved.extend(m for m in missing if m not in self.unresolved)
        return resolved


def read_postman(text: str, source: str, *, base_url: str | None = None,
                 variables: Mapping[str, str] | None = None) -> Iterator[Item]:
    """The requests of a Postman collection, in folder order.

    ``variables`` override the collection's own; ``base_url`` rewrites every request's origin.
    Raises InputFileError (``item[2].item[0].request.url``: what is wrong).
    """
    base = parse_base_url(base_url)
    doc = load_json(text, source)
    doc.mapping()
    info = doc.get("info")
    if info.missing:
        if "requests" in doc.mapping():
            raise doc.fail("a Postman collection v1: export it again as Collection v2.1")
        raise doc.fail('no "info" object: this is not a Postman collection (v2.1)')
    schema = info.mapping().get("schema")
    if isinstance(schema, str) and "/v1." in schema:
        raise info.get("schema").fail("a Postman collection v1: export it again as Collection v2.1")
    values = _collection_variables(doc.get("variable"))
    values.update(variables or {})
    yield from _items(doc.get("item"), Variables(values, source), doc.get("auth"), base, 0)


def _collection_variables(node: Node) -> dict[str, str]:
    values: dict[str, str] = {}
    for var in node.items():
        var.mapping()
        if var.get("disabled").flag():
            continue
        key = var.get("key") if not var.get("key").missing else var.get("id")
        values[key.text()] = var.get("value").scalar_text()
    return values


def _items(node: Node, variables: Variables, auth: Node, base: BaseUrl | None, depth: int) -> Iterator[Item]:
    if depth > MAX_DEPTH:
        raise node.fail("folders are nested too deeply")
    if node.missing:
        return
    for item in node.items():
        item.mapping()
        own_auth = item.get("auth")
        inherited = auth if own_auth.missing or _auth_type(own_auth) == "inherit" else own_auth
        if not item.get("item").missing:
            yield from _items(item.get("item"), variables, inherited, base, depth + 1)
        elif not item.get("request").missing:
            yield _request_item(item, _Context(variables, base, [], []), inherited)
        else:
            yield Skipped(item.where, "neither a request nor a folder")


def _request_item(item: Node, ctx: _Context, auth: Node) -> Item:
    req = item.get("request")
    if isinstance(req.value, str):
        url_node, method, header_node, body_node = req, "GET", Node(None, "", req.source), Node(None, "", req.source)
    else:
        req.mapping()
        url_node, header_node, body_node = req.get("url"), req.get("header"), req.get("body")
        method = ctx.text(req.get("method").text("GET"), req.get("method"))
        own_auth = req.get("auth")
        if not own_auth.missing and _auth_type(own_auth) != "inherit":
            auth = own_auth
    url = _url(url_node, ctx).partition("#")[0]
    scheme = url_scheme(url)
    if scheme and scheme not in HTTP_SCHEMES and "://" in url:
        return Skipped(url_node.where, f"not an HTTP request ({scheme} scheme): {url[:100]!r}")
    headers = _headers(header_node, ctx)
    body, content_type = _body(body_node, ctx)
    if content_type and (content_type.startswith("multipart/") or
                         not any(k.lower() == "content-type" for k, _ in headers)):
        headers = [(k, v) for k, v in headers if k.lower() != "content-type"] + [("Content-Type", content_type)]
    headers, url = _apply_auth(auth, headers, url, ctx)
    url = _origin(url, url_node, ctx)
    request = make_request(req, url, method, headers, body)
    if ctx.base is not None:
        request = ctx.base.move(request)
    if ctx.unresolved:
        ctx.notes.append("unresolved variables kept as written: " + ", ".join(_braced(n) for n in ctx.unresolved))
    return Imported(request, None, "; ".join(ctx.notes), item.where)


def _braced(name: str) -> str:
    return "{{" + name + "}}"


# ---------------------------------------------------------------------- URL
def _url(node: Node, ctx: _Context) -> str:
    """The URL of a request (string or object form), variables resolved, path variables filled."""
    if isinstance(node.value, str) or node.missing:
        return _path_variables(ctx.text(node.text(), node), {})
    if not isinstance(node.value, dict):
        raise node.fail(f"expected a URL string or an object, found {kind_of(node.value)}")
    node.mapping()
    path_vars = {k: ctx.text(v, node) for k, v in _key_values(node.get("variable")).items()}
    host = node.get("host")
    if host.missing:
        return _path_variables(ctx.text(node.get("raw").text(), node.get("raw")), path_vars)
    return _structured_url(node, ctx, path_vars)


def _structured_url(node: Node, ctx: _Context, path_vars: dict[str, str]) -> str:
    host = ".".join(ctx.text(p.scalar_text(), p) for p in _parts(node.get("host"), "."))
    protocol = node.get("protocol").text("")
    if not protocol:
        raw_scheme = url_scheme(node.get("raw").text("")) if isinstance(node.get("raw").value, str) else ""
        protocol = raw_scheme if raw_scheme in HTTP_SCHEMES else ""
    port = ctx.text(node.get("port").scalar_text(), node.get("port"))
    segments = [_segment(p, ctx, path_vars) for p in _parts(node.get("path"), "/")]
    query = [_query_pair(q, ctx) for q in node.get("query").items()]
    url = (f"{protocol}://" if protocol else "") + host + (f":{port}" if port else "")
    url += "/" + "/".join(segments)
    enabled = [pair for pair in query if pair is not None]
    return url + ("?" + "&".join(enabled) if enabled else "")


def _parts(node: Node, separator: str) -> list[Node]:
    """``host`` and ``path`` are a string (split on ``separator``) or an array of strings."""
    if isinstance(node.value, str):
        pieces = node.value.strip(separator).split(separator) if node.value else []
        return [Node(piece, node.where, node.source) for piece in pieces]
    return node.items()


def _segment(part: Node, ctx: _Context, path_vars: dict[str, str]) -> str:
    if part.is_mapping():  # {"type": "string", "value": ":id"}
        part = part.get("value")
    text = ctx.text(part.scalar_text(), part)
    if text.startswith(":") and text[1:] in path_vars:
        return quote(path_vars[text[1:]], safe="")
    return text


def _query_pair(query: Node, ctx: _Context) -> str | None:
    query.mapping()
    if query.get("disabled").flag():
        return None
    key = ctx.text(query.get("key").scalar_text(), query.get("key"))
    value = query.get("value")
    if value.missing:
        return key
    return f"{key}={ctx.text(value.scalar_text(), value)}"


def _path_variables(url: str, path_vars: Mapping[str, str]) -> str:
    """``/users/:id`` with ``id`` filled in (the raw form of a URL)."""
    if not path_vars:
        return url
    head, sep, query = url.partition("?")

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        return "/" + quote(path_vars[name], safe="") if name in path_vars else match.group(0)

    return re.sub(r"/:([A-Za-z0-9_.-]+)", fill, head) + sep + query


def _origin(url: str, node: Node, ctx: _Context) -> str:
    """``url`` with a scheme; an unresolved variable in its host is replaced by ``--base-url``'s
    origin, or is an error (there is no URL to send to)."""
    scheme = url_scheme(url)
    rest = url[len(scheme) + 3 :] if scheme and url[len(scheme) :].startswith("://") else url
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    if "{{" in authority:
        if ctx.base is None:
            names = ", ".join(_braced(n.strip()) for n in _VARIABLE.findall(authority))
            raise node.fail(f"the host uses undefined variable {names}: pass --var NAME=VALUE or --base-url URL")
        return ctx.base.origin + (tail if tail.startswith("/") else "/" + tail)
    if not authority:
        raise node.fail(f"no host in URL {url[:100]!r}")
    return f"{scheme or 'http'}://{authority}{tail}"


# ---------------------------------------------------------------------- headers, body, auth
def _key_values(node: Node) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in node.items():
        item.mapping()
        if not item.get("disabled").flag():
            values[item.get("key").scalar_text()] = item.get("value").scalar_text()
    return values


def _headers(node: Node, ctx: _Context) -> list[tuple[str, str]]:
    if isinstance(node.value, str):  # the string form: "Name: value\nName2: value2"
        lines = [line.partition(":") for line in node.value.splitlines() if line.strip()]
        return [(ctx.text(k.strip(), node), ctx.text(v.strip(), node)) for k, _, v in lines]
    headers: list[tuple[str, str]] = []
    for header in node.items():
        header.mapping()
        if header.get("disabled").flag():
            continue
        name = ctx.text(header.get("key").text(), header.get("key"))
        headers.append((name.strip(), ctx.text(header.get("value").scalar_text(), header.get("value"))))
    return headers


def _body(node: Node, ctx: _Context) -> tuple[bytes, str | None]:
    """The body and the Content-Type it implies (None: the request's own header decides)."""
    if node.missing:
        return b"", None
    node.mapping()
    if node.get("disabled").flag():
        return b"", None
    mode = node.get("mode").text("")
    if mode == "raw":
        language = node.get("options").get("raw").get("language").text("text") \
            if node.get("options").is_mapping() else "text"
        text = ctx.text(node.get("raw").scalar_text(), node.get("raw"))
        return utf8(text), _RAW_LANGUAGE_TYPES.get(language.lower(), "text/plain")
    if mode == "urlencoded":
        pairs = [(ctx.text(k, node), ctx.text(v, node)) for k, v in _key_values(node.get("urlencoded")).items()]
        body = "&".join(f"{quote_plus(utf8(k))}={quote_plus(utf8(v))}" for k, v in pairs)
        return body.encode("ascii"), "application/x-www-form-urlencoded"
    if mode == "formdata":
        parts = [p for p in (_form_part(f, ctx) for f in node.get("formdata").items()) if p is not None]
        return encode_multipart(parts)
    if mode == "graphql":
        return _graphql(node.get("graphql"), ctx), "application/json"
    if mode == "file":
        ctx.notes.append("the body comes from a file the collection does not hold: it is left empty")
        return b"", None
    if mode:
        ctx.notes.append(f"body mode {mode!r} is not supported: the body is left empty")
    return b"", None


def _form_part(field: Node, ctx: _Context) -> FormPart | None:
    field.mapping()
    if field.get("disabled").flag():
        return None
    name = ctx.text(field.get("key").scalar_text(), field.get("key"))
    content_type = field.get("contentType").optional_text()
    if field.get("type").text("text") != "file":
        return FormPart(name, utf8(ctx.text(field.get("value").scalar_text(), field.get("value"))),
                        content_type=content_type or None)
    src = field.get("src").value
    path = src[0] if isinstance(src, list) and src and isinstance(src[0], str) else src if isinstance(src, str) else ""
    filename = path.replace("\\", "/").rsplit("/", 1)[-1] or "file"
    ctx.notes.append(f"the file of form field {name!r} is not in the collection: it is left empty")
    return FormPart(name, b"", filename, content_type or "application/octet-stream")


def _graphql(node: Node, ctx: _Context) -> bytes:
    query = ctx.text(node.get("query").scalar_text(), node.get("query"))
    raw_vars = ctx.text(node.get("variables").scalar_text(), node.get("variables")).strip()
    variables: object = {}
    if raw_vars:
        try:
            variables = json.loads(raw_vars)
        except (ValueError, RecursionError):
            ctx.notes.append("the GraphQL variables are not valid JSON: they are left out")
    return json.dumps({"query": query, "variables": variables}, ensure_ascii=False).encode("utf-8")


def _auth_type(auth: Node) -> str:
    if not auth.is_mapping():
        raise auth.fail("expected an object with a type")
    return auth.get("type").text("noauth").strip().lower()


def _auth_params(auth: Node, kind: str, ctx: _Context) -> dict[str, str]:
    """v2.1 writes ``"bearer": [{"key": "token", "value": ..}]``, v2.0 ``"bearer": {"token": ..}``."""
    node = auth.get(kind)
    if node.is_mapping():
        return {k: ctx.text(v.scalar_text(), v) for k, v in node.members() if not v.is_mapping()}
    return {k: ctx.text(v, node) for k, v in _key_values(node).items()}


def _apply_auth(auth: Node, headers: list[tuple[str, str]], url: str,
                ctx: _Context) -> tuple[list[tuple[str, str]], str]:
    if auth.missing:
        return headers, url
    kind = _auth_type(auth)
    if kind in ("noauth", "inherit"):
        return headers, url
    params = _auth_params(auth, kind, ctx)
    has_auth = any(k.lower() == "authorization" for k, _ in headers)
    if kind == "bearer" and not has_auth:
        return [*headers, ("Authorization", f"Bearer {params.get('token', '')}")], url
    if kind == "basic" and not has_auth:
        token = base64.b64encode(utf8(f"{params.get('username', '')}:{params.get('password', '')}")).decode()
        return [*headers, ("Authorization", f"Basic {token}")], url
    if kind == "oauth2" and not has_auth:
        prefix = params.get("headerPrefix", "Bearer").strip()
        return [*headers, ("Authorization", f"{prefix} {params.get('accessToken', '')}".strip())], url
    if kind == "apikey":
        key, value = params.get("key", "api_key"), params.get("value", "")
        if params.get("in", "header") == "query":
            return headers, url + ("&" if "?" in url else "?") + f"{quote(key, safe='')}={quote(value, safe='')}"
        return [*headers, (key, value)], url
    if kind not in ("bearer", "basic", "oauth2"):
        ctx.notes.append(f"auth type {kind!r} is not applied")
    return headers, url
