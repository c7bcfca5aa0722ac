"""Signing in with a project token and out. The token is checked as the API checks it (the same
failed-authentication limiter per client address) and never kept: the session remembers the
project and the token's id only."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from lunge.control.dashboard.auth import CheckedForm, FormDep, current, sessions_of
from lunge.control.dashboard.render import page
from lunge.control.dashboard.sessions import (
    COOKIE_PATH,
    SESSION_COOKIE,
    SESSION_TTL_S,
    SIGNIN_COOKIE,
    new_signin_value,
    same,
)
from lunge.control.deps import ControlDep
from lunge.control.services.tenancy import identify

router = APIRouter(prefix="/dashboard", include_in_schema=False)
SIGNIN_TTL_S = 3600


@router.get("")
def home(request: Request, control: ControlDep) -> RedirectResponse:
    current(request, control)  # signed out: the sign-in form
    return RedirectResponse("/dashboard/runs", status_code=303)


@router.get("/signin")
def signin_form(request: Request) -> HTMLResponse:
    return _form(request)


@router.post("/signin")
def sign_in(request: Request, control: ControlDep, fields: FormDep) -> Response:
    if not same(fields.get("csrf"), request.cookies.get(SIGNIN_COOKIE)):
        return _form(request, "The form expired: sign in again.", 403)
    client = request.client.host if request.client else "unknown"
    wait = control.limiter.retry_after(client)
    if wait:
        answer = _form(request, f"Too many failed sign-ins: try again in {wait} s.", 429)
        answer.headers["Retry-After"] = str(wait)
        return answer
    who = identify(control, fields.get("token", "").strip())
    if who is None:
        control.limiter.failed(client)
        return _form(request, "Unknown or revoked token.", 401)
    if who.admin or who.project_id is None or who.token_id is None:
        return _form(request, "The admin token reaches no project's data: sign in with a project token.", 403)
    project = control.projects.get_project(who.project_id)
    session = sessions_of(request).open(project.id, project.name, who.token_id)
    done = RedirectResponse("/dashboard/runs", status_code=303)
    done.set_cookie(SESSION_COOKIE, session.id, max_age=SESSION_TTL_S, path=COOKIE_PATH, httponly=True,
                      samesite="strict", secure=request.url.scheme == "https")
    done.delete_cookie(SIGNIN_COOKIE, path=COOKIE_PATH)
    return done


@router.post("/signout")
def sign_out(request: Request, _: CheckedForm) -> RedirectResponse:
    sessions_of(request).close(request.cookies.get(SESSION_COOKIE))
    answer = RedirectResponse("/dashboard/signin", status_code=303)
    answer.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return answer


def _form(request: Request, error: str = "", status: int = 200) -> HTMLResponse:
    """The sign-in form with a fresh double-submit CSRF value (cookie and hidden field)."""
    value = new_signin_value()
    answer = page(request, "signin.html.j2", None, status, error=error, csrf=value)
    answer.set_cookie(SIGNIN_COOKIE, value, max_age=SIGNIN_TTL_S, path=COOKIE_PATH, httponly=True,
                      samesite="strict", secure=request.url.scheme == "https")
    return answer
