"""Tokens and the failed-authentication limiter.

A token is ``lunge_`` + a public prefix + a secret, 256 bits from :mod:`secrets` in all. The store
keeps the prefix (to find the row) and the SHA-256 of the whole token; a presented token is hashed
and compared with :func:`hmac.compare_digest`. A plain hash is enough for secrets of this entropy
(no password-stretching needed: nobody can enumerate 2**256 values), as GitHub does for its tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

TOKEN_PREFIX = "lunge_"
_PREFIX_LEN = 8


@dataclass(frozen=True, slots=True)
class NewSecret:
    token: str  # shown once
    prefix: str
    sha256: str


def new_secret() -> NewSecret:
    """A fresh token.

    >>> s = new_secret(); s.token.startswith("lunge_" + s.prefix) and len(s.token) > 48
    True
    """
    body = secrets.token_urlsafe(32)
    token = TOKEN_PREFIX + body
    return NewSecret(token, body[:_PREFIX_LEN], sha256(token))


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def prefix_of(token: str) -> str | None:
    """The public prefix of a token in lunge's format, None for anything else."""
    if not token.startswith(TOKEN_PREFIX) or len(token) < len(TOKEN_PREFIX) + _PREFIX_LEN + 16:
        return None
    return token[len(TOKEN_PREFIX):len(TOKEN_PREFIX) + _PREFIX_LEN]


def same_secret(presented: str, expected_sha256: str) -> bool:
    """Whether ``presented`` hashes to ``expected_sha256``, in constant time."""
    return hmac.compare_digest(sha256(presented), expected_sha256)


def same_admin_token(presented: str, admin_token: str | None) -> bool:
    if not admin_token:
        return False
    return hmac.compare_digest(sha256(presented), sha256(admin_token))  # equal lengths: no length leak


class AuthLimiter:
    """At most ``limit`` failed authentications per client address in a sliding ``window`` of
    seconds; beyond that the client is refused (429) before its token is even looked at, so
    guessing tokens online is slow and cheap to refuse. In memory: one server process."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int:
        """Seconds until ``client`` may try again (0: now)."""
        now = time.monotonic()
        with self._lock:
            failures = self._prune(client, now)
            if len(failures) < self.limit:
                return 0
            return max(1, int(failures[0] + self.window - now) + 1)

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._prune(client, now).append(now)

    def _prune(self, client: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(client, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures and len(self._failures) > 10_000:  # forget idle clients: memory stays bounded
            self._failures = {k: v for k, v in self._failures.items() if v}
            self._failures[client] = failures
        return failures
