"""The store's interface for remote nodes (``lunge.store.remote``): batches of writes, applied once
by id, and byte-faithful reads, all inside the token's project."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from lunge.control.deps import ControlDep, ProjectId
from lunge.control.services import store
from lunge.store.models import RunState

router = APIRouter(prefix="/v1/store", tags=["remote store"])


class BatchIn(BaseModel):
    id: str = Field(pattern=r"^[A-Za-z0-9._-]{8,100}$", description="drawn by the node; a resend reuses it")
    op: Literal["baselines", "test_sets", "findings", "create_record", "close_record", "create_run", "update_run"]
    payload: dict[str, Any]


class BatchesIn(BaseModel):
    batches: list[BatchIn] = Field(min_length=1, max_length=1000)


@router.post("/batches", summary="Apply batches of writes in order, each once (by its id)")
def apply_batches(body: BatchesIn, control: ControlDep, project: ProjectId) -> dict[str, Any]:
    return {"results": [store.apply(control, project, b.id, b.op, b.payload) for b in body.batches]}


class LeaseIn(BaseModel):
    owner: str = Field(min_length=1, max_length=200, description="the node holding the run (host:pid)")
    seconds: float = Field(ge=1, le=3600, description="the lease's length from when the control plane applies it")


@router.post("/runs/{run_id}/lease", summary="Renew the run's lease now, by the control plane's clock (not queued)")
def renew_lease(run_id: int, body: LeaseIn, control: ControlDep, project: ProjectId) -> dict[str, Any]:
    return {"renewed": store.renew_lease(control, project, run_id, body.owner, body.seconds)}


@router.post("/runs/expire_leases", summary="Mark interrupted the project's runs whose node stopped heartbeating")
def expire_leases(control: ControlDep, project: ProjectId) -> dict[str, Any]:
    return {"ids": store.expire_leases(control, project)}


@router.get("/records", summary="The project's records, newest first")
def list_records(control: ControlDep, project: ProjectId, limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
    return {"objects": store.records(control, project, limit)}


@router.get("/records/latest", summary="The newest record with baselines (of a BUILD_ID), closed ones first")
def latest_record(control: ControlDep, project: ProjectId, build_id: str | None = None) -> dict[str, Any]:
    return {"object": store.latest_record(control, project, build_id)}


@router.get("/records/{record_id}", summary="A record")
def read_record(record_id: int, control: ControlDep, project: ProjectId) -> dict[str, Any]:
    return store.record(control, project, record_id)


@router.get("/records/{record_id}/baselines", summary="A page of the record's baselines, exactly as recorded")
def list_baselines(record_id: int, control: ControlDep, project: ProjectId, after_seq: int = Query(0, ge=0),
                   limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
    return store.baselines(control, project, record_id, after_seq, limit)


@router.get("/baselines/{baseline_id}", summary="A baseline, exactly as recorded")
def read_baseline(baseline_id: int, control: ControlDep, project: ProjectId) -> dict[str, Any]:
    return store.baseline(control, project, baseline_id)


@router.get("/runs", summary="The project's runs, newest first")
def list_runs(control: ControlDep, project: ProjectId, limit: int = Query(100, ge=1, le=1000),
              state: RunState | None = None) -> dict[str, Any]:
    return {"objects": store.runs(control, project, limit, state)}


@router.get("/runs/latest", summary="The newest run (of a BUILD_ID)")
def latest_run(control: ControlDep, project: ProjectId, build_id: str | None = None) -> dict[str, Any]:
    return {"object": store.latest_run(control, project, build_id)}


@router.get("/runs/{run_id}", summary="A run")
def read_run(run_id: int, control: ControlDep, project: ProjectId) -> dict[str, Any]:
    return store.run(control, project, run_id)


@router.get("/runs/{run_id}/test_sets", summary="A page of the run's test sets by baseline id")
def list_test_sets(run_id: int, control: ControlDep, project: ProjectId, after_baseline: int = Query(0, ge=0),
                   limit: int = Query(500, ge=1, le=1000)) -> dict[str, Any]:
    return store.test_sets(control, project, run_id, after_baseline, limit)


@router.get("/runs/{run_id}/findings", summary="A page of the run's findings, most severe first, with evidence")
def list_findings(run_id: int, control: ControlDep, project: ProjectId, offset: int = Query(0, ge=0),
                  limit: int = Query(500, ge=1, le=1000)) -> dict[str, Any]:
    return store.findings(control, project, run_id, offset, limit)


@router.get("/findings/{finding_id}", summary="A finding with its evidence")
def read_finding(finding_id: int, control: ControlDep, project: ProjectId) -> dict[str, Any]:
    return store.finding(control, project, finding_id)
