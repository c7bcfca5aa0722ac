"""The FastAPI application: routers, error mapping, the size limit. :func:`create_app` takes an
opened :class:`~lunge.control.context.Control` (tests hand it one on a temporary database)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from lunge import __version__
from lunge.control import dashboard
from lunge.control.context import Control
from lunge.control.deps import project_gate
from lunge.control.limits import STORE_MAX_BODY, BodySizeLimit
from lunge.control.routes import nodes, policies, projects, records, runs, shards, store, system
from lunge.control.services import ConflictError
from lunge.control.services.runs import reap_abandoned
from lunge.errors import ConfigError, LungeError, NotFoundError, StoreError

logger = logging.getLogger(__name__)

DESCRIPTION = """lunge's control plane: projects and tokens, test policies, test records, test runs,
findings and reports. Authenticate with `Authorization: Bearer <token>` (or FAST's
`X-WallarmAPI-Token`); a token reaches only its own project."""


def create_app(control: Control, *, close_on_shutdown: bool = False) -> FastAPI:
    """The application, every request inside the size limit."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # A plain task, not a TaskGroup: a TaskGroup would wrap the server's own errors in an
        # ExceptionGroup. The reaper never raises (each sweep's failure is logged); it is cancelled
        # and awaited, and a sweep under way finishes first (:func:`_sweep`), so none is left
        # running when the database is closed.
        control.reap_quiet_until = time.monotonic() + control.config.reap_grace_s
        reaper = asyncio.create_task(_reap_forever(control))  # noqa: TID251  # cancelled and awaited below
        try:
            yield
        finally:
            reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper
            if control.job_pool is not None:
                await control.job_pool.close()
            if close_on_shutdown:
                control.close()

    api = FastAPI(title="lunge control plane", version=__version__, description=DESCRIPTION,
                  openapi_url="/v1/openapi.json", docs_url="/v1/docs", redoc_url=None, lifespan=lifespan)
    api.state.control = control
    for module in (system, projects, policies, records, runs, nodes, shards, store):
        api.include_router(module.router)
    dashboard.install(api)
    _install_error_handlers(api)
    api.add_middleware(BodySizeLimit, max_body=control.config.max_body,
                       wider={path: max(control.config.max_body, STORE_MAX_BODY)
                              for path in ("/v1/store/batches", "/v1/shards/{shard_id}/complete")},
                       gate=functools.partial(project_gate, control))
    return api


async def _reap_forever(control: Control) -> None:
    """Every ``reap_every_s``: runs whose node died are ended for good, a record it was recording
    is closed. Not before ``reap_grace_s`` after start-up or after a sweep that failed (the
    database away): a node that could not renew its lease meanwhile is not taken for dead."""
    every, grace = control.config.reap_every_s, control.config.reap_grace_s
    while True:
        await asyncio.sleep(every)
        if time.monotonic() < control.reap_quiet_until:
            continue
        try:
            reaped = await _sweep(control)
        except Exception as exc:  # noqa: BLE001  # a sweep must never take the server down: next turn
            logger.warning("could not end the runs abandoned by their node: %s", exc)
            control.reap_quiet_until = time.monotonic() + grace
            continue
        for run_id in reaped:
            logger.info("TestRun#run_%04d interrupted: its node stopped renewing its lease", run_id)


async def _sweep(control: Control) -> list[int]:
    """One sweep, in a thread. Cancelled (the server stopping), it waits for the thread to finish
    its sweep, so the database is never closed under it."""
    sweep = asyncio.ensure_future(asyncio.to_thread(reap_abandoned, control))
    try:
        return await asyncio.shield(sweep)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await sweep
        raise


def _install_error_handlers(api: FastAPI) -> None:
    """lunge's errors as HTTP: unknown (or another project's) id 404, bad input 400, a state that
    does not allow the action 409, the database down 503; anything else 500 with one log line.
    The dashboard's requests get the same status as a page."""

    def answer(status: int) -> Callable[[Request, Exception], Awaitable[Response]]:
        async def handler(request: Request, exc: Exception) -> Response:
            if dashboard.is_dashboard(request):
                return dashboard.error_page(request, status, str(exc))
            return JSONResponse({"detail": str(exc)}, status_code=status)

        return handler

    api.add_exception_handler(NotFoundError, answer(404))
    api.add_exception_handler(ConfigError, answer(400))
    api.add_exception_handler(ConflictError, answer(409))
    api.add_exception_handler(StoreError, answer(503))

    async def unexpected(request: Request, exc: Exception) -> Response:
        # The API's exception boundary (STYLE: one of the three places a broad except is allowed).
        logger.error("request failed: %s: %s", type(exc).__name__, exc)
        if dashboard.is_dashboard(request):
            return dashboard.error_page(request, 500, "internal error")
        return JSONResponse({"detail": "internal error"}, status_code=500)

    api.add_exception_handler(LungeError, answer(500))
    api.add_exception_handler(Exception, unexpected)
