"""Header values (``HEADER_<NAME>``) and the cookies inside a Cookie header (``COOKIE_<name>``).

Header names are written upper-case in point names (FAST accepts either case); headers that only
frame the message (Content-Length, Transfer-Encoding, ...) are not points, since lunge recomputes
them. A header that occurs more than once gets ``ARRAY_<i>`` steps.

>>> from collections import Counter

from lunge.http.headers import Headers
>>> h = Headers([("Cookie", "sid=abc; theme=dark")])
>>> [(".".join(s.label for s in c.steps), c.value) for c in parse_header("Cookie", h[0][1], h, 0)[0].children]
[('COOKIE_sid', 'abc'), ('COOKIE_theme', 'dark')]
"""

from __future__ import annotations

from collections import Counter

from lunge.http.headers import Headers
from lunge.http.points.model import Leaf, Step

# Framing and connection management: changing these breaks the message, not the application.
NOT_POINTS = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer",
     "proxy-connection", "expect"}
)


def encode_header_value(value: str) -> str:
    """A value that keeps the header a single line: CR and LF are percent-encoded.

    >>> encode_header_value("a\\r\\nb")
    'a%0D%0Ab'
    """
    return value.replace("\r", "%0D").replace("\n", "%0A")


def encode_cookie_value(value: str) -> str:
    """A value that stays one cookie: ';' and line breaks are percent-encoded."""
    return encode_header_value(value).replace(";", "%3B")


def parse_header(name: str, value: str, headers: Headers, index: int) -> list[Leaf]:
    """The point for header ``index`` (whose name and value are given), with any cookies inside."""
    lowered = name.lower()
    if lowered in NOT_POINTS:
        return []
    steps: tuple[Step, ...] = (Step("HEADER", name.upper()),)
    same = [i for i, (k, _) in enumerate(headers) if k.lower() == lowered]
    if len(same) > 1:
        steps += (Step("ARRAY", str(same.index(index))),)
    if lowered == "cookie":
        cookies = parse_cookies(value)
        return [Leaf(steps, (0, len(value)), value, encode_header_value, children=cookies)]
    return [Leaf(steps, (0, len(value)), value, encode_header_value)]


def parse_cookies(text: str) -> list[Leaf]:
    """``name=value`` pairs separated by ``;``; values are kept as written (any URL-encoding
    inside is a nested layer of its own). A name that occurs more than once gets ``ARRAY_<i>``
    steps on every occurrence, as a repeated query key does.

    >>> [(".".join(s.label for s in c.steps), c.value) for c in parse_cookies("a=1; b=2; a=3")]
    [('COOKIE_a.ARRAY_0', '1'), ('COOKIE_b', '2'), ('COOKIE_a.ARRAY_1', '3')]
    """
    found: list[tuple[str, int, str]] = []  # name, value start, value
    pos = 0
    for chunk in text.split(";"):
        name, eq, rest = chunk.partition("=")
        stripped = name.strip()
        if eq and stripped:
            value = rest.strip(" \t")
            start = pos + len(name) + 1 + len(rest) - len(rest.lstrip(" \t"))
            found.append((stripped, start, value))
        pos += len(chunk) + 1
    counts = Counter(name for name, _, _ in found)
    seen: Counter[str] = Counter()
    leaves: list[Leaf] = []
    for name, start, value in found:
        steps: tuple[Step, ...] = (Step("COOKIE", name),)
        if counts[name] > 1:
            steps += (Step("ARRAY", str(seen[name])),)
            seen[name] += 1
        leaves.append(Leaf(steps, (start, start + len(value)), value, encode_cookie_value))
    return leaves
