"""Liveness and readiness, outside ``/v1`` and without a token (load balancers, orchestrators)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from lunge import __version__
from lunge.control.deps import ControlDep
from lunge.errors import StoreError

router = APIRouter(tags=["system"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@router.get("/readyz", summary="The database answers", responses={503: {"description": "database unreachable"}})
def readyz(control: ControlDep) -> JSONResponse:
    try:
        control.projects.ping()
    except StoreError as exc:
        return JSONResponse({"status": "unavailable", "detail": str(exc)}, status_code=503)
    return JSONResponse({"status": "ready"})
