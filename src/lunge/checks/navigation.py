"""Where a response sends the browser: the ``Location`` of a redirect, a ``Refresh`` header or
``<meta http-equiv="refresh">``, and JavaScript assignments to ``location``.

URLs are resolved the way a browser does (the WHATWG URL parser's rules that matter for redirects:
a backslash counts as a slash in http(s) URLs, ``//host`` and ``/\\host`` are scheme-relative,
``https:host`` from an http page is absolute), and only the resulting *host* is compared: a
redirect to the own site carrying the payload in its query string goes nowhere else.

>>> target_host("/\\\\evil.test/x", "https", "shop.test")
'evil.test'
>>> target_host("/login?next=https://evil.test/", "https", "shop.test")
'shop.test'
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote

from lunge.checks import htmlcontext, jscontext
from lunge.checks.jscontext import JsKind
from lunge.http import Response

SPECIAL_SCHEMES = frozenset({"http", "https", "ws", "wss", "ftp"})
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
_REFRESH = re.compile(r"^\s*[\d.]*\s*[;,]?\s*(?:url\s*=\s*)?(['\"]?)(.*)$", re.IGNORECASE | re.DOTALL)
_JS_ESCAPE = re.compile(r"\\(u\{[0-9a-fA-F]+\}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)", re.DOTALL)
_C0_AND_SPACE = "".join(chr(c) for c in range(0x21))


@dataclass(frozen=True, slots=True)
class Navigation:
    """One place the response navigates: ``how`` is ``location``, ``refresh-header``,
    ``meta-refresh`` or ``javascript``; ``url`` as written; ``excerpt`` the exact source."""

    how: str
    url: str
    excerpt: str


def target_host(url: str, scheme: str, host: str) -> str | None:
    """The host a browser on ``scheme://host/...`` goes to when told ``url``, lower-cased; the own
    ``host`` for relative URLs; None for URLs that do not navigate to a host (``javascript:``,
    ``data:``, ``mailto:``)."""
    text = url.strip(_C0_AND_SPACE).replace("\t", "").replace("\n", "").replace("\r", "")
    match = _SCHEME.match(text)
    if match:
        given = match.group(1).lower()
        rest = text[match.end() :]
        if given not in SPECIAL_SCHEMES:
            return None
        if given == scheme.lower() and not rest.startswith(("/", "\\")):
            return host.lower()  # "https:path" on an https page is a relative path
        authority = rest.lstrip("/\\")
    elif len(text) >= 2 and text[0] in "/\\" and text[1] in "/\\":
        authority = text.lstrip("/\\")
    else:
        return host.lower()
    end = min((i for i in (authority.find(c) for c in "/\\?#") if i >= 0), default=len(authority))
    found = authority[:end].rpartition("@")[2]
    if found.startswith("["):
        found = found.partition("]")[0] + "]"
    else:
        found = found.rpartition(":")[0] if ":" in found else found
    return unquote(found).lower().rstrip(".")


def refresh_url(content: str) -> str | None:
    """The URL of a ``Refresh`` value (``5; url='https://x/'``), None when it only reloads.

    >>> refresh_url("0;URL='https://a.test/x'")
    'https://a.test/x'
    >>> refresh_url("5") is None
    True
    """
    match = _REFRESH.match(content)
    if not match:
        return None
    quote, url = match.groups()
    if quote:
        url = url.split(quote, 1)[0]
    return url.strip() or None


def navigations(response: Response) -> list[Navigation]:
    """Every navigation in ``response``: the redirect's Location (3xx only), a Refresh header, and,
    in an HTML page, meta refresh tags and JavaScript ``location`` assignments."""
    found: list[Navigation] = []
    location = response.headers.get("location")
    if 300 <= response.status < 400 and response.status != 304 and location is not None:
        found.append(Navigation("location", location, f"Location: {location}"))
    refresh = response.headers.get("refresh")
    if refresh is not None and (url := refresh_url(refresh)) is not None:
        found.append(Navigation("refresh-header", url, f"Refresh: {refresh}"))
    kind = response.content_type
    if kind in ("", "text/html", "application/xhtml+xml"):
        found.extend(_page_navigations(htmlcontext.parse(response.text())))
    return found


def _page_navigations(tokens: list[htmlcontext.Token]) -> Iterator[Navigation]:
    for token in tokens:
        if isinstance(token, htmlcontext.Tag) and token.name == "meta" and not token.inert:
            if (token.get("http-equiv") or "").strip().lower() == "refresh":
                url = refresh_url(token.get("content") or "")
                if url is not None:
                    yield Navigation("meta-refresh", url, token.source)
        elif (isinstance(token, htmlcontext.Text) and token.parent == "script" and token.owner is not None
              and htmlcontext.executable_script(token.owner) and not token.owner.inert):
            yield from script_navigations(token.data)


def script_navigations(code: str) -> Iterator[Navigation]:
    """String literals assigned to ``location``/``location.href`` or passed to
    ``location.replace``/``location.assign``/``window.open``, found by lexing, not by regex.

    >>> [n.url for n in script_navigations("if (ok) { window.location.href = 'https://a.test/'; }")]
    ['https://a.test/']
    """
    tokens = [t for t in jscontext.tokenize(code) if t.kind is not JsKind.COMMENT]
    for i, token in enumerate(tokens):
        if token.kind not in (JsKind.STRING, JsKind.TEMPLATE) or not _is_whole_literal(token):
            continue
        if _navigation_sink([t.text for t in tokens[max(0, i - 4) : i]]):
            start, end = max(0, token.start - 60), min(len(code), token.end + 10)
            yield Navigation("javascript", _js_unescape(token.text[1:-1]), code[start:end])


def _is_whole_literal(token: jscontext.JsToken) -> bool:
    # a template with substitutions is not one literal URL
    return len(token.text) >= 2 and token.text[-1] == token.quote and not token.text.endswith("${")


def _navigation_sink(before: list[str]) -> bool:
    """Whether the code tokens just before a literal make it a navigation target."""
    last = before[-4:]
    if len(last) >= 2 and last[-1] == "=" and last[-2] not in ("=", "!", "<", ">"):
        target = last[-2]
        return target == "location" or (target == "href" and last[-4:-2] == ["location", "."])
    if len(last) == 4 and last[-1] == "(" and last[-3] == ".":
        return (last[-4], last[-2]) in {("location", "replace"), ("location", "assign"), ("window", "open"),
                                        ("window", "navigate")}
    return False


def _js_unescape(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        body = match.group(1)
        if body.startswith("u{"):
            return chr(min(int(body[2:-1], 16), 0x10FFFF))
        if body[0] in "ux" and len(body) > 1:
            return chr(int(body[1:], 16))
        return {"n": "\n", "r": "\r", "t": "\t"}.get(body, body)

    return _JS_ESCAPE.sub(one, text)
