"""The query-language checks (``ldapi``, ``xpathi``, ``xslti``, ``hqli``, ``sparqli``, ``odatai``)
against fake applications over real query engines: the demo's RFC 4515 filter parser, lxml's XPath
and XSLT. Each vulnerable app has traps beside it that must give nothing at all: the escaping twin,
a SQL-injectable twin, a wildcard search, a page about errors, an echo, a calculator."""

from __future__ import annotations

import html
import re
import sqlite3
from collections.abc import Callable

import pytest
from lxml import etree

from lunge.checks import querylang
from lunge.checks.base import Attack, Check, Confidence, Verdict
from lunge.checks.ldapi import LDAPI
from lunge.checks.querylangs import HQLI, ODATAI, SPARQLI, XSLTI
from lunge.checks.testing import ResponderResult, context, drive
from lunge.checks.xpathi import XPATHI
from lunge.demo import ldapfilter
from lunge.http import Headers, Request, Response
from tests.checks.test_sqli_apps import Place

NAME = Place("query", "name")
PEOPLE = [{"objectClass": ["person"], "uid": [u], "cn": [u.title()]} for u in ("alice", "bob", "carol")]
CATALOG = etree.fromstring(b"<c><item><name>Widget</name><n>12</n></item><item><name>Gadget</name><n>3</n></item></c>")
NOISE = "<nav>" + "".join(f"<a href='/s/{i}'>Section {i}</a>" for i in range(10)) + "</nav>"

Lookup = Callable[[str], str | None]  # the value -> the answer's text (None: not found)


def app(lookup: Lookup, place: Place = NAME) -> Callable[[Request], ResponderResult]:
    """An HTML app: 200 with the answer, 404 when nothing matched, 500 with the error's text."""

    def respond(request: Request) -> ResponderResult:
        value = place.read(request) or ""
        try:
            answer = lookup(value)
        except Exception as exc:  # the app's debug page shows the error, escaped
            return Response(500, body=f"<pre>{html.escape(type(exc).__module__ + '.' + type(exc).__name__)}: "
                                      f"{html.escape(str(exc))}</pre>".encode())
        body = f"<html>{NOISE}<p>{html.escape(answer)}</p></html>" if answer else f"<html>{NOISE}<p>none</p></html>"
        return Response(200 if answer else 404, headers=Headers([("Content-Type", "text/html")]), body=body.encode())

    return respond


def run(check: Check, responder: Callable[[Request], ResponderResult], value: str = "alice", seed: int = 1,
        place: Place = NAME) -> tuple[list[Verdict], list[Attack]]:
    ctx = context(place.request(value), place.point, responder, seed=seed)
    sent: list[Attack] = []
    return drive(check, ctx, responder, sent=sent), sent


# ---------------------------------------------------------------------- LDAP
def ldap(escape: bool, errors: bool = True) -> Lookup:
    def lookup(uid: str) -> str | None:
        value = ldapfilter.escape(uid) if escape else uid
        try:
            found = ldapfilter.search(PEOPLE, f"(&(objectClass=person)(uid={value}))")
        except ldapfilter.FilterError:
            if errors:
                raise
            return None
        return found[0]["cn"][0] if found else None

    return lookup


def test_ldapi_by_its_error() -> None:
    (verdict,), _ = run(LDAPI, app(ldap(escape=False)))
    assert verdict.details["technique"] == "error" and verdict.confidence is Confidence.FIRM
    assert "Bad search filter" in verdict.proof


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ldapi_blind_by_boolean_pairs(seed: int) -> None:
    (verdict,), sent = run(LDAPI, app(ldap(escape=False, errors=False)), seed=seed)
    assert verdict.details["technique"] == "boolean" and verdict.confidence is Confidence.FIRM
    assert "(objectClass=*" in verdict.payload and len(sent) <= 12


