"""Policies: list, view and edit the YAML (validated as ``lunge policy validate`` validates a file;
an invalid text is shown again with the error, and the stored policy stays as it was), create, delete.

An invalid text answers 200 with the form and its error, as form frameworks do (Django): it is the
page the user asked for, and a 4xx would be logged by the browser as a failed load."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from lunge.control.dashboard.auth import CheckedForm, SessionDep
from lunge.control.dashboard.render import page
from lunge.control.deps import ControlDep
from lunge.control.services import ConflictError, policies
from lunge.errors import ConfigError
from lunge.policy import BUILTIN

router = APIRouter(prefix="/dashboard", include_in_schema=False)
NEW_POLICY = "# a test policy: see lunge policy validate --help\nname: my-policy\n"


@router.get("/policies")
def policies_page(request: Request, control: ControlDep, session: SessionDep) -> HTMLResponse:
    stored = [policies.view(p, with_source=False) for p in control.projects.list_policies(session.project_id, 500, 0)]
    return page(request, "policies.html.j2", session, policies=stored, builtin=sorted(BUILTIN))


@router.get("/policies/new")
def new_policy(request: Request, session: SessionDep) -> HTMLResponse:
    return page(request, "policy.html.j2", session, policy=None, source=NEW_POLICY, error="")


@router.post("/policies")
def create_policy(request: Request, control: ControlDep, session: SessionDep, fields: CheckedForm) -> Response:
    source = fields.get("source", "").replace("\r\n", "\n")  # browsers send a textarea's lines with CRLF
    try:
        created = policies.create(control, session.project_id, source)
    except (ConfigError, ConflictError) as exc:
        return page(request, "policy.html.j2", session, policy=None, source=source, error=str(exc))
    return RedirectResponse(f"/dashboard/policies/{created.id}", status_code=303)


@router.get("/policies/{policy_id}")
def policy_page(request: Request, policy_id: int, control: ControlDep, session: SessionDep) -> HTMLResponse:
    stored = policies.view(control.projects.get_policy(session.project_id, policy_id))
    return page(request, "policy.html.j2", session, policy=stored, source=stored["source"], error="")


@router.post("/policies/{policy_id}")
def update_policy(request: Request, policy_id: int, control: ControlDep, session: SessionDep,
                  fields: CheckedForm) -> Response:
    source = fields.get("source", "").replace("\r\n", "\n")  # browsers send a textarea's lines with CRLF
    try:
        policies.update(control, session.project_id, policy_id, source)
    except (ConfigError, ConflictError) as exc:  # shown beside the text the user typed; nothing stored
        stored = policies.view(control.projects.get_policy(session.project_id, policy_id))
        return page(request, "policy.html.j2", session, policy=stored, source=source, error=str(exc))
    return RedirectResponse(f"/dashboard/policies/{policy_id}?saved=1", status_code=303)


@router.post("/policies/{policy_id}/delete")
def delete_policy(policy_id: int, control: ControlDep, session: SessionDep, _: CheckedForm) -> RedirectResponse:
    control.projects.delete_policy(session.project_id, policy_id)
    return RedirectResponse("/dashboard/policies", status_code=303)
