"""The dashboard (``/dashboard`` in ``lunge serve``): server-rendered pages (Jinja2) over the same
services as the ``/v1`` API, for the project of the token a user signed in with. No front-end
build and nothing fetched from elsewhere: the templates, one stylesheet and one small script
(polling a run's counters) ship in the package and are served by the application.

Layout: :mod:`.sessions` (server-side sessions, CSRF values), :mod:`.auth` (the session and form
dependencies), :mod:`.render` (Jinja2, autoescaped, controls escaped), :mod:`.headers` (CSP and
friends), ``routes/`` (thin routers), ``templates/`` and ``static/``.

May import: :mod:`lunge.control.services`, :mod:`lunge.control.deps` (never ``lunge.control.routes``
nor the SQL store: import-linter holds it).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from lunge.control.dashboard.auth import CsrfRefused, SignInRequired
from lunge.control.dashboard.headers import PREFIX, SecurityHeaders
from lunge.control.dashboard.render import page
from lunge.control.dashboard.routes import inventory, policies, runs, signin
from lunge.control.dashboard.sessions import Sessions

__all__ = ["PREFIX", "error_page", "install", "is_dashboard"]


def install(api: FastAPI) -> None:
    """Add the dashboard to the application: its routers, its static files, its sessions."""
    api.state.sessions = Sessions()
    for module in (signin, runs, inventory, policies):
        api.include_router(module.router)
    static = StaticFiles(packages=[("lunge.control.dashboard", "static")])
    api.mount(PREFIX + "/static", static, name="dashboard-static")
    api.add_exception_handler(SignInRequired, _signed_out)
    api.add_exception_handler(CsrfRefused, _csrf_refused)
    api.add_middleware(SecurityHeaders)


def is_dashboard(request: Request) -> bool:
    path = request.url.path
    return path == PREFIX or path.startswith(PREFIX + "/")


def error_page(request: Request, status: int, message: str) -> Response:
    """An error of a dashboard request: JSON for the live fragments, else a page."""
    if request.url.path.startswith(PREFIX + "/live/"):
        return JSONResponse({"detail": message}, status_code=status)
    return page(request, "error.html.j2", None, status, status=status, message=message)


async def _signed_out(request: Request, _: Exception) -> Response:
    if request.url.path.startswith(PREFIX + "/live/"):
        return JSONResponse({"detail": "signed out"}, status_code=401)
    return RedirectResponse(PREFIX + "/signin", status_code=303)


async def _csrf_refused(request: Request, _: Exception) -> HTMLResponse:
    message = "This form expired or was not sent from this dashboard: reload the page and try again."
    return page(request, "error.html.j2", None, 403, status=403, message=message)
