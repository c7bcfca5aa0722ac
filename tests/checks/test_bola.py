"""bola and broken-access by identity, driven by fake applications that know two users by their
session cookie: the object served to anyone signed in and its owner-checking twin; the traps (a public
object, one page whatever the id, a 403 for the other user); the admin function without and with a
role check, and a function every user was seen using."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from lunge.checks.base import Attack
from lunge.checks.bola import BOLA, id_like, object_point
from lunge.checks.identity import Identities, Identity
from lunge.checks.roleflag import BROKEN_ACCESS
from lunge.checks.testing import context, drive
from lunge.http import Request, Response

SESSIONS = {"s-alice-1": "alice", "s-bob-22": "bob"}
DOCS = {"7": ("alice", "Budget draft: travel 4200"), "8": ("bob", "Holiday plan: away in August")}
ALICE = Identity("alice", cookies=(("sid", "s-alice-1"),),
                 endpoints=frozenset({"GET /docs/{id}", "GET /admin", "GET /home"}))
BOB = Identity("bob", cookies=(("sid", "s-bob-22"),), endpoints=frozenset({"GET /docs/{id}", "GET /home"}))


def user(req: Request) -> str | None:
    match = re.search(r"sid=([\w-]+)", req.headers.get("cookie") or "")
    return SESSIONS.get(match.group(1)) if match else None


def page(body: str, status: int = 200) -> Response:
    return Response(status, body=f"<html><body><p>signed in as someone</p>{body}</body></html>".encode())


def documents(check_owner: bool) -> Callable[[Request], Response]:
    def app(req: Request) -> Response:
        who = user(req)
        if who is None:
            return page("<p>Sign in first.</p>", 401)
        doc = DOCS.get(req.path.rsplit("/", 1)[-1])
        if doc is None or (check_owner and doc[0] != who):
            return page("<p>No such document.</p>", 404)
        return page(f"<h1>Document</h1><p>Owner: {doc[0]}</p><p>{doc[1]}</p><p>Viewer: {who}</p>")

    return app


def run(app: Callable[[Request], Response], path: str = "/docs/7", *, own: str = "alice",
        identities: tuple[Identity, ...] = (ALICE, BOB), check=BOLA, cookie: str = "sid=s-alice-1; theme=dark"
        ) -> tuple[list, list[Attack]]:
    sent: list[Attack] = []
    req = Request.from_url(f"http://app.test{path}", headers=[("Cookie", cookie)])
    ctx = replace(context(req, "URI_value", app, seed=3), identities=Identities(identities, own))
    if not check.applies(ctx):
        return [], sent
    return drive(check, ctx, app, sent=sent), sent


def test_another_users_object_served_without_an_owner_check_is_found() -> None:
    verdicts, sent = run(documents(check_owner=False))
    assert len(verdicts) == 1 and verdicts[0].cwe == 639
    v = verdicts[0]
    assert v.point == "ACTION_NAME_value" and v.details["owner"] == "alice" and v.details["as"] == "bob"
    cookie = v.exchange.attack.request.headers.get("cookie") or ""
    assert "Budget draft" in v.exchange.text and "sid=s-bob-22" in cookie
    assert "theme=dark" in cookie  # other cookies kept
    assert [a.label for a in sent] == ["bola:as-bob", "bola:anonymous", "bola:unknown-id", "bola:confirm"]
    assert sent[1].request.headers.get("cookie") == "theme=dark"  # anonymous: the session stripped


def test_owner_checking_twin_is_silent() -> None:
    verdicts, sent = run(documents(check_owner=True))
    # bob refused; then alice's own neighbours 8 and 6: the owner check refuses her too
    assert verdicts == [] and [a.label for a in sent] == ["bola:as-bob", "bola:anonymous", "bola:neighbour",
                                                          "bola:neighbour"]


def test_trap_public_object_every_visitor_reads_is_silent() -> None:
    def public(req: Request) -> Response:
        return page("<h1>Notice</h1><p>Office closed on Monday.</p>")

    assert run(public)[0] == []


def test_trap_same_page_whatever_the_id_is_silent() -> None:
    def same(req: Request) -> Response:
        return page("<p>Team calendar</p>") if user(req) else page("<p>Sign in first.</p>", 401)

    verdicts, sent = run(same)
    assert verdicts == [] and [a.label for a in sent] == ["bola:as-bob", "bola:anonymous", "bola:unknown-id",
                                                          "bola:confirm", "bola:neighbour", "bola:neighbour"]


def test_no_object_or_no_other_user_means_no_request() -> None:
    assert run(documents(False), "/docs")[1] == []  # no id
    assert run(documents(False), identities=(ALICE,))[1] == []  # nobody else
    assert run(documents(False), own="")[1] == []  # recorded as nobody known
    stranger = Identity("carol", headers=(("X-Api-Key", "k"),))
    # carol's credentials do not fit; the neighbouring ids never name her
    verdicts, sent = run(documents(False), identities=(ALICE, stranger))
    assert verdicts == [] and [a.label for a in sent] == ["bola:neighbour", "bola:neighbour"]


def test_a_neighbouring_id_naming_another_user_is_found_with_the_owners_credentials() -> None:
    bob = Identity("bob", headers=(("X-Api-Key", "k"),))  # from the settings, for another part of the app
    verdicts, sent = run(documents(check_owner=False), identities=(ALICE, bob))
    assert [a.label for a in sent] == ["bola:neighbour", "bola:neighbour-anonymous", "bola:neighbour-confirm"]
    assert len(verdicts) == 1 and verdicts[0].details["technique"] == "id-enumeration"
    assert verdicts[0].details["object"] == "8" and "Owner: bob" in verdicts[0].proof
    assert sent[0].request.path == "/docs/8" and "sid=s-alice-1" in (sent[0].request.headers.get("cookie") or "")


def test_trap_neighbours_on_a_page_that_names_everyone_already() -> None:
    def roster(req: Request) -> Response:
        return page("<p>Team: alice, bob</p>") if user(req) else page("<p>Sign in first.</p>", 401)

    bob = Identity("bob", headers=(("X-Api-Key", "k"),))
    assert run(roster, identities=(ALICE, bob))[1] == []  # bob is named in the recorded answer: no oracle


def test_id_shapes() -> None:
    assert id_like("12") and id_like("3f2b9c1e-0a4d-4b8e-9c1f-2a3b4c5d6e7f") and id_like("5f1c2a9be07d")
    assert not id_like("docs") and not id_like("deadbeefcafe") and not id_like("")
    req = Request.from_url("http://app.test/list?page=2&doc_id=q3-report")
    ctx = context(req, "URI_value", documents(False))
    assert object_point(ctx).name == "GET_doc_id_value"  # type: ignore[union-attr]
    ctx = context(Request.from_url("http://app.test/list?page=2"), "URI_value", documents(False))
    assert object_point(ctx) is None  # a number in a query named like a page is no object


def admin(check_role: bool) -> Callable[[Request], Response]:
    def app(req: Request) -> Response:
        who = user(req)
        if who is None:
            return page("<p>Sign in first.</p>", 401)
        if check_role and who != "alice":
            return page("<p>Admins only.</p>", 403)
        return page("<h1>Members</h1><ul><li>alice: alice@example.com</li><li>bob: bob@example.com</li></ul>")

    return app


def test_admin_function_served_to_a_lower_user_is_found() -> None:
    verdicts, sent = run(admin(check_role=False), "/admin", check=BROKEN_ACCESS)
    assert len(verdicts) == 1 and verdicts[0].cwe == 285 and verdicts[0].point == "URI_value"
    assert verdicts[0].details == {"function": "GET /admin", "recorded_as": "alice", "as": "bob",
                                   "anonymous_status": 401}
    assert [a.label for a in sent] == ["broken-access:as-bob", "broken-access:anonymous", "broken-access:confirm"]


def test_role_checking_twin_and_traps_are_silent() -> None:
    assert run(admin(check_role=True), "/admin", check=BROKEN_ACCESS)[0] == []
    # a function both users were seen using is no privilege of alice's: not even attacked
    assert run(admin(check_role=False), "/home", check=BROKEN_ACCESS)[1] == []
    # a higher user is never replayed as if lower: bob's function as alice
    bob_only = replace(BOB, endpoints=BOB.endpoints | {"GET /mine"})
    assert run(admin(False), "/mine", own="bob", identities=(ALICE, bob_only), check=BROKEN_ACCESS,
               cookie="sid=s-bob-22")[1] == []

    def public(req: Request) -> Response:
        return page("<h1>Help</h1>")

    assert run(public, "/admin", check=BROKEN_ACCESS)[0] == []  # anonymous visitors read it too


def test_an_object_addressing_function_is_left_to_bola() -> None:
    assert run(documents(False), "/docs/7", check=BROKEN_ACCESS,
               identities=(replace(ALICE, endpoints=frozenset({"GET /docs/{id}", "GET /home"})),
                           replace(BOB, endpoints=frozenset({"GET /home"}))))[1] == []


def test_doctests() -> None:
    import doctest

    from lunge.checks import bola, identity

    assert doctest.testmod(bola).failed == 0 and doctest.testmod(identity).failed == 0
