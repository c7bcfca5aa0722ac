"""Test policies of the token's project (FAST's ``/v1/test_policy``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from lunge.control.deps import ControlDep, ProjectId
from lunge.control.services import policies

router = APIRouter(prefix="/v1/test_policy", tags=["policies"])


class PolicyIn(BaseModel):
    policy: str | dict[str, Any] = Field(
        description="The policy as YAML or JSON text, or as a JSON object (the format of lunge policy validate)")


@router.get("", summary="List the project's policies")
def list_policies(control: ControlDep, project: ProjectId, limit: int = Query(100, ge=1, le=1000),
                  offset: int = Query(0, ge=0)) -> dict[str, Any]:
    stored = control.projects.list_policies(project, limit, offset)
    return {"objects": [policies.view(p, with_source=False) for p in stored]}


@router.post("", status_code=201, summary="Create a policy (validated: 400 with the line when invalid)")
def create_policy(body: PolicyIn, control: ControlDep, project: ProjectId) -> dict[str, Any]:
    return policies.view(policies.create(control, project, body.policy))


@router.get("/{policy_id}", summary="Read a policy")
def read_policy(policy_id: int, control: ControlDep, project: ProjectId) -> dict[str, Any]:
    return policies.view(control.projects.get_policy(project, policy_id))


@router.put("/{policy_id}", summary="Replace a policy")
def update_policy(policy_id: int, body: PolicyIn, control: ControlDep, project: ProjectId) -> dict[str, Any]:
    return policies.view(policies.update(control, project, policy_id, body.policy))


@router.delete("/{policy_id}", status_code=204, summary="Delete a policy")
def delete_policy(policy_id: int, control: ControlDep, project: ProjectId) -> None:
    control.projects.delete_policy(project, policy_id)
