"""Identities: who a request is sent as, for the checks that compare users (``bola``, ``broken-access``).

An :class:`Identity` is a name and the headers and cookies that carry its credentials. The engine
learns them from the record (the sign-ins whose credentials later baselines send back) and from the
settings (``LUNGE_IDENTITIES``, a policy's ``identities:`` block), and hands a check that asks for them
(``Check.uses_identities``) an :class:`Identities` value: every identity, the one the baseline was
recorded as (``own``), and :meth:`Identities.send_as` to rewrite a request as another identity or as
the anonymous one (every credential header and cookie stripped).

>>> alice = Identity("alice", cookies=(("sid", "a1"),))
>>> bob = Identity("bob", cookies=(("sid", "b2"),))
>>> ids = Identities((alice, bob), own="alice")
>>> req = Request.from_url("http://t.test/doc/1", headers=[("Cookie", "sid=a1; theme=dark")])
>>> ids.send_as(bob, req).headers.get("cookie")
'theme=dark; sid=b2'
>>> ids.send_as(ids.anonymous, req).headers.get("cookie")
'theme=dark'
>>> [i.name for i in ids.others()]
['bob']
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lunge.http import Request

ANONYMOUS = "anonymous"
# A path segment that names one object rather than a function: a number, a UUID, a long hex string,
# a long random token (engine/planner.py treats /users/12 and /users/13 as one endpoint with it).
VARIABLE_SEGMENT = re.compile(
    r"^(?:\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{12,}|[A-Za-z0-9_-]{22,})$",
    re.IGNORECASE,
)


def path_template(path: str) -> str:
    """The path with id-like segments generalised, so ``/users/12`` and ``/users/13`` are one
    endpoint.

    >>> path_template("/users/12/orders/3f2b9c1e-0a4d-4b8e-9c1f-2a3b4c5d6e7f")
    '/users/{id}/orders/{id}'
    """
    return "/".join("{id}" if VARIABLE_SEGMENT.match(s) else s for s in path.split("/"))


def endpoint(request: Request) -> str:
    """``METHOD /path/{id}``: the function a request calls, whatever object it names.

    >>> endpoint(Request.from_url("http://t.test/team/docs/7?x=1"))
    'GET /team/docs/{id}'
    """
    return f"{request.method.upper()} {path_template(request.path)}"


@dataclass(frozen=True, slots=True)
class Identity:
    """A user as the application knows it: the headers (``Authorization``, ``X-API-Key`` ...) and
    cookies that carry its credentials, as (name, value) pairs. ``endpoints`` are the endpoints
    (``GET /team/{id}``) the record shows it using (empty for identities from the settings);
    ``source`` says where it was learned ("record: POST /login #3", "LUNGE_IDENTITIES")."""

    name: str
    headers: tuple[tuple[str, str], ...] = ()
    cookies: tuple[tuple[str, str], ...] = ()
    endpoints: frozenset[str] = frozenset()
    source: str = ""

    @property
    def anonymous(self) -> bool:
        return not self.headers and not self.cookies

    def carriers(self) -> set[str]:
        """Where its credentials go: ``header:<lower name>`` and ``cookie:<name>``."""
        return {f"header:{n.lower()}" for n, _ in self.headers} | {f"cookie:{n}" for n, _ in self.cookies}

    def fits(self, request: Request) -> bool:
        """``request`` has a place for at least one of its credentials (the same header or cookie
        name): sent as this identity, it is authenticated the way it was recorded."""
        jar = {n for n, _ in cookies_of(request)}
        return (any(request.headers.get(n) is not None for n, _ in self.headers)
                or any(n in jar for n, _ in self.cookies))


@dataclass(frozen=True, slots=True)
class Identities:
    """The identities of a run, read-only, as a check sees them for one baseline.

    ``own`` is the name of the identity the baseline was recorded as ('' when it carries no known
    credentials). The anonymous identity is not in ``all``: see :attr:`anonymous`.
    """

    all: tuple[Identity, ...] = ()
    own: str = ""
    _carriers: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_carriers", frozenset(c for i in self.all for c in i.carriers()))

    def get(self, name: str) -> Identity | None:
        return next((i for i in self.all if i.name == name), None)

    @property
    def mine(self) -> Identity | None:
        """The identity the baseline was recorded as."""
        return self.get(self.own) if self.own else None

    @property
    def anonymous(self) -> Identity:
        return Identity(ANONYMOUS, source="every credential header and cookie stripped")

    def others(self) -> list[Identity]:
        """Every identity but the baseline's own."""
        return [i for i in self.all if i.name != self.own]

    def send_as(self, identity: Identity, request: Request) -> Request:
        """``request`` with every known credential header and cookie removed, then ``identity``'s added."""
        strip_headers = {c.partition(":")[2] for c in self._carriers if c.startswith("header:")}
        strip_cookies = {c.partition(":")[2] for c in self._carriers if c.startswith("cookie:")}
        headers = request.headers.without(strip_headers | {"cookie"})
        kept = [(n, v) for n, v in cookies_of(request) if n not in strip_cookies]
        jar = kept + list(identity.cookies)
        for name, value in identity.headers:
            headers = headers.add(name, value)
        if jar:
            headers = headers.add("Cookie", "; ".join(f"{n}={v}" for n, v in jar))
        return request.with_headers(headers)


