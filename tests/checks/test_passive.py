"""Passive rules: each finds its exposure in a normal response and stays silent on look-alikes."""

from __future__ import annotations

import doctest

import pytest

from lunge.checks import passive
from lunge.checks.passive import PROBE_ORIGIN, RULES
from lunge.http import Headers, Request, Response

RULE = {rule.id: rule for rule in RULES}
HTML = [("Content-Type", "text/html; charset=utf-8")]
SAFE_HEADERS = [*HTML, ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"),
                ("X-Content-Type-Options", "nosniff")]
GET = Request.from_url("http://app.test/page?x=1")


def response(body: str = "<p>ok</p>", headers: list[tuple[str, str]] | None = None, status: int = 200) -> Response:
    return Response(status, headers=Headers(SAFE_HEADERS if headers is None else headers), body=body.encode())


def test_doctests() -> None:
    assert doctest.testmod(passive).failed == 0


def test_ids_are_unique_kebab_case_and_severities_info_or_low() -> None:
    assert len(RULE) == len(RULES)
    assert all(r.id.startswith("passive-") and r.id == r.id.lower() for r in RULES)
    assert {r.severity.value for r in RULES} <= {"info", "low"}
    assert {r.id for r in passive.load()} == set(RULE)


FOUND = [
    ("passive-debug-page", response("<p>You're seeing this error because you have <code>DEBUG = True</code> in")),
    ("passive-debug-page", response("<title>KeyError // Werkzeug Debugger</title>")),
    ("passive-debug-page", response("<h1>Whitelabel Error Page</h1><p>This application has no explicit mapping")),
    ("passive-debug-page", response("<h2>Server Error in '/' Application.</h2>")),
    ("passive-debug-page", response("Traceback (most recent call last):\n  File \"/app/views.py\", line 3")),
    ("passive-debug-page", response("java.lang.NullPointerException\n\tat com.shop.Cart.total(Cart.java:42)")),
    ("passive-debug-page", response("<b>Fatal error</b>:  Uncaught Error in <b>/var/www/a.php</b> on line <b>7</b>")),
    ("passive-sql-text", response("<pre>You have an error in your SQL syntax; check the manual that corresponds "
                                  "to your MySQL server version</pre>")),
    ("passive-sql-text", response("<!-- SELECT id, name FROM users WHERE id = 3 -->")),
    ("passive-secret", response("var key = 'AKIAIOSFODNN7EXAMPLE';")),
    ("passive-secret", response("-----BEGIN RSA PRIVATE KEY-----\nMIIE")),
    ("passive-directory-listing", response("<html><head><title>Index of /backup</title></head>")),
    ("passive-version-banner", response(headers=[*SAFE_HEADERS, ("Server", "Apache/2.4.41 (Ubuntu)")])),
    ("passive-version-banner", response(headers=[*SAFE_HEADERS, ("X-Powered-By", "PHP/8.1.2")])),
    ("passive-security-headers", response(headers=HTML)),
    ("passive-cookie-flags", response(headers=[*SAFE_HEADERS, ("Set-Cookie", "sid=abc; Path=/")])),
]
SILENT = [
    ("passive-debug-page", response("<p>Our traceback-free shop</p><p>at java.lang is a coffee shop</p>")),
    ("passive-sql-text", response("<p>Select a product from the list where you like</p>")),
    ("passive-secret", response("<p>AKIA is a word; AIza too short</p>")),
    ("passive-directory-listing", response("<p>Index of our products</p>")),
    ("passive-directory-listing", response("<title>Index of /</title>", headers=[("Content-Type", "text/plain")])),
    ("passive-version-banner", response(headers=[*SAFE_HEADERS, ("Server", "nginx")])),
    ("passive-security-headers", response()),
    ("passive-security-headers", response("{}", headers=[("Content-Type", "application/json")])),
    ("passive-security-headers", response(headers=HTML, status=404)),
    ("passive-cookie-flags", response(headers=[*SAFE_HEADERS, ("Set-Cookie", "sid=abc; HttpOnly; SameSite=Lax")])),
    ("passive-cookie-flags", response(headers=[*SAFE_HEADERS, ("Set-Cookie", "sid=; Max-Age=0")])),
]


@pytest.mark.parametrize(("rule", "answer"), FOUND, ids=[f"{r}-{i}" for i, (r, _) in enumerate(FOUND)])
def test_rule_finds_its_exposure(rule: str, answer: Response) -> None:
    match = RULE[rule].match(GET, answer)
    assert match is not None and match.proof
    assert [r.id for r, _ in passive.run(RULES, GET, answer)].count(rule) == 1


@pytest.mark.parametrize(("rule", "answer"), SILENT, ids=[f"{r}-{i}" for i, (r, _) in enumerate(SILENT)])
def test_rule_stays_silent_on_look_alikes(rule: str, answer: Response) -> None:
    assert RULE[rule].match(GET, answer) is None


def test_secrets_are_masked_in_the_proof() -> None:
    match = RULE["passive-secret"].match(GET, response("k = 'AKIAIOSFODNN7EXAMPLE'"))
    assert match is not None and match.proof == "AKIA****" and match.secret == "AKIAIOSFODNN7EXAMPLE"
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlc2lnbmF0dXJl"
    match = RULE["passive-token-in-url"].match(Request.from_url(f"http://app.test/cb?token={jwt}"), response())
    assert match is not None and jwt not in match.proof and match.secret == jwt
    assert RULE["passive-token-in-url"].match(GET, response()) is None


def test_missing_headers_and_cookie_flags_are_listed() -> None:
    https = Request.from_url("https://app.test/")
    match = RULE["passive-security-headers"].match(https, response(headers=HTML))
    assert match is not None
    assert match.details["missing"] == ["Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options",
                                        "Strict-Transport-Security"]
    cookies = response(headers=[("Set-Cookie", "a=1; Secure; HttpOnly"), ("Set-Cookie", "b=2; SameSite=Strict")])
    match = RULE["passive-cookie-flags"].match(https, cookies)
    assert match is not None and match.details["cookies"] == {"a": ["SameSite"], "b": ["Secure", "HttpOnly"]}
    # Secure cannot be set over plain HTTP: not asked for there
    assert passive.cookie_flags("b=2; HttpOnly; SameSite=Lax", False) == ("b", [])


def test_cors_counts_only_lunges_own_foreign_origin_with_credentials() -> None:
    rule = RULE["passive-cors-credentials"]
    probe = passive.cors_probe(GET)
    assert probe.headers.get("origin") == PROBE_ORIGIN
    echo = [("Access-Control-Allow-Origin", PROBE_ORIGIN), ("Access-Control-Allow-Credentials", "true")]
    assert rule.match(probe, response(headers=echo)) is not None
    star = [("Access-Control-Allow-Origin", "*"), ("Access-Control-Allow-Credentials", "true")]
    assert rule.match(probe, response(headers=star)) is None
    assert rule.match(probe, response(headers=echo[:1])) is None
    trusted = GET.with_headers(GET.headers.set("Origin", "https://partner.test"))
    partner = [("Access-Control-Allow-Origin", "https://partner.test"), ("Access-Control-Allow-Credentials", "true")]
    assert rule.match(trusted, response(headers=partner)) is None


def test_a_raising_rule_is_skipped() -> None:
    def broken(request: Request, answer: Response) -> passive.Match | None:
        raise ValueError("bug")

    bad = passive.PassiveRule("passive-broken", "Broken", RULES[0].severity, 0, "", broken)
    answer = response(headers=HTML)
    assert [r.id for r, _ in passive.run((bad, *RULES), GET, answer)] == ["passive-security-headers"]
