"""Projects and tokens: bootstrap (admin token, ``lunge token create``) and resolving a presented
token to its project."""

from __future__ import annotations

from dataclasses import dataclass

from lunge.control.context import Control
from lunge.control.security import new_secret, prefix_of, same_admin_token, same_secret
from lunge.store.projects import Project, Token


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the admin (bootstrap only) or a project's token."""

    admin: bool
    project_id: int | None = None
    token_id: int | None = None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: Token
    secret: str  # shown once, never stored


def identify(control: Control, presented: str) -> Principal | None:
    """The principal ``presented`` authenticates, None for an unknown or revoked token."""
    if same_admin_token(presented, control.config.admin_token):
        return Principal(admin=True)
    prefix = prefix_of(presented)
    if prefix is None:
        return None
    for token, digest in control.projects.token_candidates(prefix):
        if same_secret(presented, digest):
            return Principal(admin=False, project_id=token.project_id, token_id=token.id)
    return None


def token_active(control: Control, project_id: int, token_id: int) -> bool:
    """Whether the token still exists and is not revoked (a dashboard session ends with its token)."""
    return any(t.id == token_id and t.revoked_at is None for t in control.projects.list_tokens(project_id))


def issue_token(control: Control, project: Project, name: str) -> IssuedToken:
    secret = new_secret()
    token = control.projects.add_token(project.id, name, secret.prefix, secret.sha256)
    return IssuedToken(token, secret.token)


def project_view(project: Project) -> dict[str, object]:
    return {"id": project.id, "name": project.name, "created_at": project.created_at.isoformat()}


def token_view(issued: IssuedToken | Token) -> dict[str, object]:
    """A token's public part; with its secret only when it was just issued."""
    token = issued.token if isinstance(issued, IssuedToken) else issued
    out: dict[str, object] = {
        "id": token.id, "project_id": token.project_id, "name": token.name, "prefix": token.prefix,
        "created_at": token.created_at.isoformat(),
        "revoked_at": None if token.revoked_at is None else token.revoked_at.isoformat()}
    if isinstance(issued, IssuedToken):
        out["token"] = issued.secret
    return out
