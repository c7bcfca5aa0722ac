"""The control plane's configuration, parsed at the edge (:func:`lunge.node.settings.serve_settings`)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_BODY = 1_048_576  # bytes; the API takes policies and run orders, not uploads (yet)
DEFAULT_AUTH_FAILURES = 20  # failed authentications per client address per window before 429


@dataclass(frozen=True, slots=True)
class ControlConfig:
    """What ``lunge serve`` needs.

    ``admin_token`` (``LUNGE_ADMIN_TOKEN``) may create projects and tokens and nothing else; None
    disables the admin API (tokens are then made with ``lunge token create`` on the server)."""

    db_url: str
    bind: str = "127.0.0.1"
    port: int = 8000
    admin_token: str | None = None
    max_body: int = DEFAULT_MAX_BODY
    auth_failures: int = DEFAULT_AUTH_FAILURES
    auth_window_s: float = 60.0
