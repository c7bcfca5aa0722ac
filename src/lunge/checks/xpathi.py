"""XPath injection (``xpathi``, CWE-643): a value pasted into an XPath expression.

detection.md §10. The error probe leaves both quotes and a bracket unbalanced (``'"]``); the
boolean pairs close the value's string (or follow its number) with conditions only XPath can
evaluate, ``string-length('…')=n`` and ``count(/*)=1`` against ``=n+1`` and ``=2``, so a value
that reaches SQL instead errors on both sides. Table: ``data/xpath.yaml``; technique:
:mod:`lunge.checks.querylang`. Budget for a point that is not vulnerable: 4 requests for text
(2 contexts), 5 for a number; 2 in light mode.
"""

from __future__ import annotations

from lunge.checks import querylang
from lunge.checks.base import Check, CheckContext, Probe, Severity


def run(ctx: CheckContext) -> Probe:
    return (yield from querylang.run_language(XPATHI, querylang.language("xpath"), ctx))


XPATHI = Check(
    id="xpathi",
    title="XPath injection",
    kind="xpathi",
    severity=Severity.HIGH,
    cwe=643,
    description="The value is placed into an XPath expression without escaping: an attacker can change the "
    "query and read any part of the XML document, bypassing the checks it implements.",
    run=run,
    applies=querylang.applies,
    remediation="Pass the value as an XPath variable ($name, e.g. lxml's xpath(expr, name=value) or "
    "XPathVariableResolver), never by string building.",
)

CHECKS = (XPATHI,)
