"""Other query languages, one check family: XSLT (``xslti``), HQL/JPQL (``hqli``), SPARQL
(``sparqli``) and OData ``$filter`` (``odatai``).

Each has its own table in ``data/`` (error signatures of its processors and parsers, breakers,
and, where the language has functions of its own, boolean pairs) and runs the shared techniques
of :mod:`lunge.checks.querylang`. XSLT is found by evaluation: an ``xsl:value-of`` of the product
of two random numbers must come back computed, twice. HQL has no boolean pair: its conditions
are SQL's, which ``sqli`` tests. Budgets for a point that is not vulnerable: ``xslti`` 4,
``hqli`` 2, ``sparqli`` 4, ``odatai`` 4 requests (2 each in light mode).
"""

from __future__ import annotations

from collections.abc import Callable

from lunge.checks import querylang
from lunge.checks.base import Check, CheckContext, Probe, Severity


def _runner(table: str, check_id: str) -> Callable[[CheckContext], Probe]:
    def run(ctx: CheckContext) -> Probe:
        return (yield from querylang.run_language(_BY_ID[check_id], querylang.language(table), ctx))

    return run


XSLTI = Check(
    id="xslti", title="XSLT injection", kind="xslti", severity=Severity.HIGH, cwe=91,
    description="The value is placed into an XSLT stylesheet: an attacker can add instructions that read "
    "files, call extension functions or run code on the server, depending on the processor.",
    run=_runner("xslt", "xslti"), applies=querylang.applies,
    remediation="Never build stylesheets from input; pass values as stylesheet parameters (xsl:param) "
    "and disable extension functions and document() in the processor.",
)
HQLI = Check(
    id="hqli", title="HQL/JPQL injection", kind="hqli", severity=Severity.HIGH, cwe=564,
    description="The value is placed into an ORM query (HQL, JPQL, DQL) without being bound: an attacker can "
    "change the query and read or alter any mapped entity.",
    run=_runner("hql", "hqli"), applies=querylang.applies,
    remediation="Use named or positional parameters (setParameter) for every value in an ORM query.",
)
SPARQLI = Check(
    id="sparqli", title="SPARQL injection", kind="sparqli", severity=Severity.HIGH, cwe=943,
    description="The value is placed into a SPARQL query without escaping: an attacker can change the query "
    "and read any triple of the store.",
    run=_runner("sparql", "sparqli"), applies=querylang.applies,
    remediation="Bind values with the library's parameterised queries (Jena ParameterizedSparqlString, "
    "rdflib initBindings) instead of string building.",
)
ODATAI = Check(
    id="odatai", title="OData filter injection", kind="odatai", severity=Severity.MEDIUM, cwe=943,
    description="The value is placed into an OData $filter expression without escaping: an attacker can "
    "widen the filter and read records the application meant to hide.",
    run=_runner("odata", "odatai"), applies=querylang.applies,
    remediation="Build filters from typed values with the OData client's query builder, escaping quotes "
    "in string literals (doubled), and enforce record access on the server.",
)

_BY_ID = {c.id: c for c in (XSLTI, HQLI, SPARQLI, ODATAI)}
CHECKS = (XSLTI, HQLI, SPARQLI, ODATAI)
