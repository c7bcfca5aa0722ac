"""Passive rules: what a normal response already gives away, found without sending anything.

A passive rule is a pure function of one recorded or replayed exchange (the request and the
response): it returns a :class:`Match` or None. The engine runs every rule on each baseline's
recorded and replayed responses (never on attack responses: an error an attack provoked is the
active check's evidence, not a passive finding, detection.md §11) and keeps one finding per host
and rule, not one per response (Burp consolidates frequent passive issues the same way).

Rules are registered like checks, through the ``lunge.passive`` entry-point group (each entry
names a sequence of :class:`PassiveRule`), and listed by ``lunge checks list``. Their severity is
``info`` or ``low`` and they fail the build only when the policy says so (``fail_on.passive``).

Sources for the signatures: ZAP's passive scan rules (``ApplicationErrorScanRule``,
``InformationDisclosureDebugErrorsScanRule``, ``ServerHeaderInfoLeakScanRule``,
``XPoweredByHeaderInfoLeakScanRule``, ``CookieHttpOnlyScanRule``, ``CookieSecureFlagScanRule``,
``CookieSameSiteScanRule``, ``DirectoryBrowsingScanRule``), nuclei-templates
``http/exposures/tokens/`` for provider key formats, and the OWASP Secure Headers Project.

Example: a rule that reports a response carrying ``X-Debug-Token`` (Symfony's profiler)::

    def _debug_token(request: Request, response: Response) -> Match | None:
        token = response.headers.get("x-debug-token")
        return Match(f"X-Debug-Token: {token}") if token else None
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from lunge.checks import rendering
from lunge.checks.base import Severity
from lunge.checks.sqli_errors import signatures
from lunge.http import Request, Response
from lunge.logs import MASK

logger = logging.getLogger(__name__)
GROUP = "lunge.passive"
KIND = "info"  # FAST's type code for information exposure
_BODY_LIMIT = 256 * 1024  # characters of a body the rules read: signatures sit near the top


@dataclass(frozen=True, slots=True)
class Match:
    """What a rule found. ``proof`` is the exact text of the response (or of the request's URL)
    that shows it, already masked when it is a secret; ``secret`` the raw text the engine must
    mask everywhere else in the evidence; ``details`` the facts behind it (missing headers, ...)."""

    proof: str
    secret: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PassiveRule:
    """A passive rule, registered under a stable kebab-case ``id`` (see the module docstring)."""

    id: str
    title: str
    severity: Severity
    cwe: int
    description: str
    match: Callable[[Request, Response], Match | None]
    remediation: str = ""
    kind: str = KIND


def body(response: Response) -> str:
    """The text a rule reads: the decoded body, at most the first 256 KiB."""
    return response.text()[:_BODY_LIMIT]


def _first(patterns: tuple[re.Pattern[str], ...], text: str) -> re.Match[str] | None:
    for pattern in patterns:
        found = pattern.search(text)
        if found:
            return found
    return None


# ---------------------------------------------------------------------------- debug pages, stack traces
# (framework, literals, pattern): texts only a framework's debug page or a raw stack trace contains.
# The regex runs only when one of its literals is in the page (a plain substring search is ~100x
# cheaper than a regex scan of a big page, and the rules read every baseline's responses).
DEBUG_PAGES: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = tuple(
    (name, literals, re.compile(pattern)) for name, literals, pattern in (
        ("Django", ("DEBUG = True",), r"You're seeing this error because you have <code>DEBUG = True</code>"),
        ("Werkzeug", ("WSGI application", "Werkzeug Debugger"),
         r"The debugger caught an exception in your WSGI application|<title>[^<]*// Werkzeug Debugger"),
        ("Rails", ("Action Controller", "Application Trace"),
         r"Action Controller: Exception caught|<h2 style=\"margin-top: 30px\">Application Trace</h2>"),
        ("Laravel", ("Whoops", "Illuminate\\", "laravel-ignition"),
         r"Whoops, looks like something went wrong|Illuminate\\[A-Za-z\\]+Exception|laravel-ignition"),
        ("Symfony", ("Symfony\\Component", "exception-summary"),
         r"Symfony\\Component\\[A-Za-z\\]+Exception|<div class=\"exception-summary"),
        ("ASP.NET", ("Server Error in", "HttpException", "Exception Details"),
         r"Server Error in '[^']*' Application|\[HttpException \(0x[0-9a-fA-F]+\)|"
         r"<b> Exception Details: </b>System\."),
        ("Spring", ("Whitelabel Error Page",), r"<h1>Whitelabel Error Page</h1>"),
        ("Python", ("Traceback (most recent call last)",), r"Traceback \(most recent call last\):\s+File \""),
        ("Java", (".java:",), r"(?:Exception|Error)(?::[^\n]*)?\n\s+at [a-z][\w$]*(?:\.[\w$<>]+)+\([\w$]+\.java:\d+\)"),
        ("PHP", (" on line <b>",),
         r"<b>(?:Fatal error|Warning|Parse error)</b>:\s.{1,300}? in <b>[^<]+</b> on line <b>\d+</b>"),
        ("Node.js", (".js:",), r"\n\s+at [\w.<>]+ \((?:/|[A-Z]:\\)[^)]+\.js:\d+:\d+\)"),
        ("Go", ("goroutine ",), r"goroutine \d+ \[running\]:\n"),
    ))


def _debug_page(request: Request, response: Response) -> Match | None:
    text = body(response)
    for framework, literals, pattern in DEBUG_PAGES:
        if not any(literal in text for literal in literals):
            continue
        found = pattern.search(text)
        if found:
            return Match(found.group(0), details={"framework": framework})
    return None


# ---------------------------------------------------------------------------- SQL text
# A whole SQL statement written into a page (a debug toolbar, an error that echoes the query).
_SQL_STATEMENT = re.compile(
    r"\b(?:SELECT\s+(?:DISTINCT\s+)?[\w*.,`\"\[\]\s()]{1,200}?\s+FROM\s+[\w.`\"\[\]]+\s+(?:WHERE|ORDER\s+BY|"
    r"GROUP\s+BY|LIMIT|INNER\s+JOIN|LEFT\s+JOIN)\b|INSERT\s+INTO\s+[\w.`\"\[\]]+\s*\([\w,`\"\s]+\)\s*VALUES\b|"
    r"UPDATE\s+[\w.`\"\[\]]+\s+SET\s+[\w`\"]+\s*=)")


_SQL_VERBS = ("SELECT", "INSERT", "UPDATE")


def _sql_text(request: Request, response: Response) -> Match | None:
    text = body(response)
    error = signatures().search(text)
    if error is not None:
        return Match(error.text, details={"dbms": error.signature.dbms, "what": "database error"})
    statement = _SQL_STATEMENT.search(text) if any(verb in text for verb in _SQL_VERBS) else None
    if statement is not None:
        return Match(statement.group(0), details={"what": "SQL statement"})
    return None


# ---------------------------------------------------------------------------- secrets
# (what, literals, pattern) for secrets with an anchored provider format (nuclei-templates
# http/exposures/tokens); the regex runs only when one of its literals is in the text.
SECRETS: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = tuple(
    (name, literals, re.compile(pattern)) for name, literals, pattern in (
        ("private key", ("PRIVATE KEY",),
         r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----"),
        ("AWS access key id", ("AKIA", "ASIA"), r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
        ("Google API key", ("AIza",), r"\bAIza[0-9A-Za-z_-]{35}\b"),
        ("GitHub token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
        ("Slack token", ("xox",), r"\bxox[baprs]-[0-9A-Za-z-]{10,72}\b"),
        ("Stripe secret key", ("k_live_",), r"\b[sr]k_live_[0-9A-Za-z]{24,99}\b"),
    ))


def mask(secret: str, keep: int = 4) -> str:
    """The first characters of a secret and a mask: enough to recognise it, not to use it.

    >>> mask("AKIAABCDEFGHIJKLMNOP")
    'AKIA****'
    """
    return secret[:keep] + MASK


def _secret(request: Request, response: Response) -> Match | None:
    text = body(response)
    for what, literals, pattern in SECRETS:
        found = pattern.search(text) if any(literal in text for literal in literals) else None
        if found:
            raw = found.group(0)
            shown = raw if what == "private key" else mask(raw)  # the BEGIN line holds no key material
            return Match(shown, secret="" if what == "private key" else raw, details={"secret": what})
    return None


_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")


def _token_in_url(request: Request, response: Response) -> Match | None:
    """A JWT in the request's URL (or in a redirect's Location): URLs end up in logs, history and
    Referer headers (CWE-598)."""
    for where, text in (("request URL", request.target), ("Location", response.headers.get("location") or "")):
        found = _JWT.search(text)
        if found:
            header = found.group(0).partition(".")[0]
            return Match(f"{where}: {header}.{MASK}", secret=found.group(0), details={"where": where})
    return None


# ---------------------------------------------------------------------------- directory listings
DIRECTORY_LISTINGS: tuple[re.Pattern[str], ...] = tuple(re.compile(p) for p in (
    r"<title>Index of /[^<]*</title>",  # Apache, nginx autoindex, lighttpd
    r"<title>Directory listing for /[^<]*</title>",  # Python http.server
    r"\[To Parent Directory\]</[Aa]>",  # IIS
    r"<h1>Directory: /[^<]*</h1>",  # Jetty
))


def _directory_listing(request: Request, response: Response) -> Match | None:
    if response.status != 200 or rendering.rendering(response).document != rendering.HTML:
        return None
    found = _first(DIRECTORY_LISTINGS, body(response))
    return Match(found.group(0)) if found else None


# ---------------------------------------------------------------------------- banners
BANNER_HEADERS = ("server", "x-powered-by", "x-aspnet-version", "x-aspnetmvc-version", "x-generator",
                  "x-runtime-version")
_VERSION = re.compile(r"\d+\.\d+")


def _banner(request: Request, response: Response) -> Match | None:
    """A header naming software and its version (ZAP reports ``Server`` only with a digit in it:
    a bare product name tells an attacker little)."""
    for name in BANNER_HEADERS:
        value = response.headers.get(name)
        if value and _VERSION.search(value):
            return Match(f"{name.title()}: {value}", details={"header": name.title()})
    return None


# ---------------------------------------------------------------------------- security headers
def missing_security_headers(request: Request, response: Response) -> list[str]:
    """The security headers an HTML page lacks (OWASP Secure Headers Project): CSP,
    X-Content-Type-Options, framing protection (X-Frame-Options or CSP frame-ancestors), and
    Strict-Transport-Security over HTTPS."""
    headers = response.headers
    csp = headers.get("content-security-policy") or ""
    missing = []
    if not csp:
        missing.append("Content-Security-Policy")
    if not rendering.nosniff(response):
        missing.append("X-Content-Type-Options")
    if not headers.get("x-frame-options") and "frame-ancestors" not in csp.lower():
        missing.append("X-Frame-Options")
    if request.scheme == "https" and not headers.get("strict-transport-security"):
        missing.append("Strict-Transport-Security")
    return missing


def _security_headers(request: Request, response: Response) -> Match | None:
    if not 200 <= response.status < 300 or rendering.rendering(response).document is None:
        return None
    missing = missing_security_headers(request, response)
    if not missing:
        return None
    return Match(f"missing: {', '.join(missing)}", details={"missing": missing})


# ---------------------------------------------------------------------------- cookies
def cookie_flags(set_cookie: str, secure_origin: bool) -> tuple[str, list[str]]:
    """A Set-Cookie's name and the protections it lacks: Secure (only meaningful over HTTPS),
    HttpOnly, SameSite (RFC 6265 §4.1.2, RFC 6265bis §5.4.7).

    >>> cookie_flags("sid=abc; Path=/; HttpOnly", True)
    ('sid', ['Secure', 'SameSite'])
    """
    name, _, rest = set_cookie.partition(";")
    attributes = {part.strip().partition("=")[0].strip().lower() for part in rest.split(";") if part.strip()}
    missing = [] if "secure" in attributes or not secure_origin else ["Secure"]
    missing += [] if "httponly" in attributes else ["HttpOnly"]
    missing += [] if "samesite" in attributes else ["SameSite"]
    return name.partition("=")[0].strip(), missing


def _cookies(request: Request, response: Response) -> Match | None:
    weak = {}
    for value in response.headers.get_all("set-cookie"):
        if "max-age=0" in value.lower() or "expires=thu, 01 jan 1970" in value.lower():
            continue  # a cookie being deleted
        name, missing = cookie_flags(value, request.scheme == "https")
        if missing:
            weak[name] = missing
    if not weak:
        return None
    shown = "; ".join(f"{name} without {', '.join(missing)}" for name, missing in weak.items())
    return Match(f"Set-Cookie: {shown}", details={"cookies": weak})


# ---------------------------------------------------------------------------- CORS
# The Origin of lunge's one CORS probe per host: a name under .invalid (RFC 2606) never resolves.
PROBE_ORIGIN = "https://lunge-cors-probe.invalid"


def cors_probe(request: Request) -> Request:
    """The baseline with a foreign ``Origin``: a CORS policy that trusts any origin echoes it."""
    return request.with_headers(request.headers.set("Origin", PROBE_ORIGIN))


def _cors(request: Request, response: Response) -> Match | None:
    """The answer to :func:`cors_probe` lets an arbitrary origin read it with the victim's
    cookies: ``Access-Control-Allow-Origin`` echoes the foreign origin and
    ``Access-Control-Allow-Credentials`` is ``true`` (a ``*`` with credentials is refused by
    browsers and is not reported). Only lunge's own probe origin counts: an origin the
    application chose to trust in recorded traffic proves nothing about *any* origin."""
    if request.headers.get("origin") != PROBE_ORIGIN:
        return None
    allowed = (response.headers.get("access-control-allow-origin") or "").strip()
    credentials = (response.headers.get("access-control-allow-credentials") or "").strip().lower()
    if allowed != PROBE_ORIGIN or credentials != "true":
        return None
    return Match(f"Access-Control-Allow-Origin: {allowed}", details={"origin_sent": PROBE_ORIGIN,
                                                                      "allow_credentials": True})


# ---------------------------------------------------------------------------- the rules
RULES: tuple[PassiveRule, ...] = (
    PassiveRule("passive-debug-page", "Debug page or stack trace in a normal response", Severity.LOW, 209,
                "A framework's debug page or a stack trace is shown: it gives away code, paths and versions.",
                _debug_page, "Turn debug mode off in production and show a generic error page."),
    PassiveRule("passive-sql-text", "SQL text in a normal response", Severity.LOW, 209,
                "A database error or an SQL statement is written into a normal response.",
                _sql_text, "Log database errors and queries on the server; never write them into a response."),
    PassiveRule("passive-secret", "Secret in a response", Severity.LOW, 200,
                "A private key or a provider's API key appears in a response.",
                _secret, "Remove the secret from the response and rotate it."),
    PassiveRule("passive-token-in-url", "Token in a URL", Severity.LOW, 598,
                "A JSON Web Token travels in a URL, where logs, history and Referer headers keep it.",
                _token_in_url, "Send tokens in an Authorization header or a cookie, never in the URL."),
    PassiveRule("passive-directory-listing", "Directory listing", Severity.LOW, 548,
                "The web server lists the files of a directory.",
                _directory_listing, "Turn off automatic directory indexes."),
    PassiveRule("passive-version-banner", "Software version in a response header", Severity.INFO, 200,
                "A response header names the server software and its version.",
                _banner, "Remove version numbers from Server, X-Powered-By and similar headers."),
    PassiveRule("passive-security-headers", "Security headers missing", Severity.INFO, 693,
                "An HTML page is served without Content-Security-Policy, X-Content-Type-Options, framing "
                "protection or (over HTTPS) Strict-Transport-Security.",
                _security_headers, "Send the OWASP Secure Headers Project's recommended headers."),
    PassiveRule("passive-cookie-flags", "Cookie without Secure, HttpOnly or SameSite", Severity.INFO, 1004,
                "A cookie is set without HttpOnly or SameSite (or, over HTTPS, without Secure).",
                _cookies, "Set session cookies with Secure, HttpOnly and SameSite=Lax or Strict."),
    PassiveRule("passive-cors-credentials", "CORS trusts any origin with credentials", Severity.LOW, 942,
                "The response lets any web site read it with the visitor's cookies: it echoes a foreign "
                "Origin in Access-Control-Allow-Origin and allows credentials (one probe per host).",
                _cors, "Allow only a fixed list of trusted origins; never echo the request's Origin."),
)
CORS_RULE = "passive-cors-credentials"


def load(group: str = GROUP) -> tuple[PassiveRule, ...]:
    """Every passive rule advertised in the ``lunge.passive`` entry-point group; a plugin that fails
    to load is logged and left out (the built-ins are in this module's :data:`RULES`)."""
    rules: dict[str, PassiveRule] = {}
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        try:
            loaded = ep.load()
            for rule in (loaded if isinstance(loaded, (tuple, list)) else [loaded]):
                if not isinstance(rule, PassiveRule):
                    raise TypeError(f"{rule!r} is not a lunge PassiveRule")
                rules.setdefault(rule.id, rule)
        except Exception as exc:  # the plugin boundary: a broken plugin is reported, not fatal
            logger.error("passive rule plugin %s failed to load: %s", ep.name, exc)
    return tuple(rules.values()) or RULES


def run(rules: tuple[PassiveRule, ...], request: Request, response: Response) -> list[tuple[PassiveRule, Match]]:
    """Every rule that matches this exchange; a rule that raises is logged and skipped."""
    out = []
    for rule in rules:
        try:
            found = rule.match(request, response)
        except Exception:  # the plugin boundary: one broken rule never stops the others
            logger.exception("passive rule %s raised", rule.id)
            continue
        if found is not None:
            out.append((rule, found))
    return out
