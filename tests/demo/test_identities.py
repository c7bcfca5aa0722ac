"""The demo's two users (the team space): replayed by hand as the other user and as an anonymous
visitor, the vulnerable endpoints give in and their twins resist; the traps answer everyone alike."""

from __future__ import annotations

from lunge.demo import MANIFEST
from lunge.http import Request
from tests.demo.conftest import Recording
from tests.demo.wire import Sent, send


def _cookie(sent: Sent) -> str:
    line = sent.response.headers.get("set-cookie") or ""
    return line.split(";", 1)[0]


def _as(request: Request, cookie: str | None) -> Request:
    headers = request.headers.remove("cookie")
    return request.with_headers(headers.add("Cookie", cookie) if cookie else headers)


async def _signed_in(recording: Recording, user: str) -> str:
    login = next(r for r in recording.requests if r.path == "/team/login" and f"username={user}".encode() in r.body)
    sent = await send(login)
    assert sent.status == 303 and _cookie(sent).startswith("team_session=")
    return _cookie(sent)


def test_the_suite_signs_in_as_both_users(recording: Recording) -> None:
    logins = [r.body for r in recording.requests if r.path == "/team/login"]
    assert len(logins) == 2 and b"username=alice" in logins[0] and b"username=bob" in logins[1]
    assert {e.check for e in MANIFEST if "identities" in e.needs} == {"bola", "broken-access"}


async def test_another_members_document_is_served_only_without_an_owner_check(recording: Recording) -> None:
    bob = await _signed_in(recording, "bob")
    vulnerable = await send(_as(recording.baseline("GET", "/team/docs/1"), bob))
    safe = await send(_as(recording.baseline("GET", "/safe/team/docs/1"), bob))
    anonymous = await send(_as(recording.baseline("GET", "/team/docs/1"), None))
    assert vulnerable.status == 200 and "Q3 budget draft" in vulnerable.text and "Owner: alice" in vulnerable.text
    assert safe.status == 404 and "Q3 budget draft" not in safe.text
    assert anonymous.status == 401


async def test_the_admin_function_is_served_to_a_member_only_without_a_role_check(recording: Recording) -> None:
    bob = await _signed_in(recording, "bob")
    vulnerable = await send(_as(recording.baseline("GET", "/team/admin/members"), bob))
    safe = await send(_as(recording.baseline("GET", "/safe/team/admin/members"), bob))
    anonymous = await send(_as(recording.baseline("GET", "/team/admin/members"), None))
    assert vulnerable.status == 200 and "alice@example.com" in vulnerable.text
    assert safe.status == 403 and "alice@example.com" not in safe.text
    assert anonymous.status == 401


async def test_traps_answer_every_user_alike(recording: Recording) -> None:
    alice, bob = await _signed_in(recording, "alice"), await _signed_in(recording, "bob")
    notice = recording.baseline("GET", "/team/notices/1")
    as_bob, as_nobody = await send(_as(notice, bob)), await send(_as(notice, None))
    assert as_bob.status == 200 and as_bob.same_as(as_nobody)  # public: the anonymous visitor reads it too
    home = recording.baseline("GET", "/team")
    assert (await send(_as(home, alice))).same_as(await send(_as(home, bob)))  # one page for every member
    assert (await send(_as(home, None))).status == 401
