"""Dashboard sessions: an opaque random id in an HttpOnly, SameSite=Strict cookie, the session
itself (project, token, CSRF token) on the server, in memory (``lunge serve`` is one process).

A session ends when it expires, when its user signs out, or when its token is revoked (checked on
every request). Nothing secret is in the cookie: the token is checked once, at sign-in, and never
kept. The CSRF token is per session and compared in constant time (OWASP CSRF Prevention Cheat
Sheet, "synchronizer token pattern"); the sign-in form, before any session, uses a double-submit
cookie instead.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

SESSION_COOKIE = "lunge_session"
SIGNIN_COOKIE = "lunge_signin"  # the sign-in form's CSRF value (double submit), before a session exists
COOKIE_PATH = "/dashboard"
SESSION_TTL_S = 8 * 3600  # a working day; signing in again costs one paste
MAX_SESSIONS = 10_000  # memory stays bounded: past it the oldest sessions end


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    project_id: int
    project_name: str
    token_id: int
    csrf: str
    expires: float  # on the Sessions' clock (time.monotonic)


class Sessions:
    """The open sessions of this server process."""

    def __init__(self, ttl_s: float = SESSION_TTL_S, cap: int = MAX_SESSIONS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.cap = cap
        self._clock = clock
        self._open: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, project_id: int, project_name: str, token_id: int) -> Session:
        """A new session (a new id every time: a session id planted before sign-in is never reused)."""
        session = Session(secrets.token_urlsafe(32), project_id, project_name, token_id,
                          secrets.token_urlsafe(32), self._clock() + self.ttl_s)
        with self._lock:
            while len(self._open) >= self.cap:  # dicts keep insertion order: the first is the oldest
                del self._open[next(iter(self._open))]
            self._open[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        with self._lock:
            session = self._open.get(session_id)
            if session is not None and session.expires <= self._clock():
                del self._open[session_id]
                return None
        return session

    def close(self, session_id: str | None) -> None:
        with self._lock:
            self._open.pop(session_id or "", None)


def same(presented: str | None, expected: str | None) -> bool:
    """Whether a presented CSRF value is the expected one, in constant time; never for empty ones."""
    if not presented or not expected:
        return False
    return hmac.compare_digest(presented.encode("utf-8", "surrogateescape"),
                               expected.encode("utf-8", "surrogateescape"))


def new_signin_value() -> str:
    return secrets.token_urlsafe(24)
