"""The run's identities: learned from the record's sign-ins, and given by the settings.

From the record (:class:`IdentityBook`, fed in the keeper's one streamed pass, right after the value
flows of :mod:`engine.flow` learned the baseline): a baseline whose request carries a credential
produced by an earlier *sign-in* (a request with a user or password field, or to a sign-in path)
in a header or a cookie makes that sign-in an identity. The identity's credentials are the headers
and cookies that carried its values (the latest value per header or cookie), its name is the user
field of the sign-in (``username``, ``login``, ``email`` ...), else ``signin-#<seq>``. Sign-ins with
the same user name are one identity (a user who signed in to three parts of an application); each
other credential set is another. The endpoints (``GET /team/docs/{id}``) each identity's baselines
used are kept too, to tell a function only one identity used from one every identity used.

From the settings: ``LUNGE_IDENTITIES`` and the policy's ``identities:`` block
(:func:`lunge.checks.identity.parse_identities`); these win over the record's identity of the same
name (keeping the record's endpoints).

The engine hands a check that asks for them (``Check.uses_identities``) an
:class:`~lunge.checks.identity.Identities` with the baseline's own identity (:func:`for_request`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from lunge.checks import pointnames
from lunge.checks.identity import Identities, Identity, cookies_of, endpoint
from lunge.engine.flow import Source, Use
from lunge.http import Request, Response, parse

USER_WORDS = frozenset({"username", "user", "login", "email", "mail", "account", "handle", "userid", "uname"})
PASSWORD_WORDS = frozenset({"password", "passwd", "pass", "pwd", "passphrase"})
MAX_ENDPOINTS = 2000  # per identity: a record's distinct endpoints
MAX_IDENTITIES = 32
MAX_SCANNED = 1 << 16
_PASSWORDISH = re.compile(r"pass|pwd", re.IGNORECASE)
_SIGNIN_PATH = re.compile(r"log-?in|sign-?in|auth|sso|session/new", re.IGNORECASE)


def user_of(request: Request) -> str | None:
    """The user a sign-in request names ('' for a sign-in without a user field), None when the
    request is not a sign-in.

    >>> user_of(Request.from_url("http://t/login", "POST", body=b"username=bob&password=x",
    ...                          headers=[("Content-Type", "application/x-www-form-urlencoded")]))
    'bob'
    >>> user_of(Request.from_url("http://t/items?id=2")) is None
    True
    """
    signin = bool(_SIGNIN_PATH.search(request.path))
    if not signin and not _PASSWORDISH.search(request.query) and not _PASSWORDISH.search(
            request.body[:MAX_SCANNED].decode("latin-1")):
        return None  # most requests: no need to parse them into points
    user = None
    for point in parse(request):
        if point.family not in ("GET", "POST") or point.role.value != "value" or not point.value:
            continue
        if user is None and pointnames.named_like(point, USER_WORDS):
            user = point.value
        signin = signin or pointnames.named_like(point, PASSWORD_WORDS)
    if not signin:
        return None
    return user or ""


@dataclass(slots=True)
class _Learned:
    name: str
    source: str
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    endpoints: set[str] = field(default_factory=set)
    # (kind, name) of each credential -> the flow source of the value it carries, and that value
    tokens: dict[tuple[str, str], tuple[Source, str]] = field(default_factory=dict)

    def identity(self) -> Identity:
        return Identity(self.name, tuple(self.headers.items()), tuple(self.cookies.items()),
                        frozenset(self.endpoints), self.source)


@dataclass(slots=True)
class IdentityBook:
    """Identities learned from one record, baseline by baseline in recorded order."""

    _signins: dict[int, tuple[str, str]] = field(default_factory=dict)  # producer id -> (name, source)
    _learned: dict[str, _Learned] = field(default_factory=dict)

    def learn(self, baseline_id: int, seq: int, request: Request, response: Response | None,
              uses: Sequence[Use]) -> None:
        """Note ``request``'s credentials (``uses``: what the value flows found in it), then whether
        it is itself a sign-in whose credentials later requests may carry."""
        owner = None
        for use in uses:
            signin = self._signins.get(use.source.producer_id)
            if signin is None or not use.credential:
                continue
            carrier = _carrier(request, use.recorded)
            if carrier is None:
                continue
            owner = self._learned.get(signin[0])
            if owner is None:
                if len(self._learned) >= MAX_IDENTITIES:
                    continue
                owner = self._learned[signin[0]] = _Learned(*signin)
            kind, name, value = carrier
            (owner.headers if kind == "header" else owner.cookies)[name] = value
            owner.tokens[(kind, name)] = (use.source, use.recorded)
        if owner is not None and len(owner.endpoints) < MAX_ENDPOINTS:
            owner.endpoints.add(endpoint(request))
        if response is not None and 200 <= response.status < 400:
            user = user_of(request)
            if user is not None:
                name = user or f"signin-#{seq}"
                self._signins[baseline_id] = (name, f"record: {request.method} {request.path} #{seq}")

    def identities(self) -> tuple[Identity, ...]:
        return tuple(learned.identity() for learned in self._learned.values())

    def producers(self) -> list[int]:
        """The sign-ins (baseline ids) whose values the learned identities carry, in recorded order."""
        return sorted({source.producer_id for learned in self._learned.values()
                       for source, _ in learned.tokens.values()})

    def fresh(self, identities: Sequence[Identity], value_of: Callable[[Source], str | None]) -> tuple[Identity, ...]:
        """``identities`` with each learned credential's value as its sign-in hands it out now
        (``value_of``: the value flows' latest value for a source, None when none came yet). A
        credential the settings replaced keeps the settings' value."""
        out = []
        for identity in identities:
            learned = self._learned.get(identity.name)
            if learned is None:
                out.append(identity)
                continue
            headers = tuple(_renewed(learned, "header", n, v, value_of) for n, v in identity.headers)
            cookies = tuple(_renewed(learned, "cookie", n, v, value_of) for n, v in identity.cookies)
            out.append(replace(identity, headers=headers, cookies=cookies))
        return tuple(out)


def _renewed(learned: _Learned, kind: str, name: str, value: str,
             value_of: Callable[[Source], str | None]) -> tuple[str, str]:
    recorded = (learned.headers if kind == "header" else learned.cookies).get(name)
    token = learned.tokens.get((kind, name))
    if token is None or recorded != value:
        return name, value  # not learned, or replaced by the settings
    current = value_of(token[0])
    return name, value.replace(token[1], current) if current else value


def _carrier(request: Request, value: str) -> tuple[str, str, str] | None:
    """Where ``request`` carries ``value``: ("cookie", name, cookie value) or ("header", name,
    header value); None when only the body or the URL does."""
    for name, header in request.headers:
        if value not in header:
            continue
        if name.lower() == "cookie":
            for part in header.split(";"):
                key, eq, cookie = part.strip().partition("=")
                if eq and value in cookie:
                    return "cookie", key, cookie
            continue
        if name.lower() not in ("host", "referer", "origin", "content-length", "content-type"):
            return "header", name, header
    return None


def merged(learned: Iterable[Identity], configured: Iterable[Identity]) -> tuple[Identity, ...]:
    """The record's identities with the configured ones added; a configured identity replaces the
    record's of the same name and keeps its endpoints."""
    out = {i.name: i for i in learned}
    for identity in configured:
        before = out.get(identity.name)
        out[identity.name] = replace(identity, endpoints=before.endpoints) if before else identity
    return tuple(out.values())


def for_request(identities: tuple[Identity, ...], request: Request) -> Identities:
    """The run's identities as a check sees them for ``request``: ``own`` is the identity whose
    credential values the request carries most of ('' when it carries none)."""
    best, most = "", 0
    for identity in identities:
        count = _matches(identity, request)
        if count > most:
            best, most = identity.name, count
    return Identities(identities, best)


def _matches(identity: Identity, request: Request) -> int:
    jar = dict(reversed(cookies_of(request)))  # the first cookie of a name wins, as servers read them
    return (sum(request.headers.get(n) == v for n, v in identity.headers)
            + sum(jar.get(n) == v for n, v in identity.cookies))


__all__ = ["IdentityBook", "for_request", "merged", "user_of"]
