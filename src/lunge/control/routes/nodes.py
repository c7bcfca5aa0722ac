"""Nodes of the token's project (API mode): register, heartbeat, take the next run."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from lunge.control.deps import ControlDep, ProjectId, principal
from lunge.control.services import runs, shards
from lunge.control.services.tenancy import Principal
from lunge.store.projects import Node

router = APIRouter(prefix="/v1/nodes", tags=["nodes"])


class NodeIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="e.g. the host name")
    build_id: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
                                 description="BUILD_ID: the node takes only runs of this build")


class HeartbeatIn(BaseModel):
    state: Literal["idle", "testing"] = "idle"
    run_id: int | None = None


class ClaimIn(BaseModel):
    shard_size: int | None = Field(None, ge=1, le=100000, description="LUNGE_SHARD_SIZE: on PostgreSQL the run "
                                                                      "is split into shards of this many baselines")


class TakeIn(BaseModel):
    wait_s: float = Field(5.0, ge=0, le=20, description="how long to wait for a shard job (a long poll)")


class JobsIn(BaseModel):
    jobs: list[int] = Field(default_factory=list, max_length=64, description="the shard jobs the node holds")


def _view(node: Node) -> dict[str, Any]:
    return {"id": node.id, "project_id": node.project_id, "name": node.name, "build_id": node.build_id,
            "state": node.state, "run_id": node.run_id,
            "registered_at": node.registered_at.isoformat(), "last_seen_at": node.last_seen_at.isoformat()}


@router.post("", status_code=201, summary="Register a node",
             description="Without BUILD_ID the newest node of a token takes over (FAST's rule): the token's older "
                         "nodes without BUILD_ID become `replaced` and their runs are interrupted.")
def register(body: NodeIn, control: ControlDep, project: ProjectId,
             who: Annotated[Principal, Depends(principal)]) -> dict[str, Any]:
    out = _view(control.projects.register_node(project, body.name, body.build_id, who.token_id))
    out["job_queue"] = shards.brokering(control)  # whether the node takes shard jobs through the API
    return out


@router.get("", summary="List the project's nodes, newest first")
def list_nodes(control: ControlDep, project: ProjectId, limit: int = Query(100, ge=1, le=1000),
               offset: int = Query(0, ge=0)) -> dict[str, Any]:
    return {"objects": [_view(n) for n in control.projects.list_nodes(project, limit, offset)]}


@router.get("/{node_id}", summary="Read a node")
def read_node(node_id: int, control: ControlDep, project: ProjectId) -> dict[str, Any]:
    return _view(control.projects.get_node(project, node_id))


@router.post("/{node_id}/heartbeat", summary="Say the node is alive; answers with its run's state")
def heartbeat(node_id: int, body: HeartbeatIn, control: ControlDep, project: ProjectId) -> dict[str, Any]:
    if body.run_id is not None:
        runs.get(control, project, body.run_id)  # the node's run must be its project's
    node = control.projects.heartbeat(project, node_id, body.state, body.run_id)
    out = _view(node)
    out["job_queue"] = shards.brokering(control)
    out["run_state"] = None if node.run_id is None else control.store.get_run(node.run_id).state.value
    return out


@router.post("/{node_id}/claim", summary="Take the oldest created run of the project (and BUILD_ID)",
             responses={204: {"description": "no run is waiting"}})
async def claim(node_id: int, control: ControlDep, project: ProjectId, body: ClaimIn | None = None) -> Any:
    run = await shards.claim(control, project, node_id, None if body is None else body.shard_size)
    if run is None:
        return Response(status_code=204)
    return await asyncio.to_thread(runs.view, control, run)


@router.post("/{node_id}/shards/take", summary="Take a shard job of the project (and BUILD_ID) on PostgreSQL",
             description="For nodes on the remote store: the control plane takes a pgqueuer job for the node "
                         "(a queued one, or one whose node stopped heartbeating) and answers its shard and run.",
             responses={204: {"description": "no shard job came within wait_s"}})
async def take_shard(node_id: int, control: ControlDep, project: ProjectId, body: TakeIn | None = None) -> Any:
    taken = await shards.take(control, project, node_id, 5.0 if body is None else body.wait_s)
    return Response(status_code=204) if taken is None else taken


@router.post("/{node_id}/shards/heartbeat", summary="Keep the node's shard jobs (answers those it still holds)")
async def heartbeat_shards(node_id: int, body: JobsIn, control: ControlDep, project: ProjectId) -> dict[str, Any]:
    return {"jobs": await shards.beat(control, project, node_id, body.jobs)}
