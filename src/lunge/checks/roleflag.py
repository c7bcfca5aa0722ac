"""Broken access control (``broken-access``, CWE-285): a privileged function served to a user who
should not have it. Two ways in, one check:

- *by identity* (:mod:`lunge.checks.privilege`): a function only a higher identity used in the
  record, replayed as a lower identity and as the anonymous one;
- *by a client-side role flag* (this module): the application decides what the user may see or do
  from a value the client sends (a cookie ``is_admin=0``, a parameter ``role=user``), so flipping it
  grants the privilege.

The engine runs the check on every point (the flags) and once more per baseline with the run's
identities (``uses_identities``); :func:`_applies` and :func:`_run` send each run its way.

Applies to a cookie, query, form or JSON value named like a privilege (``admin``, ``is_admin``,
``role``, ``staff``, ``superuser``, ``access_level``, ``user_type`` ...) that holds a *low* value: a
false boolean (``0``, ``false``, ``no``, ``off``) or an ordinary role (``user``, ``customer``,
``member``, ``guest``, ``viewer`` ...). The raised value keeps the recorded spelling (``0`` → ``1``,
``false`` → ``true``, ``False`` → ``True``; roles → ``admin``, ``administrator``).

Oracle (:func:`lunge.checks.accepted.another_page`, as for forged sessions): the raised value gets a
success page that differs from the normal one beyond the noise and the echo of the value, and from
what a garbage value gets; sent again, the same page. Budget: 1 (garbage) + 1 or 2 + 1 = at most 4
requests per flag.
"""

from __future__ import annotations

from lunge.checks import accepted, pointnames, privilege
from lunge.checks.base import Check, CheckContext, Confidence, Probe, Severity
from lunge.checks.sqli_context import differs, usable

FLAG_WORDS = frozenset({
    "admin", "isadmin", "role", "roles", "userrole", "staff", "isstaff", "superuser", "issuperuser", "privileged",
    "privilege", "accesslevel", "usertype", "usergroup", "moderator", "ismoderator", "manager", "ismanager",
    "permission", "permissions",
})
RAISED = {"0": "1", "false": "true", "False": "True", "FALSE": "TRUE", "no": "yes", "n": "y", "off": "on", "N": "Y"}
LOW_ROLES = frozenset({"user", "customer", "member", "guest", "viewer", "reader", "basic", "anonymous", "normal",
                       "regular", "standard", "default"})
ADMIN_ROLES = ("admin", "administrator")
_PLACES = frozenset({"GET", "POST", "COOKIE"})


def raised(value: str) -> tuple[str, ...]:
    """The privileged values to try for ``value`` (none when it is not a low value).

    >>> raised("0"), raised("False"), raised("customer"), raised("editor")
    (('1',), ('True',), ('admin', 'administrator'), ())
    """
    if value in RAISED:
        return (RAISED[value],)
    if value.lower() in LOW_ROLES:
        return tuple(r.capitalize() if value[:1].isupper() else r for r in ADMIN_ROLES)
    return ()


def _applies(ctx: CheckContext) -> bool:
    if ctx.identities is not None:
        return privilege.applies(ctx)
    point = ctx.point
    parsers = {step.parser for step in point.path}
    if not point.name.endswith("_value") or not parsers & _PLACES or "JWT" in parsers:
        return False
    return bool(raised(point.value)) and pointnames.named_like(point, FLAG_WORDS)


def _run(ctx: CheckContext) -> Probe:
    if ctx.identities is not None:
        return (yield from privilege.run(ctx, BROKEN_ACCESS))
    if not accepted.comparable(ctx):
        return []
    (garbage,) = yield [ctx.attack(ctx.marker(9), "broken-access:garbage")]
    for value in raised(ctx.point.value):
        (flipped,) = yield [ctx.attack(value, f"broken-access:{value}")]
        if not accepted.another_page(ctx, flipped, garbage):
            continue
        (again,) = yield [ctx.attack(value, "broken-access:confirm")]
        if not usable(again) or differs(ctx, again, flipped):
            continue
        return [BROKEN_ACCESS.verdict(
            ctx, flipped, proof=accepted.excerpt(flipped), confidence=Confidence.FIRM,
            confirmation=f"{ctx.point.value!r} raised to {value!r} served another page twice (status "
                         f"{flipped.status}); a random value got status {garbage.status} and another answer",
            controls=(ctx.normal, garbage, again),
            details={"recorded": ctx.point.value, "raised": value, "garbage_status": garbage.status},
        )]
    return []


BROKEN_ACCESS = Check(
    id="broken-access",
    title="Broken access control",
    kind="access",
    severity=Severity.HIGH,
    cwe=285,
    description="A privileged function is served to a user who should not have it: a lower user or an "
    "anonymous visitor replaying a function only a higher user called, or a client-controlled flag (a cookie "
    "or parameter such as is_admin=0 or role=user) raised to grant the privilege.",
    run=_run,
    applies=_applies,
    remediation="Decide privileges on the server from the authenticated identity (a session or a verified "
    "token) on every privileged function, never from a flag the client sends or from the link being hidden.",
    uses_identities=True,
)
CHECKS = (BROKEN_ACCESS,)
