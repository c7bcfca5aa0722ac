"""Runs, a run, a finding; the live counters the pages poll while a run is going; run actions."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from lunge.control.dashboard.auth import CheckedForm, SessionDep
from lunge.control.dashboard.render import PAGE, listing, page
from lunge.control.deps import ControlDep
from lunge.control.services import overview, runs
from lunge.errors import ConfigError

router = APIRouter(prefix="/dashboard", include_in_schema=False)
BASELINES_SHOWN = 500
FINDINGS_SHOWN = 500
LIVE_FIELDS = ("id", "state", "finished", "baselines_total", "baselines_tested", "baselines_not_tested",
               "baselines_done", "progress", "findings_count", "findings_by_severity", "requests_sent")


@router.get("/runs")
def runs_page(request: Request, control: ControlDep, session: SessionDep,
              offset: int = Query(0, ge=0)) -> HTMLResponse:
    return listing(request, "runs.html.j2", session, "runs",
                   lambda limit, at: overview.runs_page(control, session.project_id, limit, at), offset)


@router.get("/live/runs")
def live_runs(control: ControlDep, session: SessionDep, ids: str = Query("", max_length=2000)) -> dict[str, Any]:
    """The counters of the runs a page shows (``ids=3,4,5``), for its polling script."""
    wanted = _ids(ids)
    return {"objects": [_live(v) for v in overview.live_runs(control, session.project_id, wanted)]}


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: int, control: ControlDep, session: SessionDep) -> HTMLResponse:
    run = overview.run_detail(control, session.project_id, run_id)
    rows, more = overview.outcomes(control, session.project_id, run_id, BASELINES_SHOWN)
    found = overview.run_findings(control, session.project_id, run_id, FINDINGS_SHOWN)
    return page(request, "run.html.j2", session, run=run, rows=rows, more_rows=more, findings=found)


@router.get("/live/runs/{run_id}")
def live_run(run_id: int, control: ControlDep, session: SessionDep) -> dict[str, Any]:
    return _live(overview.run_detail(control, session.project_id, run_id))


@router.post("/runs/{run_id}/action/{action}")
def act(run_id: int, action: Literal["pause", "resume", "interrupt"], control: ControlDep,
        session: SessionDep, _: CheckedForm) -> RedirectResponse:
    runs.act(control, session.project_id, run_id, action)
    return RedirectResponse(f"/dashboard/runs/{run_id}", status_code=303)


@router.get("/findings/{finding_id}")
def finding_page(request: Request, finding_id: int, control: ControlDep, session: SessionDep) -> HTMLResponse:
    found = overview.finding_detail(control, session.project_id, finding_id)
    return page(request, "finding.html.j2", session, f=found)


def _live(view: dict[str, Any]) -> dict[str, Any]:
    return {name: view[name] for name in LIVE_FIELDS}


def _ids(text: str) -> list[int]:
    parts = [p for p in text.split(",") if p.strip()]
    if len(parts) > PAGE or not all(p.strip().isdigit() for p in parts):
        raise ConfigError(f"ids: up to {PAGE} run ids separated by commas")
    return [int(p) for p in parts]
