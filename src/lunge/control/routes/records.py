"""Test records of the token's project and their baselines (secrets masked)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from lunge.control.deps import ControlDep, ProjectId
from lunge.control.services import records
from lunge.report.document import record_section

router = APIRouter(prefix="/v1/test_record", tags=["test records"])


@router.get("", summary="List the project's test records, newest first")
def list_records(control: ControlDep, project: ProjectId, limit: int = Query(100, ge=1, le=1000),
                 offset: int = Query(0, ge=0)) -> dict[str, Any]:
    return {"objects": records.listing(control, project, limit, offset)}


@router.get("/{record_id}", summary="Read a test record, with its recording counters once closed")
def read_record(record_id: int, control: ControlDep, project: ProjectId) -> dict[str, Any]:
    record = records.get(control, project, record_id)
    return {**record_section(record), "stats": record.stats}


@router.get("/{record_id}/baselines", summary="A page of the record's baselines, secrets masked")
def list_baselines(record_id: int, control: ControlDep, project: ProjectId,
                   after_seq: int = Query(0, ge=0, description="the last seq of the previous page"),
                   limit: int = Query(100, ge=1, le=500)) -> dict[str, Any]:
    return records.baselines_page(control, project, record_id, after_seq, limit)


@router.post("/{record_id}/action/stop", summary="Stop recording into the record")
def stop_recording(record_id: int, control: ControlDep, project: ProjectId) -> dict[str, Any]:
    return record_section(records.stop_recording(control, project, record_id))
