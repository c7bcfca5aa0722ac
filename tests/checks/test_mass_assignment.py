"""mass-assignment, driven by fake update endpoints: a model bound to the whole body (stored, or only
answered), the allow-listed twin, and the traps (an echo service; nothing sensitive in the answer)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from lunge.checks.base import Attack
from lunge.checks.massassign import MASS_ASSIGNMENT
from lunge.checks.testing import context, drive
from lunge.http import Request, Response


class Profiles:
    def __init__(self, allowed: frozenset[str] | None, store: bool = True) -> None:
        self.profile: dict[str, Any] = {"username": "alice", "theme": "light", "role": "customer", "is_admin": False}
        self.allowed = allowed
        self.store = store

    def __call__(self, req: Request) -> Response:
        body = json.loads(req.body)
        model = {k: v for k, v in body.items() if k in self.profile and k != "username"
                 and (self.allowed is None or k in self.allowed)}
        updated = {**self.profile, **model}
        if self.store:
            self.profile = updated
        return Response(200, body=json.dumps({"profile": updated}).encode())


def request(body: dict[str, Any] | None = None) -> Request:
    return Request.from_url("http://app.test/api/profile", "PUT", [("Content-Type", "application/json")],
                            json.dumps(body or {"theme": "light"}).encode())


def run(responder: Callable[[Request], Response], req: Request | None = None) -> tuple[list, list[Attack]]:
    sent: list[Attack] = []
    ctx = context(req or request(), "URI_value", responder, seed=2)
    return drive(MASS_ASSIGNMENT, ctx, responder, sent=sent), sent


def test_bound_and_stored_fields_are_found_and_restored() -> None:
    app = Profiles(allowed=None)
    verdicts, sent = run(app)
    assert len(verdicts) == 1 and verdicts[0].cwe == 915
    assert verdicts[0].details["fields"] == ["is_admin", "role"]
    assert verdicts[0].details["stored"] == ["is_admin", "role"]
    assert len(sent) == 3
    assert app.profile["role"] == "customer" and app.profile["is_admin"] is False  # put back


def test_bound_but_not_stored_is_found_from_the_answer() -> None:
    verdicts, _ = run(Profiles(allowed=None, store=False))
    assert verdicts and verdicts[0].details["stored"] == []


def test_allow_listed_twin_is_silent() -> None:
    verdicts, sent = run(Profiles(allowed=frozenset({"theme"})))
    assert verdicts == [] and len(sent) == 3


def test_trap_echo_service_is_silent() -> None:
    def echo(req: Request) -> Response:
        return Response(200, body=json.dumps({"received": {"role": "customer", **json.loads(req.body)}}).encode())

    assert run(echo)[0] == []


def test_trap_nothing_sensitive_or_a_read_is_not_attacked() -> None:
    def plain(req: Request) -> Response:
        return Response(200, body=b'{"theme": "light", "name": "Alice"}')

    assert run(plain)[1] == []
    get = Request.from_url("http://app.test/api/profile")
    assert run(lambda r: Response(200, body=b'{"role": "customer"}'), get)[1] == []
