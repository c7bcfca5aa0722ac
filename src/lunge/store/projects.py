"""What the control plane keeps besides records and runs: projects, their tokens and their test
policies. Plain frozen dataclasses, like :mod:`lunge.store.models`.

A project owns tokens, policies, records and runs. Records and runs made without a control plane
(local CI mode) belong to no project, so no token reaches them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Node", "Project", "StoredPolicy", "Token"]


@dataclass(frozen=True, slots=True)
class Project:
    """A tenant of the control plane: one team, one application."""

    id: int
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Token:
    """A token's public part: the secret is shown once, at creation, and only its SHA-256 is kept."""

    id: int
    project_id: int
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    """A test policy kept in the control plane: its text as given (YAML or JSON) and its summary."""

    id: int
    project_id: int
    name: str
    source: str
    created_at: datetime
    updated_at: datetime
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Node:
    """A lunge process registered with the control plane (API mode): what it is doing and when it
    was last heard of. ``build_id``: it takes only runs of that BUILD_ID."""

    id: int
    project_id: int
    name: str
    build_id: str | None
    state: str  # idle, testing, replaced (a newer node of its token took over)
    run_id: int | None
    registered_at: datetime
    last_seen_at: datetime
    token_id: int | None = None