def cookies_of(request: Request) -> list[tuple[str, str]]:
    """The (name, value) pairs of the request's Cookie headers, in order.

    >>> cookies_of(Request.from_url("http://t.test/", headers=[("Cookie", "a=1; b=2")]))
    [('a', '1'), ('b', '2')]
    """
    out = []
    for line in request.headers.get_all("cookie"):
        for part in line.split(";"):
            name, eq, value = part.strip().partition("=")
            if eq and name:
                out.append((name, value))
    return out




_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")  # an HTTP token (RFC 9110 §5.6.2): header and cookie names
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}\Z")
IDENTITIES_SHAPE = ('{"alice": {"headers": {"Authorization": "Bearer ..."}, "cookies": {"sid": "..."}}} '
          "(a name, then headers and/or cookies, each name: value)")


def parse_identities(data: object) -> tuple[Identity, ...]:
    """Identities from settings data (``LUNGE_IDENTITIES`` parsed as JSON, a policy's ``identities:``
    block). Raises ValueError saying what is wrong and what is allowed.

    >>> parse_identities({"bob": {"cookies": {"sid": "b2"}}})
    (Identity(name='bob', headers=(), cookies=(('sid', 'b2'),), endpoints=frozenset(), source='settings'),)
    >>> parse_identities({"bob": {"cookie": {}}})
    Traceback (most recent call last):
    ...
    ValueError: identity 'bob': unknown key 'cookie' (allowed: headers, cookies)
    """
    if not isinstance(data, dict):
        raise ValueError(f"identities must be a mapping such as {IDENTITIES_SHAPE}")
    out = []
    for name, entry in data.items():
        if not isinstance(name, str) or not _NAME.match(name) or name == ANONYMOUS:
            raise ValueError(f"identity name {name!r}: letters, digits and . _ @ + -, at most 64, not {ANONYMOUS!r}")
        if not isinstance(entry, dict) or not entry:
            raise ValueError(f"identity {name!r}: a mapping with headers and/or cookies, such as {IDENTITIES_SHAPE}")
        for key in entry:
            if key not in ("headers", "cookies"):
                raise ValueError(f"identity {name!r}: unknown key {key!r} (allowed: headers, cookies)")
        headers = _pairs(name, "headers", entry.get("headers", {}))
        cookies = _pairs(name, "cookies", entry.get("cookies", {}))
        if any(h.lower() == "cookie" for h, _ in headers):
            raise ValueError(f"identity {name!r}: put cookies under 'cookies', not a Cookie header")
        if not headers and not cookies:
            raise ValueError(f"identity {name!r}: no headers and no cookies (give at least one credential)")
        out.append(Identity(name, headers, cookies, source="settings"))
    return tuple(out)


def _pairs(name: str, kind: str, values: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(values, dict):
        raise ValueError(f"identity {name!r}: {kind} must be a mapping of name: value")
    out = []
    for key, value in values.items():
        if not isinstance(key, str) or not _TOKEN.match(key):
            raise ValueError(f"identity {name!r}: {kind} name {key!r} is not an HTTP token")
        if not isinstance(value, str) or any(c in value for c in "\r\n\0") or (kind == "cookies" and ";" in value):
            raise ValueError(f"identity {name!r}: {kind} {key!r} must be a string on one line"
                             + (" without ';'" if kind == "cookies" else ""))
        out.append((key, value))
    return tuple(out)


__all__ = ["ANONYMOUS", "IDENTITIES_SHAPE", "VARIABLE_SEGMENT", "Identities", "Identity", "cookies_of", "endpoint",
           "parse_identities", "path_template"]
