"""The claim values of the JSON Web Tokens a record carries, for checks that swap an identity
(``jwt``: a forgeable token re-made with another user's ``sub``):
:attr:`lunge.checks.base.CheckContext.token_claims`.

Noted by the producer in record order, like the ``Set-Cookie`` values (:mod:`lunge.engine.cookies`),
from every JWT-shaped string in a baseline's request head and body and its recorded response (the
token a sign-in hands out): each top-level claim holding a short string or an integer, a few
distinct values per claim. Time and nonce claims (``exp``, ``iat``, ``nbf``, ``jti``) are skipped.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from lunge.http import Request, Response

_JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{2,}\.(eyJ[A-Za-z0-9_-]{2,})\.[A-Za-z0-9_-]*")
_SKIPPED = frozenset({"exp", "iat", "nbf", "jti", "auth_time", "nonce"})
MAX_VALUES = 8  # per claim
MAX_CLAIMS = 32
MAX_TEXT = 200  # characters of a string claim worth keeping (an identity, not a document)
SCANNED = 65536  # bytes of a response body looked at


@dataclass(slots=True)
class TokenClaims:
    """Claim values seen so far, by claim name, in the order first seen."""

    seen: dict[str, list[str | int]] = field(default_factory=dict)
    _snapshot: Mapping[str, tuple[str | int, ...]] = field(default_factory=lambda: MappingProxyType({}))
    _dirty: bool = False

    def note(self, request: Request, response: Response | None) -> None:
        """Remember the claims of the JWTs in ``request`` (head and body) and ``response``."""
        chunks = [request.to_bytes()]
        if response is not None:
            chunks.append("\n".join(response.headers.get_all("set-cookie")).encode("latin-1", "replace"))
            chunks.append(response.body[:SCANNED])
        for chunk in chunks:
            if b"eyJ" in chunk:
                for match in _JWT.finditer(chunk):
                    self._add(match.group(1))

    def _add(self, part: bytes) -> None:
        try:
            claims = json.loads(base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4)))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return
        if not isinstance(claims, dict):
            return
        for name, value in claims.items():
            if name in _SKIPPED or isinstance(value, bool) or not isinstance(value, str | int):
                continue
            if isinstance(value, str) and not 0 < len(value) <= MAX_TEXT:
                continue
            if name not in self.seen and len(self.seen) >= MAX_CLAIMS:
                continue
            values = self.seen.setdefault(name, [])
            if value not in values and len(values) < MAX_VALUES:
                values.append(value)
                self._dirty = True

    def snapshot(self) -> Mapping[str, tuple[str | int, ...]]:
        """A read-only copy of what was seen (the same object while nothing new was noted)."""
        if self._dirty:
            self._snapshot = MappingProxyType({name: tuple(values) for name, values in self.seen.items()})
            self._dirty = False
        return self._snapshot
