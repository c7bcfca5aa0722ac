"""Mass assignment (``mass-assignment``, CWE-915): a write request that lets the client set fields
it should never set (``role``, ``is_admin``, ``owner``, ``balance`` ...), because the server binds
the whole request body to its model.

A per-baseline check (:attr:`lunge.checks.base.Check.per_baseline`). Gate: a POST, PUT or PATCH with
a JSON object or form body whose response (the fresh replay's) is a JSON object, top level or one
wrapper deep (``{"user": {...}}``), holding *sensitive* fields (:data:`SENSITIVE`) the request does
not send. Then (3 requests):

1. the body with every such field added with a changed value (a boolean flipped, a number moved, a
   role-like string set to ``admin``, any other string to a random word), plus a random control
   field the model cannot have;
2. the baseline replayed as recorded: a later read of the resource;
3. the body with the original values, to put the resource back.

A field *took effect* when the later read shows the changed value (it was stored), or when the
attack's own answer shows it and does not echo the control field (the server does not merely echo
its input). The changed value must not be what the normal answer already holds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from lunge.checks.base import Attack, Check, CheckContext, Confidence, Exchange, Probe, Severity
from lunge.http import Request

SENSITIVE = frozenset({
    "role", "roles", "admin", "isadmin", "is_admin", "superuser", "is_superuser", "staff", "is_staff", "owner",
    "owner_id", "ownerid", "user_id", "userid", "balance", "credit", "credits", "verified", "is_verified",
    "email_verified", "approved", "is_approved", "permissions", "group", "groups", "plan", "tier", "level",
    "account_type", "privileges", "is_active", "price", "discount",
})
ROLE_LIKE = frozenset({"role", "roles", "group", "groups", "plan", "tier", "level", "account_type", "privileges",
                       "permissions"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def resource(text: str) -> dict[str, Any] | None:
    """The resource a JSON answer describes: the object, or its only object member (a wrapper).

    >>> resource('{"user": {"name": "a", "role": "x"}}')
    {'name': 'a', 'role': 'x'}
    """
    document = _json_object(text)
    if document is None:
        return None
    inner = [v for v in document.values() if isinstance(v, dict)]
    if len(document) == 1 and len(inner) == 1:
        return inner[0]
    return document


def _body_fields(request: Request) -> tuple[str, dict[str, Any]] | None:
    """("json" or "form", the body's fields) for a body lunge can extend."""
    text = request.body.decode("utf-8", "replace")
    content_type = request.content_type.lower()
    if "json" in content_type:
        document = _json_object(text)
        return ("json", document) if document is not None else None
    if content_type.startswith("application/x-www-form-urlencoded"):
        return "form", dict(parse_qsl(text, keep_blank_values=True))
    return None


def _candidates(ctx: CheckContext) -> dict[str, Any]:
    """Sensitive fields of the answer that the request does not send, with their current values."""
    body = _body_fields(ctx.baseline)
    answer = resource(ctx.normal.text)
    if body is None or answer is None:
        return {}
    sent = {key.lower() for key in body[1]}
    return {key: value for key, value in answer.items()
            if key.lower() in SENSITIVE and key.lower() not in sent and not isinstance(value, (dict, list))}


def _applies(ctx: CheckContext) -> bool:
    return ctx.baseline.method.upper() in WRITE_METHODS and ctx.normal.ok and bool(_candidates(ctx))


def changed(ctx: CheckContext, key: str, value: Any) -> Any:
    """Another value of the same type for field ``key``."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1000
    if key.lower() in ROLE_LIKE and str(value).lower() != "admin":
        return "admin"
    return ctx.marker(8)


def _with_fields(request: Request, fields: Mapping[str, Any]) -> Request:
    kind, body = _body_fields(request) or ("json", {})
    merged = {**body, **fields}
    if kind == "json":
        return request.with_body(json.dumps(merged).encode())
    return request.with_body(urlencode({k: _form_value(v) for k, v in merged.items()}).encode())


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _shows(exchange: Exchange, key: str, value: Any) -> bool:
    answer = resource(exchange.text) if exchange.ok else None
    if answer is None or key not in answer:
        return False
    shown = answer[key]
    return shown == value or (not isinstance(value, bool) and str(shown) == str(value))


def _run(ctx: CheckContext) -> Probe:
    original = _candidates(ctx)
    forged = {key: changed(ctx, key, value) for key, value in original.items()}
    control = f"lunge{ctx.marker(8)}"
    extra = {**forged, control: ctx.marker(6)}
    (attack,) = yield [Attack(_with_fields(ctx.baseline, extra), json.dumps(extra), "mass-assignment")]
    (later,) = yield [ctx.replay("mass-assignment:read")]  # after the attack: its own batch
    (restore,) = yield [Attack(_with_fields(ctx.baseline, original), json.dumps(original), "mass-assignment:restore")]
    echoes = control in attack.text
    took = sorted(key for key, value in forged.items()
                  if not _shows(ctx.normal, key, value)
                  and (_shows(later, key, value) or (not echoes and _shows(attack, key, value))))
    if not took:
        return []
    stored = [key for key in took if _shows(later, key, forged[key])]
    key = took[0]
    return [MASS_ASSIGNMENT.verdict(
        ctx, attack, proof=f'"{key}"', confidence=Confidence.FIRM,
        confirmation=("a later read of the resource showed " if stored else
                      "the answer showed, without echoing a random control field, ")
        + ", ".join(f"{k}={forged[k]!r}" for k in took) + " set by fields the recorded request never sent",
        controls=(ctx.normal, later, restore),
        details={"fields": took, "stored": stored, "original": {k: original[k] for k in took},
                 "forged": {k: forged[k] for k in took}, "control_echoed": echoes},
    )]


MASS_ASSIGNMENT = Check(
    id="mass-assignment",
    title="Mass assignment",
    kind="massassign",
    severity=Severity.HIGH,
    cwe=915,
    description="The server binds every field of the request body to its model, so a client can set fields it "
    "should never control (role, admin flags, owner, balance) by adding them to an ordinary update.",
    run=_run,
    applies=_applies,
    remediation="Bind only an allow-list of client-writable fields (a DTO or form object); never pass the request "
    "body to the model as it is.",
    per_baseline=True,
)
CHECKS = (MASS_ASSIGNMENT,)
