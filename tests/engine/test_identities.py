"""Identities learned from a record (the sign-ins whose credentials later requests carry) and from
the settings, and a whole run against a real loopback application with two users: bola and
broken-access found where the application checks nothing, silent on its twins and traps."""

from __future__ import annotations

import asyncio
import secrets

from aiohttp import web

from lunge.checks.bola import BOLA
from lunge.checks.identity import Identity
from lunge.checks.roleflag import BROKEN_ACCESS
from lunge.engine.flow import FlowMap
from lunge.engine.identities import IdentityBook, for_request, merged, user_of
from lunge.engine.runner import Events, RunConfig, RunEngine
from lunge.http import Headers, Request, Response
from lunge.policy import BUILTIN
from lunge.store.models import NewBaseline, RunState, TestSetStatus
from tests.demo.wire import send

FORM = [("Content-Type", "application/x-www-form-urlencoded")]


def _learn(exchanges: list[tuple[Request, Response]]) -> tuple[Identity, ...]:
    flows, book = FlowMap(), IdentityBook()
    for seq, (request, response) in enumerate(exchanges, 1):
        flows.learn(seq, seq, request, response)
        book.learn(seq, seq, request, response, flows.uses.get(seq, ()))
    return book.identities()


def _cookie(name: str, value: str) -> Response:
    return Response(303, headers=Headers([("Set-Cookie", f"{name}={value}; Path=/; HttpOnly")]))


def test_identities_from_a_synthetic_record() -> None:
    login = "http://t.test/login"
    record = [
        (Request.from_url(login, "POST", headers=FORM, body=b"username=alice&password=pw"), _cookie("sid", "alice-s1")),
        (Request.from_url("http://t.test/docs/7", headers=[("Cookie", "sid=alice-s1")]), Response(200, body=b"a")),
        (Request.from_url("http://t.test/api/token", "POST", headers=[("Content-Type", "application/json")],
                          body=b'{"email": "bob@example.com", "password": "pw"}'),
         Response(200, headers=Headers([("Content-Type", "application/json")]), body=b'{"token": "bob-token-22"}')),
        (Request.from_url("http://t.test/docs/8", headers=[("Authorization", "Bearer bob-token-22")]),
         Response(200, body=b"b")),
        # a cookie set by a page that is no sign-in (a preference): nobody's identity
        (Request.from_url("http://t.test/prefs"), _cookie("theme", "dark-blue-7")),
        (Request.from_url("http://t.test/home", headers=[("Cookie", "theme=dark-blue-7")]), Response(200, body=b"h")),
        # alice signs in again to another part of the application: the same identity
        (Request.from_url("http://t.test/shop/login", "POST", headers=FORM, body=b"username=alice&password=pw"),
         _cookie("cart_session", "alice-c3c3")),
        (Request.from_url("http://t.test/shop/cart", headers=[("Cookie", "cart_session=alice-c3c3")]),
         Response(200, body=b"c")),
        # a sign-in without a user field: named after its position
        (Request.from_url("http://t.test/sso/login", "POST", headers=FORM, body=b"password=pw"),
         _cookie("sso", "anon-sso-99")),
        (Request.from_url("http://t.test/sso/me", headers=[("Cookie", "sso=anon-sso-99")]), Response(200, body=b"s")),
    ]
    identities = {i.name: i for i in _learn(record)}
    assert sorted(identities) == ["alice", "bob@example.com", "signin-#9"]
    alice, bob = identities["alice"], identities["bob@example.com"]
    assert alice.cookies == (("sid", "alice-s1"), ("cart_session", "alice-c3c3")) and alice.headers == ()
    assert alice.endpoints == {"GET /docs/{id}", "GET /shop/cart"} and alice.source == "record: POST /login #1"
    assert bob.headers == (("Authorization", "Bearer bob-token-22"),) and bob.endpoints == {"GET /docs/{id}"}
    mine = for_request(tuple(identities.values()), record[3][0])
    assert mine.own == "bob@example.com" and [i.name for i in mine.others()] == ["alice", "signin-#9"]
    assert for_request(tuple(identities.values()), record[5][0]).own == ""


def test_sign_ins_are_told_by_a_password_field_or_their_path() -> None:
    assert user_of(Request.from_url("http://t/x", "POST", headers=FORM, body=b"login=carol&pwd=1")) == "carol"
    assert user_of(Request.from_url("http://t/signin", "POST", headers=FORM, body=b"code=1")) == ""
    assert user_of(Request.from_url("http://t/search?user=carol")) is None


