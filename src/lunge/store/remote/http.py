"""The remote store's HTTP client: the standard library's ``http.client`` on one kept-alive
connection per thread (the store's methods are synchronous and called from many threads), JSON in
and out, the token on every request. Two kinds of failure: :class:`Unreachable` (no answer, 5xx,
401 or 429: worth trying again) and :class:`Rejected` (any other 4xx: the request itself is wrong,
sending it again changes nothing)."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import urllib.parse
from typing import Any

TIMEOUT_S = 30.0


class Unreachable(Exception):
    """The control plane did not take the request (down, restarting, overloaded, its database away);
    ``status`` is its HTTP status when it answered (5xx, 401, 429), else None."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Rejected(Exception):
    """The control plane refused the request as invalid (4xx other than 401 and 429)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status} {detail}")
        self.status = status
        self.detail = detail


class Client:
    def __init__(self, base_url: str, token: str, timeout: float = TIMEOUT_S) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self.scheme = parts.scheme
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.label = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{self.prefix}"
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
                         "Content-Type": "application/json"}
        self._timeout = timeout
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self.scheme == "https":
                conn = http.client.HTTPSConnection(self.host, self.port, timeout=self._timeout,
                                                   context=ssl.create_default_context())
            else:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self._timeout)
            self._local.conn = conn
        return conn

    def call(self, method: str, path: str, body: bytes | None = None,
             query: dict[str, Any] | None = None) -> Any:
        """One request; the decoded JSON answer. Raises Unreachable or Rejected."""
        target = self.prefix + path
        if query:
            target += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        conn = self._connection()
        try:
            conn.request(method, target, body=body, headers=self._headers)
            answer = conn.getresponse()
            data = answer.read()
        except (OSError, http.client.HTTPException) as exc:
            self.drop()
            raise Unreachable(f"{self.label}: {type(exc).__name__}: {exc}") from exc
        if answer.getheader("connection", "").lower() == "close":
            self.drop()
        status = answer.status
        if status < 300:
            return json.loads(data or b"null")
        detail = _detail(data, answer.reason)
        if status >= 500 or status in (401, 429):
            raise Unreachable(f"{self.label}: {method} {path}: {status} {detail}", status)
        raise Rejected(status, detail)

    def drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()


def _detail(data: bytes, reason: str) -> str:
    try:
        detail = json.loads(data).get("detail", reason)
    except (ValueError, AttributeError):
        return reason
    return detail if isinstance(detail, str) else json.dumps(detail)
