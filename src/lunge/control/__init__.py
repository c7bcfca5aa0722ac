"""The control plane (``lunge serve``): the REST API under ``/v1`` (FastAPI), its auth (projects
and their tokens, an admin token for bootstrap) and its limits, on the store's database.

Layout, in the FastAPI full-stack template's spirit: :mod:`.app` builds the application,
``routes/`` holds thin routers (HTTP in, HTTP out), ``services/`` the logic they call (project
scoping, validation, run state changes), :mod:`.deps` the dependencies (auth), :mod:`.security`
tokens and the failed-auth limiter, :mod:`.limits` the request size limit, :mod:`.server` uvicorn.

May import: :mod:`lunge.store`, :mod:`lunge.policy`, :mod:`lunge.report` (and the checks registry,
to validate a policy's check names as ``lunge policy validate`` does). Settings arrive parsed
(:class:`~lunge.control.config.ControlConfig`); nothing here reads ``os.environ``.
"""

from __future__ import annotations

from lunge.control.config import ControlConfig

__all__ = ["ControlConfig"]
