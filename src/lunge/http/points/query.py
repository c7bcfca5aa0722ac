"""``a=1&b=2`` texts: URL query strings (``GET``) and form-urlencoded bodies (``FORM_URLENCODED``).

Repeated keys and PHP/Rails-style brackets become ARRAY and HASH steps:

>>> [(".".join(s.label for s in leaf.steps), leaf.value) for leaf in parse("id=1&t[]=a&t[]=b&u[n]=x+y", "GET")]
[('GET_id', '1'), ('GET_t.ARRAY_0', 'a'), ('GET_t.ARRAY_1', 'b'), ('GET_u.HASH_n', 'x y')]
"""

from __future__ import annotations

import re
from collections import Counter
from urllib.parse import quote, unquote_plus

from lunge.http.points.model import Leaf, Step

# Characters left as they are when a new value is encoded: the unreserved set plus the sub-delims
# that carry no meaning inside a query value. '&', '=', '+', '#', '%' and ';' are always escaped.
_SAFE = "-._~!$'()*,/:@"
_BRACKETS = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])+)\Z")


def encode_value(value: str) -> str:
    """Percent-encode a value for a query string or form body.

    >>> encode_value("1' OR 'a'='a")
    "1'%20OR%20'a'%3D'a"
    """
    return quote(value, safe=_SAFE, errors="surrogateescape")


def decode_value(text: str) -> str:
    return unquote_plus(text, errors="surrogateescape")


def _key_steps(parser: str, key: str, counters: Counter[str], repeated: set[str]) -> tuple[Step, ...]:
    match = _BRACKETS.match(key)
    if not match:
        if key in repeated:
            # counted with "key[]", so "a=1&a=2&a[]=3" numbers its items 0, 1, 2
            index = counters[key + "[]"]
            counters[key + "[]"] += 1
            return (Step(parser, key), Step("ARRAY", str(index)))
        return (Step(parser, key),)
    base, brackets = match.groups()
    steps = [Step(parser, base)]
    parts = brackets[1:-1].split("][")
    for depth, part in enumerate(parts):
        if part == "":
            prefix = base + "[" + "][".join(parts[:depth]) + "]"
            index = counters[prefix]
            counters[prefix] += 1
            steps.append(Step("ARRAY", str(index)))
        else:
            steps.append(Step("HASH", part))
    return tuple(steps)


def _empty_value_encoder(value: str) -> str:
    # A bare key ("?flag") has no '=': adding a value must add it.
    return "=" + encode_value(value) if value else ""


def parse(text: str, parser: str) -> list[Leaf]:
    """The values of an ``&``-separated ``key=value`` text; spans cover the encoded values."""
    pairs: list[tuple[str, int, int, bool]] = []  # (decoded key, value start, value end, has '=')
    pos = 0
    for chunk in text.split("&"):
        end = pos + len(chunk)
        if chunk:
            key, eq, _ = chunk.partition("=")
            start = pos + len(key) + (1 if eq else 0)
            pairs.append((decode_value(key), start, end, bool(eq)))
        pos = end + 1
    names = Counter(key for key, *_ in pairs)
    repeated = {key for key, count in names.items() if count > 1 and not _BRACKETS.match(key)}
    counters: Counter[str] = Counter()
    leaves = []
    for key, start, end, has_eq in pairs:
        steps = _key_steps(parser, key, counters, repeated)
        encode = encode_value if has_eq else _empty_value_encoder
        leaves.append(Leaf(steps, (start, end), decode_value(text[start:end]), encode))
    return leaves