def wildcard_search(value: str) -> str | None:
    """A search where * is a wildcard on purpose (the value is escaped but for *): not injection."""
    pattern = re.escape(value).replace(r"\*", ".*")
    found = [p["cn"][0] for p in PEOPLE if re.fullmatch(pattern, p["uid"][0])]
    return ", ".join(found) or None


def sql_lookup(value: str) -> str | None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (name TEXT)")
    db.executemany("INSERT INTO t VALUES (?)", [("alice",), ("Widget",), ("bob",)])
    rows = db.execute(f"SELECT name FROM t WHERE name = '{value}'").fetchall()
    return str(rows[0][0]) if rows else None


def errors_page(value: str) -> str | None:
    """Documentation that always shows error texts of every language."""
    return ("FAQ: 'Bad search filter' (ldap.FILTER_ERROR), lxml.etree.XPathEvalError, MongoServerError, "
            f"org.hibernate.QueryException, Virtuoso 37000 Error SP030 - you asked about {len(value)} things")


@pytest.mark.parametrize("trap", [app(ldap(escape=True)), app(wildcard_search), app(sql_lookup),
                                  app(errors_page), app(lambda v: "alice")],
                         ids=["escaped", "wildcard", "sql", "errors-page", "accept-all"])
def test_ldapi_traps(trap: Callable[[Request], ResponderResult]) -> None:
    assert run(LDAPI, trap)[0] == []


def test_ldapi_light_mode_sends_only_the_error_probe() -> None:
    responder = app(ldap(escape=True))
    ctx = context(NAME.request("alice"), NAME.point, responder, light=True)
    sent: list[Attack] = []
    assert drive(LDAPI, ctx, responder, sent=sent) == [] and len(sent) == 2


# ---------------------------------------------------------------------- XPath
def xpath(bound: bool) -> Lookup:
    def lookup(name: str) -> str | None:
        try:
            items = (CATALOG.xpath("//item[name=$v]", v=name) if bound
                     else CATALOG.xpath(f"//item[name='{name}']"))
        except etree.XPathError:
            return None  # errors hidden
        return f"{items[0].findtext('name')}: {items[0].findtext('n')}" if items else None

    return lookup


def xpath_with_errors(name: str) -> str | None:
    items = CATALOG.xpath(f'//item[name="{name}"]')
    return items[0].findtext("name") if items else None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_xpathi_blind_by_xpath_only_functions(seed: int) -> None:
    (verdict,), _ = run(XPATHI, app(xpath(bound=False)), "Widget", seed)
    assert verdict.details["technique"] == "boolean" and verdict.details["context"] == "single-quote"
    assert "string-length" in verdict.payload


def test_xpathi_by_the_lxml_error_in_double_quotes() -> None:
    (verdict,), _ = run(XPATHI, app(xpath_with_errors), "Widget")
    assert verdict.details["technique"] == "error" and verdict.details["engine"] == "lxml"


@pytest.mark.parametrize("trap", [app(xpath(bound=True)), app(sql_lookup), app(errors_page)],
                         ids=["bound", "sql", "errors-page"])
def test_xpathi_traps(trap: Callable[[Request], ResponderResult]) -> None:
    verdicts, sent = run(XPATHI, trap, "Widget")
    assert verdicts == []
    assert len(sent) <= 8  # error probe, then TRUE (and FALSE where TRUE kept the page) per string context


# ---------------------------------------------------------------------- XSLT and the family
def xslt(title: str) -> str | None:
    sheet = ('<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
             f'<xsl:output method="text"/><xsl:template match="/">{title}: <xsl:value-of select="count(//item)"/>'
             "</xsl:template></xsl:stylesheet>")
    return str(etree.XSLT(etree.XML(sheet), access_control=etree.XSLTAccessControl.DENY_ALL)(CATALOG))


def calculator(value: str) -> str | None:
    """Computes every a*b it is given, and echoes the rest: not XSLT."""
    return re.sub(r"(\d+)\*(\d+)", lambda m: str(int(m.group(1)) * int(m.group(2))), value)


