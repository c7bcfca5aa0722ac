"""The control plane's configuration, parsed at the edge (:func:`lunge.node.settings.serve_settings`)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_BODY = 1_048_576  # bytes; the API takes policies and run orders, not uploads (yet)
DEFAULT_AUTH_FAILURES = 20  # failed authentications per client address per window before 429
DEFAULT_REAP_EVERY_S = 10.0  # how often runs abandoned by their node (lease expired) are ended
# The reaper's patience after the server starts, or after a sweep failed (the database away): the
# nodes could not renew their leases meanwhile and need time to reach it again (their retries back
# off up to 30 s), so a lease that lapsed during an outage of the control plane is not taken for a
# dead node. At least the claim's lease (60 s), which a node's heartbeat renews.
DEFAULT_REAP_GRACE_S = 90.0


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
    reap_every_s: float = DEFAULT_REAP_EVERY_S
    reap_grace_s: float = DEFAULT_REAP_GRACE_S
