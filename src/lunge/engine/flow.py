"""Value flows: which recorded responses produced a value that later recorded requests carry.

A login answers ``Set-Cookie: session=…`` or ``{"token": "…"}``; a form page carries a hidden
``csrf_token``; a ``POST /users`` answers ``{"id": 7}``; later requests send those values back (a
cookie, an ``Authorization`` or ``X-APIKEY`` header, a form field, a path segment). Replayed as
recorded, those requests carry values the application has long forgotten, expired or rotated, and
answer 401, 403, a login page, or "invalid token". Learning the flows from the record lets the
engine re-run the producer and put the fresh value where the recorded one was (:mod:`engine.session`),
which is what FAST's authentication extensions and Burp's session-handling macros do by hand.

This module only learns, from the record, in one streamed pass (:class:`FlowMap`); it does no I/O.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lunge.http import Point, Request, Response, parse

# JSON fields whose value is a credential or a token (compared lower-case, without - and _).
CREDENTIAL_KEYS = frozenset({
    "token", "accesstoken", "idtoken", "authtoken", "key", "apikey", "sessionid", "session", "sid", "jwt",
    "csrf", "csrftoken", "xsrftoken", "bearer", "secret", "authorization", "auth",
})
# JSON fields naming something an earlier request created (re-derived when their producer ran again).
IDENTITY_KEYS = frozenset({"id", "uuid", "username", "userid", "login", "handle", "slug"})
# Hidden form inputs that are per-request anti-CSRF tokens: fetched again before every send.
_TOKEN_INPUT = re.compile(r"csrf|xsrf|token|nonce|authenticity", re.IGNORECASE)
_INPUT = re.compile(r"<input\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r"""([a-zA-Z_:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")
_DELIMITERS = re.compile(r"""[\s;,&"'?<>(){}\[\]=:/\\%+]+""")
MIN_CREDENTIAL = 6  # shorter values are too likely to occur by chance in unrelated requests
MIN_IDENTITY = 3
MAX_KNOWN = 5000  # produced values remembered while learning (the record may be long)
MAX_BODY = 1 << 20
JSON_DEPTH = 4


@dataclass(frozen=True, slots=True)
class Source:
    """Where a value comes from: a baseline's response, and the place in it.

    ``kind`` is ``cookie`` (Set-Cookie), ``json`` (a field, ``name`` is its dotted path) or ``html``
    (a hidden input). ``per_use``: a form token that is valid once, fetched again before each send.
    """

    producer_id: int
    producer_seq: int
    producer: str  # "POST /api/key", for the report
    kind: str
    name: str
    per_use: bool = False

    def describe(self) -> str:
        return f"{self.kind} {self.name} of #{self.producer_seq} {self.producer}"


@dataclass(frozen=True, slots=True)
class Produced:
    """A value read from a response, with its lifetime in seconds when the response gave one."""

    source: Source
    value: str
    max_age: float | None = None


@dataclass(frozen=True, slots=True)
class Use:
    """A consumer's point that carried a produced value (``recorded``: the value it had then;
    ``carrier``: the point's whole recorded value, which holds it)."""

    point: str
    recorded: str
    source: Source
    carrier: str = ""

    @property
    def credential(self) -> bool:
        """A session value (renewed when refused), as opposed to an id or a name (only re-derived)."""
        return credential(self.source)

    def describe(self) -> str:
        return f"{self.point} <- {self.source.describe()}"


def produced(baseline_id: int, seq: int, request: Request, response: Response | None) -> list[Produced]:
    """Every value ``response`` hands to the client that a later request could send back."""
    if response is None:
        return []
    where = f"{request.method} {request.path}"
    out = [Produced(Source(baseline_id, seq, where, "cookie", name), value, age)
           for name, value, age in set_cookies(response)]
    if len(response.body) <= MAX_BODY:
        text = response.text()
        if "json" in response.content_type or text.lstrip()[:1] in ("{", "["):
            out += [Produced(Source(baseline_id, seq, where, "json", name), value)
                    for name, value in json_values(text)]
        if "html" in response.content_type:
            out += [Produced(Source(baseline_id, seq, where, "html", name, per_use=bool(_TOKEN_INPUT.search(name))),
                             value) for name, value in hidden_inputs(text)]
    return out


def read(source: Source, response: Response) -> Produced | None:
    """The value ``source`` names, read again from a fresh response of its producer."""
    for item in produced(source.producer_id, source.producer_seq, Request("GET", "http", "x", 80, "/"), response):
        if item.source.kind == source.kind and item.source.name == source.name:
            return Produced(source, item.value, item.max_age)
    return None


def set_cookies(response: Response) -> list[tuple[str, str, float | None]]:
    """(name, value, Max-Age) of each ``Set-Cookie`` (RFC 6265 §5.2; ``Expires`` is not read).

    >>> from lunge.http import Headers
    >>> set_cookies(Response(200, headers=Headers([("Set-Cookie", "sid=abc; Max-Age=60; Path=/")])))
    [('sid', 'abc', 60.0)]
    """
    out = []
    for line in response.headers.get_all("set-cookie"):
        first, *attributes = line.split(";")
        name, eq, value = first.partition("=")
        if not eq or not name.strip():
            continue
        age = None
        for attribute in attributes:
            key, _, raw = attribute.partition("=")
            if key.strip().lower() == "max-age" and raw.strip().lstrip("-").isdigit():
                age = float(raw.strip())
        out.append((name.strip(), value.strip().strip('"'), age))
    return out


def json_values(text: str) -> list[tuple[str, str]]:
    """(dotted path, value) of the credential and identity fields of a JSON document.

    >>> json_values('{"data": {"access_token": "abcdef1", "id": 42, "n": "x"}}')
    [('data.access_token', 'abcdef1'), ('data.id', '42')]
    """
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return []
    return list(_walk(document, "", 0))


def _walk(node: Any, prefix: str, depth: int) -> Iterator[tuple[str, str]]:
    if depth > JSON_DEPTH:
        return
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, (dict, list)):
            yield from _walk(value, path, depth + 1)
        elif isinstance(key, str) and isinstance(value, (str, int)) and not isinstance(value, bool):
            folded = key.lower().replace("_", "").replace("-", "")
            if folded in CREDENTIAL_KEYS or folded in IDENTITY_KEYS:
                yield path, str(value)


def hidden_inputs(text: str) -> list[tuple[str, str]]:
    """(name, value) of the hidden inputs of an HTML page.

    >>> hidden_inputs('<input type="hidden" name="csrf_token" value="a1&amp;b"><input name="q">')
    [('csrf_token', 'a1&b')]
    """
    out = []
    for tag in _INPUT.findall(text[:MAX_BODY]):
        attrs = {m.group(1).lower(): html.unescape(m.group(2) or m.group(3) or m.group(4) or "")
                 for m in _ATTR.finditer(tag)}
        if attrs.get("type", "").lower() == "hidden" and attrs.get("name"):
            out.append((attrs["name"], attrs.get("value", "")))
    return out


def jwt_expiry(value: str) -> float | None:
    """The ``exp`` claim (seconds since the epoch) of a JWT in ``value`` (RFC 7519 §4.1.4), if any.

    >>> jwt_expiry("Bearer e30.eyJleHAiOjEwMH0.sig")
    100.0
    """
    token = value.rpartition(" ")[2]
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None


def credential(source: Source) -> bool:
    if source.kind != "json":
        return True
    leaf = source.name.rpartition(".")[2].lower().replace("_", "").replace("-", "")
    return leaf in CREDENTIAL_KEYS


@dataclass(slots=True)
class FlowMap:
    """The value flows of one record, learned baseline by baseline in recorded order."""

    uses: dict[int, tuple[Use, ...]] = field(default_factory=dict)  # consumer baseline id -> its uses
    _known: dict[str, Source] = field(default_factory=dict)  # produced value -> its latest producer
    _spread: set[str] = field(default_factory=set)  # known values that hold a delimiter (found by search)

    def learn(self, baseline_id: int, seq: int, request: Request, response: Response | None) -> None:
        """Match ``request`` against the values produced so far, then note what its response produces."""
        uses = self._consumed(request)
        if uses:
            self.uses[baseline_id] = tuple(uses)
        for item in produced(baseline_id, seq, request, response):
            least = MIN_CREDENTIAL if credential(item.source) else MIN_IDENTITY
            if len(item.value) >= least and (item.source.kind != "html" or item.source.per_use):
                self._known.pop(item.value, None)  # the latest producer wins, and moves to the end
                self._known[item.value] = item.source
                if _DELIMITERS.search(item.value):
                    self._spread.add(item.value)
        while len(self._known) > MAX_KNOWN:
            self._spread.discard(oldest := next(iter(self._known)))
            del self._known[oldest]

    def _consumed(self, request: Request) -> list[Use]:
        text = request.head_bytes().decode("latin-1") + request.body.decode("latin-1")
        # Most values are single tokens (hex keys, JWTs, ids): look them up among the text's tokens,
        # so a long record costs one split per baseline, not one scan per known value.
        tokens = set(_DELIMITERS.split(text))
        present = [v for v in self._known if v in tokens]
        present += [v for v in self._spread if v in text and v not in present]
        if not present:
            return []
        points = parse(request)
        uses = []
        for value in present:
            source = self._known[value]
            exact = not credential(source)  # an id or a name: only a point holding exactly it
            carriers = [p for p in points if (p.value == value if exact else value in p.value)]
            uses += [Use(p.name, value, source, p.value) for p in _most_specific(carriers)]
        return uses

    def producers(self) -> set[int]:
        return {u.source.producer_id for uses in self.uses.values() for u in uses}


def _most_specific(points: list[Point]) -> list[Point]:
    """The carriers with no other carrier inside them (the cookie, not the whole Cookie header)."""
    return [p for p in points
            if not any(q is not p and len(q.path) > len(p.path) and q.path[:len(p.path)] == p.path
                       and q.name.startswith(p.name.removesuffix("value")) for q in points)]


__all__ = ["FlowMap", "Produced", "Source", "Use", "hidden_inputs", "json_values", "jwt_expiry", "produced",
           "read", "set_cookies"]