def test_xslti_by_evaluation() -> None:
    (verdict,), sent = run(XSLTI, app(xslt), "Stock")
    assert verdict.details["technique"] == "evaluation" and verdict.confidence is Confidence.CERTAIN
    assert len(verdict.controls) == 2 and any(a.label.endswith(":control") for a in sent)


@pytest.mark.parametrize("trap", [app(lambda v: v), app(calculator), app(errors_page)],
                         ids=["echo", "calculator", "errors-page"])
def test_xslti_traps(trap: Callable[[Request], ResponderResult]) -> None:
    assert run(XSLTI, trap, "Stock")[0] == []


def raising(message: str) -> Lookup:
    def lookup(value: str) -> str | None:
        if "'" in value or '"' in value:
            raise RuntimeError(message)
        return "ok"

    return lookup


@pytest.mark.parametrize(("check", "message"), [
    (HQLI, "org.hibernate.hql.internal.ast.QuerySyntaxException: unexpected token: x near line 1"),
    (SPARQLI, "org.apache.jena.query.QueryParseException: Lexical error at line 1, column 40"),
    (ODATAI, "Microsoft.OData.ODataException: Syntax error at position 12 in 'Name eq 'x''"),
])
def test_the_family_by_errors(check: Check, message: str) -> None:
    (verdict,), _ = run(check, app(raising(message)))
    assert verdict.check_id == check.id and verdict.details["technique"] == "error"
    assert verdict.confidence is Confidence.FIRM


def test_an_sql_error_is_left_to_sqli() -> None:
    sql_error = "sqlite3.OperationalError: unrecognized token: \"'\"; also org.hibernate.QueryException"
    assert run(HQLI, app(raising(sql_error)))[0] == []


def odata(value: str) -> str | None:
    """A tiny $filter evaluator for "Name eq '<x>'" and/or length()/indexof() terms."""
    rows = ["Widget", "Gadget"]
    tokens = re.findall(r"'(?:[^']|'')*'|\w+|\(|\)|,", value)
    matched = [r for r in rows if _odata_eval(tokens, r)]
    return ", ".join(matched) or None


def _odata_eval(tokens: list[str], row: str) -> bool:
    def term(i: int) -> tuple[object, int]:
        tok = tokens[i]
        if tok == "Name":
            return row, i + 1
        if tok.startswith("'"):
            return tok[1:-1].replace("''", "'"), i + 1
        if tok in ("length", "indexof"):
            args, j = [], i + 2
            while tokens[j] != ")":
                value, j = term(j)
                args.append(value)
                j += tokens[j] == ","
            return (len(str(args[0])) if tok == "length" else str(args[0]).find(str(args[1]))), j + 1
        return int(tok), i + 1

    result, i = True, 0
    while i < len(tokens):
        left, i = term(i)
        if tokens[i] != "eq":
            raise ValueError("Syntax error at position 3 in filter")
        right, i = term(i + 1)
        result = result and left == right
        if i < len(tokens):
            if tokens[i] != "and":
                raise ValueError("Syntax error at position 9 in filter")
            i += 1
    return result


def test_odatai_blind_in_an_expression() -> None:
    def lookup(value: str) -> str | None:
        try:
            return odata(value)
        except (ValueError, IndexError):
            return None

    (verdict,), _ = run(ODATAI, app(lookup, Place("query", "filter")), "Name eq 'Widget'",
                        place=Place("query", "filter"))
    assert verdict.details["technique"] == "boolean" and verdict.details["context"] == "expression"


def test_every_table_loads_and_names_its_engines() -> None:
    for name in ("ldap", "xpath", "xslt", "hql", "sparql", "odata", "nosql"):
        table = querylang.language(name)
        assert table.errors and table.breakers and all(e.engine for e in table.errors)