def test_settings_identities_win_over_the_records_and_keep_its_endpoints() -> None:
    learned = (Identity("bob", cookies=(("sid", "old"),), endpoints=frozenset({"GET /a"})), Identity("alice"))
    configured = (Identity("bob", cookies=(("sid", "new"),), source="settings"), Identity("carol", source="settings"))
    out = {i.name: i for i in merged(learned, configured)}
    assert list(out) == ["bob", "alice", "carol"]
    assert out["bob"].cookies == (("sid", "new"),) and out["bob"].endpoints == {"GET /a"}


# ---------------------------------------------------------------------- a whole run, two users
USERS = {"alice": "admin", "bob": "member"}
DOCS = {1: ("alice", "Budget draft: travel 4200"), 2: ("bob", "Holiday plan: away in August")}


SESSIONS = web.AppKey("sessions", dict[str, str])


def _team_app() -> web.Application:
    sessions: dict[str, str] = {}

    async def login(request: web.Request) -> web.Response:
        form = await request.post()
        name = str(form.get("username"))
        if name not in USERS or form.get("password") != "pw":
            return web.Response(status=401, text="wrong username or password")
        token = secrets.token_hex(8)
        sessions[token] = name
        response = web.Response(status=303, text="see /home", headers={"Location": "/home"})
        response.set_cookie("sid", token, httponly=True, samesite="Strict")
        return response

    def who(request: web.Request) -> str | None:
        return sessions.get(request.cookies.get("sid", ""))

    def html(body: str, status: int = 200) -> web.Response:
        return web.Response(status=status, text=f"<html><body>{body}</body></html>", content_type="text/html")

    async def home(request: web.Request) -> web.Response:
        return html("<p>Team space: next meeting Monday.</p>") if who(request) else html("sign in", 401)

    def doc(check_owner: bool):  # noqa: ANN202 - an aiohttp handler
        async def handler(request: web.Request) -> web.Response:
            user = who(request)
            if user is None:
                return html("sign in", 401)
            found = DOCS.get(int(request.match_info["id"]))
            if found is None or (check_owner and found[0] != user):
                return html("no such document", 404)
            return html(f"<h1>{found[1]}</h1><p>owner: {found[0]}</p>")

        return handler

    async def notice(request: web.Request) -> web.Response:
        return html("<h1>Office closed on Monday</h1>")

    def members(check_role: bool):  # noqa: ANN202 - an aiohttp handler
        async def handler(request: web.Request) -> web.Response:
            user = who(request)
            if user is None:
                return html("sign in", 401)
            if check_role and USERS[user] != "admin":
                return html("admins only", 403)
            return html("<ul><li>alice@example.com</li><li>bob@example.com</li></ul>")

        return handler

    app = web.Application()
    app[SESSIONS] = sessions
    app.add_routes([
        web.post("/login", login), web.get("/home", home),
        web.get(r"/docs/{id:\d+}", doc(False)), web.get(r"/safe/docs/{id:\d+}", doc(True)),
        web.get(r"/notices/{id:\d+}", notice),
        web.get("/admin/members", members(False)), web.get("/safe/admin/members", members(True)),
    ])
    return app


async def _record(store, base: str, script: list[tuple[str, str, bytes]]) -> int:
    """Send the script like a browser per user (a cookie jar each) and store what was sent."""
    record = store.create_record("two users")
    jar: dict[str, str] = {}
    baselines = []
    for user, path, body in script:
        headers = [("Cookie", jar[user])] if user in jar else []
        request = Request.from_url(base + path, "POST" if body else "GET", headers=headers + (FORM if body else []),
                                   body=body)
        sent = await send(request)
        cookie = sent.response.headers.get("set-cookie")
        if cookie:
            jar[user] = cookie.split(";", 1)[0]
        baselines.append(NewBaseline(record.id, request, sent.response))
    store.add_baselines(baselines)
    store.close_record(record.id)
    return record.id


async def _findings(store, record_id: int, identities: tuple[Identity, ...] = ()) -> set[tuple[str, str, str]]:
    run = store.create_run(name="run", record_id=record_id, policy_name="default")
    config = RunConfig(policy=BUILTIN["default"], checks=(BOLA, BROKEN_ACCESS), workers=2, identities=identities)
    await RunEngine(store, run, config, Events()).execute()
    return {(f.check_id, f.url.split("/", 3)[3], f.point) for f in store.iter_findings(run.id)
            if not f.check_id.startswith("passive-")}


async def test_a_run_with_two_users_finds_bola_and_broken_access_and_nothing_on_the_twins(store, loopback) -> None:
    server = await loopback(_team_app())
    record_id = await _record(store, server.url, [
        ("alice", "/login", b"username=alice&password=pw"), ("alice", "/home", b""), ("alice", "/docs/1", b""),
        ("alice", "/safe/docs/1", b""), ("alice", "/notices/1", b""), ("alice", "/admin/members", b""),
        ("alice", "/safe/admin/members", b""),
        ("bob", "/login", b"username=bob&password=pw"), ("bob", "/home", b""),
    ])
    assert await _findings(store, record_id) == {("bola", "docs/1", "ACTION_NAME_value"),
                                                 ("broken-access", "admin/members", "URI_value")}


