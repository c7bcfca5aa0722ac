"""Records (and a record's baselines, secrets masked) and nodes (online, current run)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from lunge.control.dashboard.auth import SessionDep
from lunge.control.dashboard.render import listing, page
from lunge.control.deps import ControlDep
from lunge.control.services import overview, records
from lunge.report.document import record_section

router = APIRouter(prefix="/dashboard", include_in_schema=False)
BASELINES_PAGE = 100


@router.get("/records")
def records_page(request: Request, control: ControlDep, session: SessionDep,
                 offset: int = Query(0, ge=0)) -> HTMLResponse:
    return listing(request, "records.html.j2", session, "records",
                   lambda limit, at: records.listing(control, session.project_id, limit, at), offset)


@router.get("/records/{record_id}")
def record_page(request: Request, record_id: int, control: ControlDep, session: SessionDep,
                after_seq: int = Query(0, ge=0)) -> HTMLResponse:
    record = record_section(records.get(control, session.project_id, record_id))
    baselines = records.baselines_page(control, session.project_id, record_id, after_seq, BASELINES_PAGE)
    return page(request, "record.html.j2", session, record=record, baselines=baselines["objects"],
                next_after_seq=baselines["next_after_seq"])


@router.get("/nodes")
def nodes_page(request: Request, control: ControlDep, session: SessionDep) -> HTMLResponse:
    return page(request, "nodes.html.j2", session, nodes=overview.nodes(control, session.project_id),
                online_s=int(overview.NODE_ONLINE.total_seconds()))
