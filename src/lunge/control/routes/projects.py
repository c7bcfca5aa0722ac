"""Bootstrap with the admin token: projects and their tokens (``LUNGE_ADMIN_TOKEN``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from lunge.control.deps import Admin, ControlDep
from lunge.control.services.tenancy import issue_token, project_view, token_view

router = APIRouter(prefix="/v1/projects", tags=["projects"])


class ProjectIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class TokenIn(BaseModel):
    name: str = Field(default="api", min_length=1, max_length=200)


@router.get("", summary="List projects (admin)")
def list_projects(control: ControlDep, _: Admin) -> dict[str, Any]:
    return {"objects": [project_view(p) for p in control.projects.list_projects()]}


@router.post("", status_code=201, summary="Create a project, or return the one of that name (admin)")
def create_project(body: ProjectIn, control: ControlDep, _: Admin) -> dict[str, Any]:
    return project_view(control.projects.ensure_project(body.name))


@router.post("/{project_id}/tokens", status_code=201,
             summary="Create a token of the project (admin); the secret is in this answer only")
def create_token(project_id: int, body: TokenIn, control: ControlDep, _: Admin) -> dict[str, Any]:
    return token_view(issue_token(control, control.projects.get_project(project_id), body.name))


@router.get("/{project_id}/tokens", summary="List the project's tokens, without their secrets (admin)")
def list_tokens(project_id: int, control: ControlDep, _: Admin) -> dict[str, Any]:
    return {"objects": [token_view(t) for t in control.projects.list_tokens(project_id)]}


@router.delete("/{project_id}/tokens/{token_id}", summary="Revoke a token (admin)")
def revoke_token(project_id: int, token_id: int, control: ControlDep, _: Admin) -> dict[str, Any]:
    return token_view(control.projects.revoke_token(project_id, token_id))
