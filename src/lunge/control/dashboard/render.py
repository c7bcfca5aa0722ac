"""Rendering the dashboard's pages: Jinja2 with autoescaping on (everything recorded is hostile
text) and every printed string passed through :func:`lunge.logs.escape_controls` first, so a control
character or a bidirectional override in a recorded value shows as an escape (``\\u202e``) instead
of reordering the page around it, as the console, the logs and the reports do."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from lunge import __version__
from lunge.control.dashboard.sessions import Session
from lunge.logs import escape_controls
from lunge.report.document import SEVERITY_ORDER


def _printable(value: Any) -> Any:
    """What ``{{ value }}`` prints, before autoescaping: strings with their controls escaped
    (line breaks and tabs kept, for the request and response excerpts in ``<pre>``)."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return escape_controls(value, keep="\n\t")
    return value


def _when(value: str | datetime | None) -> str:
    """An ISO timestamp as ``2026-12-05 07:01:58 UTC`` (every timestamp lunge keeps is UTC)."""
    if value is None:
        return "–"
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return text[:19].replace("T", " ") + " UTC"


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("lunge.control.dashboard", "templates"),
    autoescape=True,
    finalize=_printable,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)
_ENV.filters["when"] = _when
_ENV.globals.update(version=__version__, severities=SEVERITY_ORDER)


def page(request: Request, template: str, session: Session | None, code: int = 200,
         **context: Any) -> HTMLResponse:
    """A whole page (the security headers are added for every ``/dashboard`` response by
    :class:`~lunge.control.dashboard.headers.SecurityHeaders`)."""
    body = _ENV.get_template(template).render(request=request, session=session, path=request.url.path, **context)
    return HTMLResponse(body, status_code=code)


PAGE = 50  # rows of a listing page


def listing(request: Request, template: str, session: Session, name: str,
            fetch: Callable[[int, int], list[Any]], offset: int) -> HTMLResponse:
    """A listing page: :data:`PAGE` rows from ``offset`` as ``name``; ``fetch(limit, offset)`` is
    asked for one row more, which tells whether a next page exists."""
    listed = fetch(PAGE + 1, offset)
    rows: dict[str, Any] = {name: listed[:PAGE]}
    return page(request, template, session, offset=offset, more=len(listed) > PAGE, page_size=PAGE, **rows)
