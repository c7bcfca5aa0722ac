"""OpenAPI 3.0 and 3.1 documents (JSON or YAML) into baselines: one request per operation.

Operations come in document order (paths, then methods as written). Each request goes to the
first server of the operation, path or document (server variables take their defaults, or
``--var``), or to ``--base-url``: a base URL with only an origin keeps the server's path
(``http://127.0.0.1:8080`` + ``/api/v3``), one with a path replaces the server URL entirely.

Every parameter (path, query, header, cookie; required or not, since each is a point to test)
gets a value: its example, else one made from its schema (:mod:`.schema`), written in its style
(:mod:`.styles`). The body is written in the media type lunge reads best (:mod:`.bodies`).
Security schemes that apply get a placeholder credential (``LUNGE_PLACEHOLDER``, or the value of
``--var SCHEME_NAME=...``) so the point exists; a note says so.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from lunge.record.importers.bodies import encode_body, media_rank
from lunge.record.importers.build import HTTP_SCHEMES, BaseUrl, make_request, parse_base_url, url_scheme, utf8
from lunge.record.importers.doc import Node, load_yaml_or_json, plain
from lunge.record.importers.model import Imported, Item
from lunge.record.importers.schema import Resolver, Sampler
from lunge.record.importers.styles import DEFAULT_STYLES, cookie_pairs, header_value, path_value, query_pairs

PLACEHOLDER = "LUNGE_PLACEHOLDER"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Header parameters with these names are ignored (OpenAPI: they are described elsewhere).
_IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"})
_TEMPLATE = re.compile(r"\{([^{}/]+)\}")


@dataclass(slots=True)
class _Parts:
    """The pieces of one request while an operation is turned into it."""

    path: str
    query: list[str] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    cookies: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class _Document:
    root: Node
    resolver: Resolver
    base: BaseUrl | None
    variables: Mapping[str, str]


def read_openapi(text: str, source: str, *, base_url: str | None = None,
                 variables: Mapping[str, str] | None = None) -> Iterator[Item]:
    """One request per operation of an OpenAPI 3.0/3.1 document.

    ``variables`` give server variables and credentials by security scheme name. Raises
    InputFileError (``paths./users/{id}.get.parameters[0]``: what is wrong).
    """
    base = parse_base_url(base_url)
    root = load_yaml_or_json(text, source)
    _check_version(root)
    doc = _Document(root, Resolver(root), base, dict(variables or {}))
    for path, item in root.get("paths").members():
        if not path.startswith("/"):
            raise item.fail("a path must start with '/'")
        item = doc.resolver.deref(item)
        for method, operation in item.members():
            if method.lower() in METHODS:
                yield _operation(doc, path, item, method.upper(), operation)


def _check_version(root: Node) -> None:
    if not root.is_mapping():
        raise root.fail("not an OpenAPI document (expected an object with openapi, info and paths)")
    version = root.get("openapi")
    if version.missing:
        if "swagger" in root.mapping():
            raise root.get("swagger").fail("Swagger 2.0 is not supported: convert it to OpenAPI 3 first "
                                           "(for example with swagger2openapi)")
        raise root.fail('no "openapi" field: this is not an OpenAPI 3 document')
    if not version.scalar_text().startswith("3."):
        raise version.fail(f"OpenAPI version {version.scalar_text()!r} is not supported (3.0 or 3.1)")


def _operation(doc: _Document, path: str, item: Node, method: str, operation: Node) -> Imported:
    operation.mapping()
    parts = _Parts(path)
    for param in _parameters(doc, item, operation):
        _add_parameter(doc, param, parts)
    _fill_template(parts)
    _add_security(doc, operation, parts)
    content_type = _add_body(doc, operation.get("requestBody"), parts)
    _add_accept(doc, operation.get("responses"), parts)
    headers = list(parts.headers)
    if parts.cookies:
        headers.append(("Cookie", "; ".join(parts.cookies)))
    if content_type:
        headers.append(("Content-Type", content_type))
    url = _server_url(doc, item, operation) + parts.path + ("?" + "&".join(parts.query) if parts.query else "")
    request = make_request(operation, url, method, headers, parts.body)
    return Imported(request, None, "; ".join(parts.notes), operation.where)


# ---------------------------------------------------------------------- servers
def _server_url(doc: _Document, item: Node, operation: Node) -> str:
    """The URL operation paths are appended to, without a trailing slash."""
    servers = next((s for s in (operation.get("servers"), item.get("servers"), doc.root.get("servers"))
                    if s.items()), None)
    url, server = "", None
    if servers is not None:
        server = servers.items()[0]
        url = _server_variables(doc, server)
    if doc.base is not None:
        if doc.base.has_path or server is None:
            return doc.base.origin + doc.base.path
        path = _server_path(url, server)
        return doc.base.origin + "/" + path.strip("/") if path.strip("/") else doc.base.origin
    if server is None:
        raise doc.root.fail("the document has no servers: pass --base-url http://HOST:PORT to say where the API is")
    if url.startswith("//"):
        url = "https:" + url
    if url_scheme(url) not in HTTP_SCHEMES:
        where = server.get("url")
        if url_scheme(url):
            raise where.fail(f"server URL {url!r} is not http or https")
        raise where.fail(f"the server URL {url!r} is relative: pass --base-url http://HOST:PORT to say where it is")
    return url.partition("?")[0].rstrip("/")


def _server_path(url: str, server: Node) -> str:
    """The path of a server URL, absolute (``https://h/v1``), protocol-relative or relative."""
    if not (url_scheme(url) or url.startswith("//")):
        return url.partition("?")[0]
    try:
        return urlsplit(url).path
    except ValueError as exc:
        raise server.get("url").fail(f"not a URL: {url!r}") from exc


def _server_variables(doc: _Document, server: Node) -> str:
    url = server.get("url").text()
    values = {name: var.get("default").scalar_text() for name, var in server.get("variables").members()}
    values.update({k: v for k, v in doc.variables.items() if k in values or "{" + k + "}" in url})

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise server.get("url").fail(f"server variable {{{name}}} has no default: pass --var {name}=VALUE")
        return values[name]

    return _TEMPLATE.sub(fill, url)


# ---------------------------------------------------------------------- parameters
def _parameters(doc: _Document, item: Node, operation: Node) -> list[Node]:
    """Path-level parameters, overridden by operation-level ones with the same name and place."""
    found: dict[tuple[str, str], Node] = {}
    for param in [*item.get("parameters").items(), *operation.get("parameters").items()]:
        param = doc.resolver.deref(param)
        param.mapping()
        name = param.get("name").text()
        place = param.get("in").text()
        if place not in DEFAULT_STYLES:
            raise param.get("in").fail(f"{place!r} is not a parameter location (path, query, header, cookie)")
        found[(name, place)] = param
    return list(found.values())


def _add_parameter(doc: _Document, param: Node, parts: _Parts) -> None:
    name, place = param.get("name").text(), param.get("in").text()
    style = param.get("style").text(DEFAULT_STYLES[place])
    explode = param.get("explode").flag(style == "form")
    value = _parameter_value(doc, param)
    if place == "path":
        token = "{" + name + "}"
        if token not in parts.path:
            parts.notes.append(f"path parameter {name!r} is not in the path template")
        parts.path = parts.path.replace(token, path_value(name, value, style, explode))
    elif place == "query":
        parts.query += query_pairs(name, value, style, explode, param.get("allowReserved").flag())
    elif place == "header" and name.lower() not in _IGNORED_HEADERS:
        parts.headers.append((name, header_value(value, explode)))
    elif place == "cookie":
        parts.cookies += cookie_pairs(name, value, explode)


def _parameter_value(doc: _Document, param: Node) -> Any:
    given = _example(doc, param)
    if given is not _NONE:
        return given
    if not param.get("schema").missing:
        return Sampler(doc.resolver).value(param.get("schema"))
    content = param.get("content").members()
    if content:
        media, node = content[0]
        value = _media_value(doc, node)
        body, _, _ = encode_body(media, value, "value")
        return body.decode("utf-8", "surrogateescape")
    return "lunge"


_NONE = object()


def _example(doc: _Document, node: Node) -> Any:
    """``example``, else the first of ``examples`` (a map of Example objects), else nothing."""
    if "example" in node.mapping():
        return plain(node.get("example"))
    for _, example in node.get("examples").members():
        example = doc.resolver.deref(example)
        if example.is_mapping() and "value" in example.mapping():
            return plain(example.get("value"))
    return _NONE


def _media_value(doc: _Document, media: Node) -> Any:
    media = doc.resolver.deref(media)
    media.mapping()
    given = _example(doc, media)
    if given is not _NONE:
        return given
    return Sampler(doc.resolver).value(media.get("schema"))


def _fill_template(parts: _Parts) -> None:
    """Template variables no parameter declares still need a value, or the path is not a path."""
    missing = _TEMPLATE.findall(parts.path)
    if missing:
        parts.notes.append("undeclared path parameters set to 1: " + ", ".join(missing))
        parts.path = _TEMPLATE.sub("1", parts.path)


# ---------------------------------------------------------------------- body, accept
def _add_body(doc: _Document, body: Node, parts: _Parts) -> str | None:
    """Write the request body into ``parts``; its Content-Type."""
    if body.missing:
        return None
    body = doc.resolver.deref(body)
    content = body.get("content").members()
    if not content:
        return None
    media_type, media = min(content, key=lambda pair: media_rank(pair[0]))
    value = _media_value(doc, media)
    schema = doc.resolver.deref(doc.resolver.deref(media).get("schema"))
    parts.body, content_type, note = encode_body(media_type, value, _root_name(schema))
    if note:
        parts.notes.append(note)
    return content_type


def _root_name(schema: Node) -> str:
    """The XML root element: the schema's ``xml.name``, else its name in components.schemas."""
    xml = schema.mapping().get("xml") if schema.is_mapping() else None
    if isinstance(xml, dict) and isinstance(xml.get("name"), str):
        return str(xml["name"])
    where = schema.where
    return where.rsplit(".", 1)[-1] if where.startswith("components.schemas.") else "root"


def _add_accept(doc: _Document, responses: Node, parts: _Parts) -> None:
    """An Accept header naming what the first success response holds, as a client would send."""
    for code, response in responses.members():
        if code.startswith("2"):
            content = doc.resolver.deref(response).get("content").members()
            types = sorted((media for media, _ in content), key=media_rank)
            if types and not any(k.lower() == "accept" for k, _ in parts.headers):
                parts.headers.append(("Accept", types[0]))
            return


# ---------------------------------------------------------------------- security
def _add_security(doc: _Document, operation: Node, parts: _Parts) -> None:
    requirements = operation.get("security")
    if requirements.missing:
        requirements = doc.root.get("security")
    chosen = next((r for r in requirements.items() if r.members()), None)
    if chosen is None:
        return
    placeholders: list[str] = []
    for name, _ in chosen.members():
        scheme = doc.resolver.deref(doc.root.get("components").get("securitySchemes").get(name))
        if scheme.missing:
            raise chosen.get(name).fail(f"security scheme {name!r} is not defined in components.securitySchemes")
        credential = doc.variables.get(name, PLACEHOLDER)
        if _apply_scheme(scheme, credential, parts) and name not in doc.variables:
            placeholders.append(name)
    if placeholders:
        parts.notes.append(f"placeholder credential {PLACEHOLDER} for security scheme(s) " + ", ".join(placeholders)
                           + ": pass --var SCHEME=VALUE for a real one")


def _apply_scheme(scheme: Node, credential: str, parts: _Parts) -> bool:
    """Put ``credential`` where the scheme says; False when the scheme cannot be applied."""
    kind = scheme.get("type").text()
    if kind == "apiKey":
        name, place = scheme.get("name").text(), scheme.get("in").text()
        if place == "query":
            parts.query += query_pairs(name, credential, "form", True)
        elif place == "cookie":
            parts.cookies += cookie_pairs(name, credential, True)
        else:
            parts.headers.append((name, credential))
        return True
    http_scheme = scheme.get("scheme").text("").lower()
    if kind == "http" and http_scheme == "basic":
        pair = credential if ":" in credential else f"{credential}:{credential}"
        parts.headers.append(("Authorization", "Basic " + base64.b64encode(utf8(pair)).decode()))
        return True
    if (kind == "http" and http_scheme == "bearer") or kind in ("oauth2", "openIdConnect"):
        parts.headers.append(("Authorization", f"Bearer {credential}"))
        return True
    parts.notes.append(f"security scheme of type {kind!r} {http_scheme} is not applied".replace("  ", " "))
    return False
