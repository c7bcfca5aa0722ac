"""Broken access control through a client-side role flag (``broken-access``, CWE-285): the
application decides what the user may see or do from a value the client sends (a cookie
``is_admin=0``, a parameter ``role=user``), so flipping it grants the privilege.

Applies to a cookie, query, form or JSON value named like a privilege (``admin``, ``is_admin``,
``role``, ``staff``, ``superuser``, ``access_level``, ``user_type`` ...) that holds a *low* value: a
false boolean (``0``, ``false``, ``no``, ``off``) or an ordinary role (``user``, ``customer``,
``member``, ``guest``, ``viewer`` ...). The raised value keeps the recorded spelling (``0`` → ``1``,
``false`` → ``true``, ``False`` → ``True``; roles → ``admin``, ``administrator``).

Oracle (:func:`lunge.checks.accepted.another_page`, as for forged sessions): the raised value gets a
success page that differs from the normal one beyond the noise and the echo of the value, and from
what a garbage value gets; sent again, the same page. Budget: 1 (garbage) + 1 or 2 + 1 = at most 4
requests per flag.

Replaying a lower identity's credentials against privileged baselines needs identities from the
record or the settings, which lunge does not learn yet; this check covers the client-side flags.
"""

from __future__ import annotations

from lunge.checks import accepted, pointnames
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
    point = ctx.point
    parsers = {step.parser for step in point.path}
    if not point.name.endswith("_value") or not parsers & _PLACES or "JWT" in parsers:
        return False
    return bool(raised(point.value)) and pointnames.named_like(point, FLAG_WORDS)


def _run(ctx: CheckContext) -> Probe:
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
    title="Broken access control: client-side role flag",
    kind="access",
    severity=Severity.HIGH,
    cwe=285,
    description="The application grants privileges from a value the client controls (a cookie or parameter "
    "such as is_admin=0 or role=user): raising it gives access to privileged content or functions.",
    run=_run,
    applies=_applies,
    remediation="Decide privileges on the server from the authenticated identity (a session or a verified "
    "token), never from a flag the client sends.",
)
CHECKS = (BROKEN_ACCESS,)
