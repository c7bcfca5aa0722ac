"""The team space: two users who may do different things (alice is the team's admin, bob a member).

Signing in (``POST /team/login``, form ``username``, ``password``) sets the ``team_session`` cookie
(a server-side session). Every page below answers 401 to a visitor without one.

- ``GET /team``: the team's front page, the same for every member (a trap: the same page for
  everyone is no object of anyone's).
- ``GET /team/docs/{id}``: a member's private document, served to any signed-in member who names its
  id (the mistake: no owner check). Twin ``GET /safe/team/docs/{id}``: another member's document is a
  404, as a missing one is.
- ``GET /team/notices/{id}``: notices, public (served to anyone, signed in or not): a trap, every
  user may read them.
- ``GET /team/admin/members``: the member list with e-mail addresses, an admin function shown only in
  the admin's menu but served to any signed-in member (the mistake: no role check). Twin
  ``GET /safe/team/admin/members``: a 403 for anyone but an admin.
"""

from __future__ import annotations

from aiohttp import web

from lunge.demo.auth import new_session, sign_in
from lunge.demo.pages import cookies, escape, message, page
from lunge.demo.state import Handler, demo

ROLES = {"alice": "admin", "bob": "member"}
DOCS = {1: ("alice", "Q3 budget draft", "Travel: 4 200. Tools: 1 150. Do not share before Friday."),
        2: ("bob", "Holiday plan", "Away 12-23 August; Carol covers the release.")}
NOTICES = {1: ("Office closed on Monday", "The office is closed on Monday for maintenance.")}
EMAILS = {"alice": "alice@example.com", "bob": "bob@example.com"}


async def login(request: web.Request) -> web.StreamResponse:
    """``POST /team/login``: the session cookie, then ``/team``; one answer for every failure."""
    form = await request.post()
    username, password = form.get("username"), form.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        return message("Team", "Pass a username and a password.", 400)
    db = demo(request).db
    user = await sign_in(request, username, password)  # the shop's limit on failed sign-ins
    if user is None or user[1] not in ROLES:
        return message("Team", "Wrong username or password.", 401)
    response = web.Response(status=303, text="See /team.", headers={"Location": "/team"})
    response.set_cookie("team_session", await new_session(db, user[0]), path="/", httponly=True, samesite="Strict")
    return response


async def _member(request: web.Request) -> str | None:
    """The signed-in member's user name (from the session cookie), or None."""
    token = cookies(request).get("team_session", "")
    rows = await demo(request).db.fetch(
        "SELECT users.username FROM sessions JOIN users ON users.id = sessions.user_id WHERE sessions.token = ?",
        (token,))
    name = rows[0][0] if rows else None
    return name if name in ROLES else None


def _signed_in(title: str) -> web.Response:
    return message(title, "Sign in to the team space first.", 401)


async def home(request: web.Request) -> web.StreamResponse:
    """``GET /team``: one page for every member."""
    if await _member(request) is None:
        return _signed_in("Team")
    return page("Team", "<p>Welcome to the team space.</p><p>Next meeting: Monday 10:00, room 2.</p>")


def document(check_owner: bool) -> Handler:
    """``GET /team/docs/{id}``: the document; the twin serves only its owner's."""

    async def handler(request: web.Request) -> web.StreamResponse:
        member = await _member(request)
        if member is None:
            return _signed_in("Document")
        doc = DOCS.get(int(request.match_info["id"]))
        if doc is None or (check_owner and doc[0] != member):
            return message("Document", "No such document.", 404)
        owner, title, text = doc
        return page("Document", f"<h2>{escape(title)}</h2><p>Owner: {escape(owner)}</p><p>{escape(text)}</p>")

    return handler


async def notice(request: web.Request) -> web.StreamResponse:
    """``GET /team/notices/{id}``: public notices, for anyone."""
    found = NOTICES.get(int(request.match_info["id"]))
    if found is None:
        return message("Notice", "No such notice.", 404)
    return page("Notice", f"<h2>{escape(found[0])}</h2><p>{escape(found[1])}</p>")


def members(check_role: bool) -> Handler:
    """``GET /team/admin/members``: the member list with e-mails; the twin checks the admin role."""

    async def handler(request: web.Request) -> web.StreamResponse:
        member = await _member(request)
        if member is None:
            return _signed_in("Members")
        if check_role and ROLES[member] != "admin":
            return message("Members", "Only the team's admin may see this.", 403)
        rows = "".join(f"<li>{escape(name)} ({escape(role)}): {escape(EMAILS[name])}</li>"
                       for name, role in sorted(ROLES.items()))
        return page("Members", f"<h2>Members</h2><ul>{rows}</ul>")

    return handler


def routes() -> list[web.RouteDef]:
    """The team space and its twins."""
    return [
        web.post("/team/login", login),
        web.get("/team", home),
        web.get(r"/team/docs/{id:\d{1,6}}", document(check_owner=False)),
        web.get(r"/safe/team/docs/{id:\d{1,6}}", document(check_owner=True)),
        web.get(r"/team/notices/{id:\d{1,6}}", notice),
        web.get("/team/admin/members", members(check_role=False)),
        web.get("/safe/team/admin/members", members(check_role=True)),
    ]
