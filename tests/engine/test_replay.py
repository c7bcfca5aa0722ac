from __future__ import annotations

import pytest

from lunge.checks.base import Attack, Exchange
from lunge.engine.replay import judge
from lunge.http import Headers, Request, Response

REQ = Request.from_url("http://t.test/account")


def _ex(status: int | None, body: str = "ok", headers: list[tuple[str, str]] | None = None,
        ctype: str = "text/html") -> Exchange:
    if status is None:
        return Exchange(Attack(REQ, ""), None, 0.0, "connection failed: refused")
    return Exchange(Attack(REQ, ""), Response(status, headers=Headers([("Content-Type", ctype), *(headers or [])]),
                                              body=body.encode()), 0.01)


@pytest.mark.parametrize(
    ("recorded", "replay", "ok", "reason"),
    [
        (200, _ex(200), True, ""),
        (200, _ex(None), False, "replay failed: connection failed"),
        (200, _ex(502), False, "server error 502 on replay (recorded 200)"),
        (500, _ex(500), True, ""),
        (200, _ex(401), False, "401 on replay (recorded 200)"),
        (200, _ex(403), False, "403 on replay (recorded 200)"),
        (403, _ex(403), True, ""),
        (200, _ex(404), False, "404 on replay (recorded 200)"),
        (200, _ex(302, headers=[("Location", "/login?next=/account")]), False, "redirected to a login page"),
        (302, _ex(302, headers=[("Location", "/login")]), True, ""),
        (200, _ex(200, '<form><input type="password" name="p"></form>'), False, "a login page was served"),
        (None, _ex(200), True, ""),
        (None, _ex(401), False, "401 on replay"),
    ],
)
def test_judge(recorded: int | None, replay: Exchange, ok: bool, reason: str) -> None:
    response = Response(recorded, headers=Headers([("Content-Type", "text/html")]), body=b"ok") if recorded else None
    verdict = judge(response, [replay, replay])
    assert verdict.ok is ok
    assert verdict.reason.startswith(reason)
