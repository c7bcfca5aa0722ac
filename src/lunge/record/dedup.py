"""De-duplication of baselines while recording (FAST's ``skip_duplicated_baselines``, on by default).

Two requests are duplicates when they have the same method, host, port, path, set of parameter
names, body content type and operation: replaying the second with attacks would test exactly the
points the first one already covers. Parameter names are those of the query string and the body
(form fields, every nested JSON object key path, multipart field names); values never count. The
*operation* tells apart what one URL does by its body: GraphQL (operation name and the query's shape
without its literals), JSON-RPC (``method``), SOAP (``SOAPAction``, else the first element in the
Body): an API that posts every operation to one path is many endpoints, not one.

>>> from lunge.http import Headers, Request, Response
>>> seen = Deduplicator()
>>> seen.admit(Request.from_url("http://t.test/items?id=1&sort=asc"))
True
>>> seen.admit(Request.from_url("http://t.test/items?sort=desc&id=2"))
False
>>> seen.admit(Request.from_url("http://t.test/items?id=1&page=2"))
True
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from urllib.parse import unquote_plus

from lunge.http import Request, Response

# Bodies larger than this are not parsed for their names: the key then holds the content type only,
# which errs towards keeping more baselines, never fewer.
MAX_PARSED_BODY = 1 << 20
_GRAPHQL_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"|-?\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b')
_SOAP_FIRST = re.compile(rb"<(?:[\w.-]+:)?Body\b[^>]*>\s*<([\w.:-]+)", re.IGNORECASE)
_MULTIPART_NAME = re.compile(rb'content-disposition:[^\r\n]*?\bname="([^"]*)"', re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DedupKey:
    """What makes two requests duplicates of each other."""

    method: str
    host: str
    port: int
    path: str
    names: frozenset[str]
    content_type: str
    operation: str = ""
    # Who sent it: the users whose sign-in credentials it carries (see :class:`Deduplicator`).
    who: tuple[str, ...] = ()


def dedup_key(request: Request) -> DedupKey:
    """The key of ``request``.

    >>> dedup_key(Request.from_url("http://T.test/a?x=1&y=&x=2")).names == frozenset({"x", "y"})
    True
    """
    names = set(form_names(request.query))
    names.update(body_names(request))
    document = _json_document(request)
    names.update(_key_paths(document, "", 0))
    return DedupKey(request.method.upper(), request.host.lower(), request.port, request.path,
                    frozenset(names), request.content_type, operation(request, document))


def operation(request: Request, document: object = None) -> str:
    """What the request asks of a one-URL API: a GraphQL operation, a JSON-RPC method, a SOAP action.

    >>> q = '{"query": "query Q { user(id: 1) { name } }", "operationName": "Q"}'
    >>> operation(Request("POST", "http", "t", 80, "/graphql", body=q.encode()), json.loads(q))
    'graphql Q query Q { user(id: _) { name } }'
    >>> operation(Request("POST", "http", "t", 80, "/rpc"), {"jsonrpc": "2.0", "method": "a.b", "id": 1})
    'jsonrpc a.b'
    """
    if isinstance(document, dict):
        query = document.get("query")
        if isinstance(query, str):
            return f"graphql {document.get('operationName') or ''} {graphql_shape(query)}"
        method = document.get("method")
        if isinstance(method, str) and ("jsonrpc" in document or "params" in document):
            return f"jsonrpc {method}"
    if isinstance(document, list):
        return " ".join(operation(request, item) for item in document[:20])
    query = _query_value(request.query, "query")
    if query:
        return f"graphql {_query_value(request.query, 'operationName')} {graphql_shape(query)}"
    action = request.headers.get("soapaction")
    if action:
        return f"soap {action.strip().strip(chr(34))}"
    if request.body and "xml" in request.content_type and len(request.body) <= MAX_PARSED_BODY:
        match = _SOAP_FIRST.search(request.body)
        if match:
            return f"soap {match.group(1).decode('latin-1')}"
    return ""


def graphql_shape(query: str) -> str:
    """The query without its literals and extra white space: two calls with other arguments match.

    >>> graphql_shape('{ a(x: "1", y: 2.5) {  b } }') == graphql_shape('{ a(x: "zz", y: 7) { b } }')
    True
    """
    return " ".join(_GRAPHQL_LITERAL.sub("_", query).split())


def _query_value(query: str, name: str) -> str:
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if unquote_plus(key) == name:
            return unquote_plus(value, errors="surrogateescape")
    return ""


def _json_document(request: Request) -> object:
    body = request.body
    if not body or len(body) > MAX_PARSED_BODY:
        return None
    media = request.content_type
    if not (media == "application/json" or media.endswith("+json") or body.lstrip()[:1] in (b"{", b"[")):
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _key_paths(node: object, prefix: str, depth: int) -> list[str]:
    """Every nested object key path (``customer.name``; list items as ``[]``), below the top level."""
    if depth > 8:
        return []
    paths: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if depth:
                paths.append(path)
            paths += _key_paths(value, path, depth + 1)
    elif isinstance(node, list):
        for item in node[:50]:
            paths += _key_paths(item, f"{prefix}[]", depth + 1)
    return sorted(set(paths))


def form_names(text: str) -> list[str]:
    """The names of an ``a=1&b=2`` text (query string or form body).

    >>> form_names("a=1&b&=3&c=%20")
    ['a', 'b', 'c']
    """
    names = []
    for pair in text.split("&"):
        name = pair.partition("=")[0]
        if name:
            names.append(unquote_plus(name, errors="surrogateescape"))
    return names


def body_names(request: Request) -> list[str]:
    """The top-level names in the body: form fields, JSON object keys or multipart field names."""
    body = request.body
    if not body or len(body) > MAX_PARSED_BODY:
        return []
    media = request.content_type
    if media == "application/x-www-form-urlencoded":
        return form_names(body.decode("latin-1"))
    if media.startswith("multipart/"):
        return [m.decode("latin-1") for m in _MULTIPART_NAME.findall(body)]
    if media == "application/json" or media.endswith("+json") or body.lstrip()[:1] == b"{":
        return _json_keys(body)
    return []


def _json_keys(body: bytes) -> list[str]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return []
    return [str(key) for key in document] if isinstance(document, dict) else []


class Deduplicator:
    """Remembers the keys seen in one recording.

    Two users' requests are not duplicates of each other: a suite that signs in as alice and then as
    bob and opens the same pages holds what lunge needs to replay one user's requests as the other
    (``bola``, ``broken-access``). A sign-in (a request with a password field whose answer sets a
    cookie or hands out a token) is keyed by the user it names, and the credentials its answer hands
    out are remembered; a later request carrying them is keyed by that user too. The same user
    signing in again dedupes as before.

    Memory grows with the number of *distinct* keys (endpoints × parameter sets × users), not with
    traffic; at most :data:`MAX_ISSUED` credentials are remembered.
    """

    __slots__ = ("_issued", "_seen")

    def __init__(self) -> None:
        self._seen: set[DedupKey] = set()
        self._issued: dict[str, str] = {}  # credential value handed out by a sign-in -> its user

    def __len__(self) -> int:
        return len(self._seen)

    def admit(self, request: Request, response: Response | None = None) -> bool:
        """True the first time a key is seen (and remember it); False for a duplicate."""
        key = self.key(request, response)
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def key(self, request: Request, response: Response | None = None) -> DedupKey:
        """``request``'s key, with who sent it; a sign-in's ``response`` is remembered."""
        key = dedup_key(request)
        user = signin_user(request)
        if user is not None and response is not None and 200 <= response.status < 400:
            issued = _issued(response)
            if issued:
                for value in issued:
                    self._issued.pop(value, None)
                    self._issued[value] = user
                while len(self._issued) > MAX_ISSUED:
                    del self._issued[next(iter(self._issued))]
                return replace(key, who=(user,))
        if not self._issued:
            return key
        carried = " ".join(value for name, value in request.headers if name.lower() not in _NOT_CREDENTIALS)
        who = sorted({u for value, u in self._issued.items() if value in carried})
        return replace(key, who=tuple(who)) if who else key

    def forget(self, request: Request, response: Response | None = None) -> None:
        """Undo :meth:`admit` for a request that could not be stored, so its next copy is kept."""
        self._seen.discard(self.key(request, response))


MAX_ISSUED = 256
MIN_ISSUED = 8  # shorter values are too likely to occur by chance in unrelated headers
_NOT_CREDENTIALS = frozenset({"host", "content-length", "content-type", "user-agent", "accept", "accept-encoding"})
_USER_KEYS = frozenset({"username", "user", "login", "email", "uname", "userid"})
_PASSWORD_KEYS = frozenset({"password", "passwd", "pass", "pwd", "passphrase"})
_TOKEN_KEY = re.compile(r"token|key|session|jwt|secret|auth", re.IGNORECASE)


def signin_user(request: Request) -> str | None:
    """The user a sign-in request names ('' when it names none), or None when the request carries
    no password field (form or top-level JSON).

    >>> signin_user(Request.from_url("http://t/login", "POST", body=b"username=bob&password=x",
    ...                              headers=[("Content-Type", "application/x-www-form-urlencoded")]))
    'bob'
    """
    fields: dict[str, object] = {}
    if request.content_type == "application/x-www-form-urlencoded":
        for pair in request.body.decode("latin-1").split("&"):
            name, _, value = pair.partition("=")
            fields.setdefault(_folded(unquote_plus(name)), unquote_plus(value))
    else:
        document = _json_document(request)
        if isinstance(document, dict):
            fields = {_folded(str(k)): v for k, v in document.items()}
    if not _PASSWORD_KEYS & fields.keys():
        return None
    user = next((fields[k] for k in _USER_KEYS if k in fields), "")
    return user if isinstance(user, str) else ""


def _folded(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def _issued(response: Response) -> list[str]:
    """The credentials a sign-in's answer hands out: cookie values, and JSON token fields."""
    out = []
    for line in response.headers.get_all("set-cookie"):
        value = line.split(";", 1)[0].partition("=")[2].strip().strip('"')
        if len(value) >= MIN_ISSUED:
            out.append(value)
    body = response.decoded_body() if len(response.body) <= MAX_PARSED_BODY else b""
    if body.lstrip()[:1] == b"{":
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            document = None
        if isinstance(document, dict):
            out += [v for k, v in document.items()
                    if isinstance(v, str) and len(v) >= MIN_ISSUED and _TOKEN_KEY.search(str(k))]
    return out
