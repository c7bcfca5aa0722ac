"""A shard's results, committed through the control plane by a node on the remote store."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from lunge.control.deps import ControlDep, ProjectId
from lunge.control.services import runs, shards

router = APIRouter(prefix="/v1/shards", tags=["nodes"])


class CompleteIn(BaseModel):
    node_id: int
    job_id: int | None = Field(None, description="the shard job taken for it, marked done once committed")
    test_sets: list[dict[str, Any]] = Field(default_factory=list, description="the remote store's wire format")
    findings: list[dict[str, Any]] = Field(default_factory=list, description="new findings, wire format")
    counters: dict[str, Any] = Field(default_factory=dict, description="the shard's counters (and why it stopped)")
    final: bool = Field(False, description="the shard stopped the run (first failure, target gone)")


@router.post("/{shard_id}/complete", summary="Commit a shard's results, once",
             description="Stores the shard's test sets and findings with its done mark in one transaction; a shard "
                         "done already is left alone (`stored: false`). The commit that leaves no shard decides "
                         "the run's final state.")
async def complete(shard_id: int, body: CompleteIn, control: ControlDep, project: ProjectId) -> dict[str, Any]:
    done = await shards.complete(control, project, shard_id, body.node_id, body.job_id, body.model_dump())
    view = await asyncio.to_thread(runs.view, control, done.run)
    return {"stored": done.stored, "remaining": done.remaining, "run": view}
