"""The RSA public keys an origin publishes, for checks that declare ``uses_public_keys`` (``jwt``'s
RS256 → HS256 algorithm confusion): :attr:`lunge.checks.base.CheckContext.public_keys`.

Two sources, both on the run's own target (never another host):

- PEM blocks in the record's responses (an endpoint that hands out its verification key), noted in
  record order by the producer, like the ``Set-Cookie`` values (:mod:`lunge.engine.cookies`);
- the origin's JWK Set, fetched once per origin per run (per process with ``PROCESSES`` > 1) the
  first time a check that wants keys applies to one of its baselines: ``GET
  /.well-known/jwks.json``, ``GET /jwks.json`` and ``GET /.well-known/openid-configuration``, then
  its ``jwks_uri`` when that is on the same origin (RFC 8414, OpenID Connect Discovery 1.0). These
  3 or 4 requests are counted as setup requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin

from lunge.checks import jwks
from lunge.checks.base import Attack, Exchange
from lunge.checks.jwks import RsaKey
from lunge.errors import MessageError
from lunge.http import Request, Response

SendAll = Callable[[list[Attack]], Awaitable[list[Exchange]]]
MAX_KEYS = 8  # per origin: a JWK Set of a multi-tenant issuer may list hundreds
LABEL = "public-keys"


@dataclass(slots=True)
class PublicKeys:
    """Keys by origin (``scheme://host[:port]``): noted from recorded responses, fetched once."""

    noted: dict[str, list[RsaKey]] = field(default_factory=dict)
    _fetched: dict[str, tuple[RsaKey, ...]] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    requests: int = 0  # fetches sent (setup requests)

    def note(self, origin: str, response: Response | None) -> None:
        """Remember the RSA public keys of PEM blocks in ``response`` (cheap when there is none)."""
        if response is None or b"PUBLIC KEY-----" not in response.body:
            return
        keys = self.noted.setdefault(origin, [])
        for key in jwks.from_pem_text(response.text()):
            if key not in keys and len(keys) < MAX_KEYS:
                keys.append(key)

    async def of(self, request: Request, send: SendAll) -> tuple[RsaKey, ...]:
        """The keys of ``request``'s origin: those noted, then those of its JWK Set (fetched once)."""
        origin = request.origin
        if origin not in self._fetched:
            async with self._locks.setdefault(origin, asyncio.Lock()):
                if origin not in self._fetched:
                    self._fetched[origin] = await self._fetch(request, send)
        found = list(self.noted.get(origin, ()))
        found += [k for k in self._fetched[origin] if k not in found]
        return tuple(found[:MAX_KEYS])

    async def _fetch(self, request: Request, send: SendAll) -> tuple[RsaKey, ...]:
        paths = (*jwks.JWKS_PATHS, jwks.OPENID_CONFIGURATION)
        answers = await self._get(request, [f"{request.origin}{path}" for path in paths], send)
        keys = [k for answer in answers[:-1] for k in _keys(answer)]
        uri = jwks.jwks_uri(answers[-1].text) if _usable(answers[-1]) else None
        if uri is not None:
            url = urljoin(request.origin + "/", uri)
            if url.startswith(request.origin + "/"):  # never another origin: the run's scope
                keys += [k for answer in await self._get(request, [url], send) for k in _keys(answer)]
        return tuple(dict.fromkeys(keys))[:MAX_KEYS]

    async def _get(self, request: Request, urls: list[str], send: SendAll) -> list[Exchange]:
        """The answers to a GET of each of ``urls`` (same length, same order)."""
        try:
            host = [("Host", request.headers.get("host") or request.host), ("Accept", "application/json")]
            attacks = [Attack(Request.from_url(url, headers=host), "", LABEL) for url in urls]
        except MessageError:  # an origin no URL can be made of: nothing to fetch
            return [Exchange(Attack(request, "", LABEL), None, 0.0, "no URL") for _ in urls]
        self.requests += len(attacks)
        return await send(attacks)


def _usable(exchange: Exchange) -> bool:
    return exchange.response is not None and exchange.response.status == 200


def _keys(exchange: Exchange) -> list[RsaKey]:
    if not _usable(exchange):
        return []
    text = exchange.text
    return jwks.from_jwks(text) or jwks.from_pem_text(text)
