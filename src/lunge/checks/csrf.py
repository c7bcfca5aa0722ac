"""Cross-site request forgery (``csrf``, CWE-352): a state-changing request another site can make a
signed-in browser send, and the application carries out.

A per-baseline check (:attr:`lunge.checks.base.Check.per_baseline`): it judges the request as a
whole. Gate, from the recorded request alone (no request sent):

- the method changes state (not GET, HEAD, OPTIONS);
- a browser form can send it cross-site without a CORS preflight: no body, or a form-encoded,
  multipart or text/plain body (a JSON body needs a preflight), and no ``Authorization`` header or
  custom anti-forgery header (``X-CSRF-Token``, ``X-XSRF-Token``, ``X-Requested-With``);
- it carries cookies, and no parameter named like an anti-CSRF token (``csrf``, ``xsrf``,
  ``authenticity_token``, ``__RequestVerificationToken``, ``_token``, ``nonce``);
- at least one cookie it carries would go along cross-site: its ``Set-Cookie`` in the record
  (:attr:`~lunge.checks.base.CheckContext.set_cookies`) has no ``SameSite=Strict`` or ``Lax``
  (a cookie set outside the record counts as unprotected: browsers other than Chromium do not
  default to Lax).

Then (3 requests): the request *without any cookie* must be refused (otherwise the action needs no
session and forging it gains nothing); the request as a browser would send it from another site
(``Origin`` and ``Referer`` of a foreign site, only the cookies without SameSite protection) must be
answered like the baseline (:mod:`lunge.checks.accepted`), twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from lunge.checks import accepted
from lunge.checks.base import Attack, Check, CheckContext, Confidence, Probe, Severity
from lunge.checks.identity import cookies_of
from lunge.http import Request

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
SIMPLE_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")
GUARD_HEADERS = frozenset({"authorization", "x-csrf-token", "x-xsrf-token", "x-csrftoken", "x-requested-with",
                           "csrf-token", "x-csrf", "anti-csrf-token"})
TOKEN_NAME = re.compile(r"csrf|xsrf|authenticity_?token|requestverificationtoken|(?:^|[_-])token$|nonce",
                        re.IGNORECASE)
FOREIGN_ORIGIN = "https://csrf-attacker.invalid"  # RFC 6761: never resolves
_SAMESITE = re.compile(r";\s*samesite\s*=\s*(strict|lax)\b", re.IGNORECASE)


def cross_site(name: str, set_cookies: Mapping[str, str]) -> bool:
    """Whether a browser sends cookie ``name`` with a cross-site POST (no SameSite Strict/Lax known)."""
    seen = set_cookies.get(name)
    return seen is None or _SAMESITE.search(seen) is None


def _has_token(ctx: CheckContext) -> bool:
    return any(step.key is not None and TOKEN_NAME.search(step.key) for point in ctx.points for step in point.path
               if step.parser not in ("HEADER", "COOKIE"))


def _applies(ctx: CheckContext) -> bool:
    request = ctx.baseline
    if request.method.upper() in SAFE_METHODS:
        return False
    if any(name.lower() in GUARD_HEADERS for name, _ in request.headers):
        return False
    content_type = request.content_type.lower()
    if request.body and not content_type.startswith(SIMPLE_TYPES):
        return False
    cookies = cookies_of(request)
    if not cookies or not any(cross_site(name, ctx.set_cookies) for name, _ in cookies):
        return False
    return not _has_token(ctx)


def _forged(ctx: CheckContext, cookies: list[tuple[str, str]] | None) -> Request:
    headers = ctx.baseline.headers.without({"cookie", "origin", "referer"})
    if cookies:
        headers = headers.add("Cookie", "; ".join(f"{n}={v}" for n, v in cookies))
    if cookies is not None:
        headers = headers.add("Origin", FOREIGN_ORIGIN).add("Referer", f"{FOREIGN_ORIGIN}/")
    return ctx.baseline.with_headers(headers)


def _run(ctx: CheckContext) -> Probe:
    if not accepted.comparable(ctx):
        return []
    sent = [(n, v) for n, v in cookies_of(ctx.baseline) if cross_site(n, ctx.set_cookies)]
    carried = "; ".join(n for n, _ in sent)
    anonymous, forged = yield [Attack(_forged(ctx, None), "(no cookies)", "csrf:no-cookies"),
                               Attack(_forged(ctx, sent), f"Origin: {FOREIGN_ORIGIN}", "csrf:cross-site")]
    if not accepted.rejected(ctx, anonymous) or not accepted.accepted(ctx, forged):
        return []
    (again,) = yield [Attack(forged.attack.request, forged.attack.payload, "csrf:confirm")]
    if not accepted.accepted(ctx, again):
        return []
    return [CSRF.verdict(
        ctx, forged, proof=accepted.excerpt(forged), confidence=Confidence.FIRM,
        confirmation=f"sent as another site's form would send it (Origin and Referer {FOREIGN_ORIGIN}, only the "
                     f"cookies without SameSite protection: {carried}) it was carried out like the recorded request, "
                     f"twice; without cookies it was refused (status {anonymous.status})",
        controls=(ctx.normal, anonymous, again),
        details={"cookies_sent": [n for n, _ in sent], "no_cookie_status": anonymous.status,
                 "method": ctx.baseline.method},
    )]


CSRF = Check(
    id="csrf",
    title="Cross-site request forgery",
    kind="csrf",
    severity=Severity.MEDIUM,
    cwe=352,
    description="A state-changing request authenticated only by cookies, with no anti-CSRF token, no SameSite "
    "protection on its cookies and no Origin check: any web page the user visits can make the browser send "
    "it.",
    run=_run,
    applies=_applies,
    remediation="Require a per-session anti-CSRF token (or a custom header) on every state-changing request, "
    "check the Origin/Referer host, and set SameSite=Lax or Strict on session cookies.",
    per_baseline=True,
)
CHECKS = (CSRF,)
