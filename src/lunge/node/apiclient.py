"""A small client of the control plane's REST API for pipelines (``lunge runs create|show|wait|list``).

The standard library's HTTP client: a CI job makes a handful of calls, so no dependency is worth
it. Errors become one line (:class:`~lunge.errors.LungeError`, exit 1; a refused token or a bad
order is the caller's input: :class:`~lunge.errors.ConfigError`, exit 2).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from lunge.errors import ConfigError, LungeError
from lunge.node.settings import ApiSettings

TIMEOUT_S = 30.0


class ApiClient:
    def __init__(self, settings: ApiSettings) -> None:
        self.base = settings.url.rstrip("/")
        self._token = settings.token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             query: dict[str, Any] | None = None) -> dict[str, Any]:
        """One request; the JSON answer. 4xx: ConfigError with the server's reason; else LungeError."""
        url = self.base + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None}, doseq=True)
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
                payload: dict[str, Any] = json.loads(answer.read() or b"{}")
                return payload
        except urllib.error.HTTPError as exc:
            detail = _detail(exc)
            error = ConfigError if 400 <= exc.code < 500 and exc.code != 429 else LungeError
            raise error(f"{method} {url}: {exc.code} {detail}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise LungeError(f"control plane {self.base} unreachable: {reason}") from exc

    def create_run(self, order: dict[str, Any]) -> dict[str, Any]:
        return self.call("POST", "/v1/test_run", {k: v for k, v in order.items() if v is not None})

    def get_run(self, run_id: int) -> dict[str, Any]:
        return self.call("GET", f"/v1/test_run/{run_id}")

    def list_runs(self, limit: int, states: list[str]) -> list[dict[str, Any]]:
        objects: list[dict[str, Any]] = self.call("GET", "/v1/test_run", query={"limit": limit,
                                                                              "state": states or None})["objects"]
        return objects

    def wait(self, run_id: int, timeout: float, interval: float,
             sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
        """Poll the run until it is finished; LungeError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.get_run(run_id)
            if run["finished"]:
                return run
            if time.monotonic() >= deadline:
                raise LungeError(f"test run {run['label']} still {run['state']} after {timeout:g} s")
            sleep(interval)


def _detail(exc: urllib.error.HTTPError) -> str:
    try:
        detail = json.loads(exc.read() or b"{}").get("detail", exc.reason)
    except ValueError:
        return str(exc.reason)
    return detail if isinstance(detail, str) else json.dumps(detail)