async def test_identities_sign_in_afresh_when_the_recorded_sessions_are_gone(store, loopback) -> None:
    app = _team_app()
    server = await loopback(app)
    record_id = await _record(store, server.url, [
        ("alice", "/login", b"username=alice&password=pw"), ("alice", "/docs/1", b""),
        ("alice", "/admin/members", b""), ("bob", "/login", b"username=bob&password=pw"), ("bob", "/home", b""),
    ])
    app[SESSIONS].clear()  # the application restarted between recording and testing
    assert await _findings(store, record_id) == {("bola", "docs/1", "ACTION_NAME_value"),
                                                 ("broken-access", "admin/members", "URI_value")}


async def test_a_second_user_from_the_settings_alone(store, loopback) -> None:
    server = await loopback(_team_app())
    record_id = await _record(store, server.url, [
        ("alice", "/login", b"username=alice&password=pw"), ("alice", "/docs/1", b""), ("alice", "/safe/docs/1", b""),
        ("bob", "/login", b"username=bob&password=pw"),  # bob signs in but sends nothing: no identity learned
    ])
    assert await _findings(store, record_id) == set()
    bob_login = await send(Request.from_url(server.url + "/login", "POST", headers=FORM,
                                            body=b"username=bob&password=pw"))
    session = (bob_login.response.headers.get("set-cookie") or "").split(";", 1)[0].partition("=")[2]
    bob = Identity("bob", cookies=(("sid", session),), source="settings")
    assert await _findings(store, record_id, (bob,)) == {("bola", "docs/1", "ACTION_NAME_value")}


async def test_a_followed_record_meets_the_identity_checks_once_a_second_user_signs_in(store, loopback) -> None:
    """A record followed while it is recorded (a recording run): alice's baselines are tested as
    they arrive, before bob ever signed in; once he does, they meet the checks that replay a
    baseline as another user (a functional suite signs its users in one after another)."""
    server = await loopback(_team_app())
    record = store.create_record("live")
    run = store.create_run(name="run", record_id=record.id, policy_name="default")
    config = RunConfig(policy=BUILTIN["default"], checks=(BOLA, BROKEN_ACCESS), workers=2, follow=0.05)
    testing = asyncio.create_task(RunEngine(store, run, config, Events()).execute())
    jar: dict[str, str] = {}

    async def browse(script: list[tuple[str, str, bytes]]) -> None:
        for user, path, body in script:
            headers = [("Cookie", jar[user])] if user in jar else []
            request = Request.from_url(server.url + path, "POST" if body else "GET",
                                       headers=headers + (FORM if body else []), body=body)
            sent = await send(request)
            if cookie := sent.response.headers.get("set-cookie"):
                jar[user] = cookie.split(";", 1)[0]
            store.add_baselines([NewBaseline(record.id, request, sent.response)])

    await browse([("alice", "/login", b"username=alice&password=pw"), ("alice", "/docs/1", b""),
                  ("alice", "/safe/docs/1", b""), ("alice", "/admin/members", b""),
                  ("alice", "/safe/admin/members", b"")])
    async with asyncio.timeout(60):
        while len(list(store.iter_test_sets(run.id))) < 5:  # every one of alice's tested, bob unknown
            await asyncio.sleep(0.05)
    await browse([("bob", "/login", b"username=bob&password=pw"), ("bob", "/home", b"")])
    store.close_record(record.id)
    async with asyncio.timeout(120):
        final = await testing
    found = {(f.check_id, f.url.split("/", 3)[3], f.point) for f in store.iter_findings(run.id)
             if not f.check_id.startswith("passive-")}
    assert found == {("bola", "docs/1", "ACTION_NAME_value"), ("broken-access", "admin/members", "URI_value")}
    assert final.state is RunState.FAILED and final.findings_count == len(list(store.iter_findings(run.id)))
    failed = {t.baseline_id for t in store.iter_test_sets(run.id) if t.status is TestSetStatus.FAILED}
    late = {f.baseline_id for f in store.iter_findings(run.id) if not f.check_id.startswith("passive-")}
    assert late <= failed  # their first test set (passed) was replaced


def test_doctests() -> None:
    import doctest

    from lunge.engine import identities
    from lunge.record import dedup

    assert doctest.testmod(identities).failed == 0 and doctest.testmod(dedup).failed == 0
