"""The dashboard's request dependencies: the signed-in session (same authorization as the API: the
session's project is its token's, and the token must still be valid) and forms checked for their
CSRF token."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Depends, Request

from lunge.control.dashboard.sessions import SESSION_COOKIE, Session, Sessions, same
from lunge.control.deps import ControlDep
from lunge.control.services.tenancy import token_active
from lunge.errors import ConfigError

MAX_FIELDS = 20


class SignInRequired(Exception):
    """No valid session: a page redirects to the sign-in form, a live fragment answers 401."""


class CsrfRefused(Exception):
    """A state-changing form without this session's CSRF token: refused with 403, nothing done."""


def sessions_of(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.sessions
    return sessions


def current(request: Request, control: ControlDep) -> Session:
    sessions = sessions_of(request)
    session = sessions.get(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise SignInRequired
    if not token_active(control, session.project_id, session.token_id):
        sessions.close(session.id)
        raise SignInRequired
    return session


SessionDep = Annotated[Session, Depends(current)]


async def form(request: Request) -> dict[str, str]:
    """The posted form's fields (``application/x-www-form-urlencoded``; the last of a repeated name)."""
    body = (await request.body()).decode("utf-8", "replace")
    try:
        fields = parse_qs(body, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError as exc:  # more fields than any dashboard form has
        raise ConfigError(f"a form of more than {MAX_FIELDS} fields") from exc
    return {name: values[-1] for name, values in fields.items()}


FormDep = Annotated[dict[str, str], Depends(form)]


def checked_form(session: SessionDep, fields: FormDep) -> dict[str, str]:
    if not same(fields.get("csrf"), session.csrf):
        raise CsrfRefused
    return fields


CheckedForm = Annotated[dict[str, str], Depends(checked_form)]
