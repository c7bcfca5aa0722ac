"""Request dependencies: the control plane's state and who is calling.

A token comes as ``Authorization: Bearer <token>`` or, for FAST's clients, ``X-WallarmAPI-Token``.
Failed attempts are counted per client address; past the limit the client gets 429 with
``Retry-After`` before its token is looked at.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from lunge.control.context import Control
from lunge.control.services.tenancy import Principal, identify
from lunge.errors import StoreError

_bearer = HTTPBearer(auto_error=False, description="A project token (lunge token create) or the admin token.")
_fast_header = APIKeyHeader(name="X-WallarmAPI-Token", auto_error=False, description="FAST's token header.")


def get_control(request: Request) -> Control:
    control: Control = request.app.state.control
    return control


ControlDep = Annotated[Control, Depends(get_control)]


def principal(request: Request, control: ControlDep,
              bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
              fast_token: Annotated[str | None, Security(_fast_header)]) -> Principal:
    client = request.client.host if request.client else "unknown"
    return authenticate(control, client, bearer.credentials if bearer is not None else fast_token)


def authenticate(control: Control, client: str, presented: str | None) -> Principal:
    """Who ``presented`` is, counting a failure against ``client``; HTTPException 429/401 otherwise."""
    wait = control.limiter.retry_after(client)
    if wait:
        raise HTTPException(429, "too many failed authentications: try again later",
                            headers={"Retry-After": str(wait)})
    if not presented:  # not a guess: not counted (a browser opening /v1/test_run is not an attack)
        raise HTTPException(401, "a token is required (Authorization: Bearer <token>)",
                            headers={"WWW-Authenticate": "Bearer"})
    who = identify(control, presented)
    if who is None:
        control.limiter.failed(client)
        raise HTTPException(401, "unknown or revoked token", headers={"WWW-Authenticate": "Bearer"})
    return who


def project_id(who: Annotated[Principal, Depends(principal)]) -> int:
    """The calling token's project; the admin token manages projects and tokens only."""
    if who.admin or who.project_id is None:
        raise HTTPException(403, "this needs a project token; the admin token only creates projects and tokens")
    return who.project_id


def admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if not who.admin:
        raise HTTPException(403, "this needs the admin token (LUNGE_ADMIN_TOKEN)")
    return who


async def project_gate(control: Control, scope: Scope) -> Response | None:
    """The answer refusing a request before its body is read (None: a project token, go on): the
    size limit lets only such requests send the bodies of its wider paths (``limits.BodySizeLimit``).
    The same checks as :func:`principal` then :func:`project_id`, the route's own, on the headers."""
    request = Request(scope)
    bearer = await _bearer(request)
    fast_token = await _fast_header(request)
    client = request.client.host if request.client else "unknown"
    presented = bearer.credentials if bearer is not None else fast_token
    try:  # a database lookup: off the event loop, as the sync routes' dependencies run
        project_id(await run_in_threadpool(authenticate, control, client, presented))
    except HTTPException as refused:
        headers = {**(refused.headers or {}), "Connection": "close"}  # the unread body is not drained
        return JSONResponse({"detail": refused.detail}, status_code=refused.status_code, headers=headers)
    except StoreError as exc:  # outside the application's error handlers: answered as they do (503)
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Connection": "close"})
    return None


ProjectId = Annotated[int, Depends(project_id)]
Admin = Annotated[Principal, Depends(admin)]
