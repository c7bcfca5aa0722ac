"""Replay first: is the baseline still answered the way it was recorded?

Every baseline is replayed before it is attacked. One whose replay fails (no connection, a server
error, 401/403 where 2xx was recorded, a login page instead of the page, a 404 for a resource that
existed) is "not tested", with the reason, and is not attacked: attacking a login page tests the
login page, and a green run built on it would be a lie (peers.md §0.7).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from lunge.checks.base import Exchange
from lunge.http import Response

_LOGIN_URL = re.compile(r"(log-?in|sign-?in|auth|sso|session/new|account/login)", re.IGNORECASE)
_PASSWORD_INPUT = re.compile(r"<input[^>]+type\s*=\s*[\"']?password", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ReplayVerdict:
    """Whether the baseline may be attacked; when not, why."""

    ok: bool
    reason: str = ""


def judge(recorded: Response | None, replays: Sequence[Exchange]) -> ReplayVerdict:
    """Compare fresh replays with the recorded response."""
    for exchange in replays:
        if exchange.response is None:
            return ReplayVerdict(False, f"replay failed: {exchange.error or 'no response'}")
    first = replays[0].response
    assert first is not None
    was = recorded.status if recorded is not None else None
    now = first.status
    if now >= 500 and (was is None or was < 500):
        return ReplayVerdict(False, f"server error {now} on replay" + _recorded(was))
    if now in (401, 403, 407) and (was is None or was < 400):
        return ReplayVerdict(False, f"{now} on replay{_recorded(was)}: the recorded credentials no longer work")
    if now == 404 and was is not None and was < 400:
        return ReplayVerdict(False, f"404 on replay{_recorded(was)}: the resource is gone")
    if _login_redirect(first) and (was is None or not 300 <= was < 400):
        return ReplayVerdict(False, f"redirected to a login page ({first.headers.get('location')})")
    if recorded is not None and _login_page(first) and not _login_page(recorded):
        return ReplayVerdict(False, "a login page was served instead of the recorded page")
    return ReplayVerdict(True)


def _recorded(status: int | None) -> str:
    return f" (recorded {status})" if status is not None else ""


def _login_redirect(response: Response) -> bool:
    if not 300 <= response.status < 400:
        return False
    return bool(_LOGIN_URL.search(response.headers.get("location") or ""))


def _login_page(response: Response) -> bool:
    if not 200 <= response.status < 300 or "html" not in response.content_type:
        return False
    return bool(_PASSWORD_INPUT.search(response.text()[:200_000]))
