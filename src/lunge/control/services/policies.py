"""Test policies of a project: YAML or JSON text (or a JSON object), validated exactly as
``lunge policy validate`` validates a file (schema, regexes, known check names)."""

from __future__ import annotations

from typing import Any

import yaml

from lunge.checks import load
from lunge.control.context import Control
from lunge.control.services import ConflictError
from lunge.errors import PolicyError
from lunge.policy import BUILTIN, TestPolicy, parse_policy
from lunge.store.projects import StoredPolicy


def known_checks() -> set[str]:
    registry = load()
    return set(registry.checks) | registry.kinds


def parse_source(document: str | dict[str, Any]) -> tuple[str, TestPolicy]:
    """The policy's text (as stored) and the policy; raises PolicyError with the line.

    JSON is YAML, so one parser serves both, with line numbers for either."""
    source = document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    return source, parse_policy(source, "policy", known_checks())


def create(control: Control, project_id: int, document: str | dict[str, Any]) -> StoredPolicy:
    source, policy = parse_source(document)
    _refuse_taken_name(control, project_id, policy.name, None)
    return control.projects.add_policy(project_id, policy.name, source, policy.summary())


def update(control: Control, project_id: int, policy_id: int, document: str | dict[str, Any]) -> StoredPolicy:
    control.projects.get_policy(project_id, policy_id)  # NotFoundError first, before a validation error
    source, policy = parse_source(document)
    _refuse_taken_name(control, project_id, policy.name, policy_id)
    return control.projects.update_policy(project_id, policy_id, policy.name, source, policy.summary())


def _refuse_taken_name(control: Control, project_id: int, name: str, own_id: int | None) -> None:
    if name in BUILTIN:
        raise ConflictError(f"policy name {name!r} is a built-in policy's")
    for stored in _all(control, project_id):
        if stored.name == name and stored.id != own_id:
            raise ConflictError(f"the project already has a policy named {name!r} (id {stored.id})")


def _all(control: Control, project_id: int) -> list[StoredPolicy]:
    out: list[StoredPolicy] = []
    while True:
        page = control.projects.list_policies(project_id, 500, len(out))
        out += page
        if len(page) < 500:
            return out


def resolve(control: Control, project_id: int, ref: int | str | None) -> tuple[TestPolicy, int | None]:
    """The policy a run order names: a stored policy's id, a built-in name, or None (default)."""
    if ref is None or ref in ("", "0", 0):
        return BUILTIN["default"], None
    if isinstance(ref, str) and ref in BUILTIN:
        return BUILTIN[ref], None
    policy_id = int(ref) if isinstance(ref, int) or ref.isdigit() else None
    if policy_id is None:
        raise PolicyError(f"policy {ref!r}: not a policy id nor a built-in policy ({', '.join(BUILTIN)})")
    stored = control.projects.get_policy(project_id, policy_id)
    return parse_policy(stored.source, f"policy {policy_id}", known_checks()), policy_id


def view(stored: StoredPolicy, with_source: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"id": stored.id, "name": stored.name, "created_at": stored.created_at.isoformat(),
                           "updated_at": stored.updated_at.isoformat(), "summary": stored.summary}
    if with_source:
        out["source"] = stored.source
    return out
