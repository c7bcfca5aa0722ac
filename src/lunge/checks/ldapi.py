"""LDAP injection (``ldapi``, CWE-90): a value pasted into an RFC 4515 search filter.

detection.md §10. The error probe breaks the filter with an empty ``()`` and an unbalanced
``(|(``; the boolean pairs close the value's filter and add one of the same shape that matches
every entry (``(objectClass=*)``) or none (a random value; then ``(!(objectClass=*))``). There is
deliberately no bare ``*`` against a random value: a wildcard search returning more entries is
normal. Table: ``data/ldap.yaml``; technique: :mod:`lunge.checks.querylang`. Budget for a point
that is not vulnerable: 3 requests (2 in light mode).
"""

from __future__ import annotations

from lunge.checks import querylang
from lunge.checks.base import Check, CheckContext, Probe, Severity


def run(ctx: CheckContext) -> Probe:
    return (yield from querylang.run_language(LDAPI, querylang.language("ldap"), ctx))


LDAPI = Check(
    id="ldapi",
    title="LDAP injection",
    kind="ldapi",
    severity=Severity.HIGH,
    cwe=90,
    description="The value is placed into an LDAP search filter without escaping: an attacker can change the "
    "filter, bypass authentication or read directory entries they should not see.",
    run=run,
    applies=querylang.applies,
    remediation="Escape the value for a filter (RFC 4515: \\2a, \\28, \\29, \\5c, \\00), e.g. with "
    "ldap.filter.escape_filter_chars or ldap3's escape_filter_chars, or build the filter with the library's API.",
)

CHECKS = (LDAPI,)
