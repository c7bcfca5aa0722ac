"""Which layer, if any, is inside a value: the first detector that decodes it cleanly wins.

Order matters: structured formats first (a JSON text is also valid for nothing else), then the
encodings, JWT before base64 (a JWT is three base64url parts joined by dots).

Most values are plain words, and every value of a request goes through here, so each detector is
guarded by the cheapest test that its input must pass (a character it needs, a minimum length).
"""

from __future__ import annotations

from collections.abc import Callable

from lunge.http.points import encoded, graphql, jsondoc, xmldoc
from lunge.http.points.model import Leaf, Parser

Guard = Callable[[str], bool]

DETECTORS: tuple[tuple[Guard, Parser], ...] = (
    (lambda v: "{" in v or "[" in v, jsondoc.parse),
    (lambda v: "<" in v, xmldoc.parse),
    (lambda v: "." in v, encoded.jwt_layer),
    (lambda v: "{" in v, graphql.parse),
    (lambda v: "%" in v, encoded.url_layer),
    (lambda v: len(v) >= encoded.MIN_BASE64 and (" " not in v or encoded.has_scheme(v)), encoded.base64_layer),
    (lambda v: v.startswith(encoded.GZIP_MAGIC), encoded.gzip_layer),
)


def decode(value: str) -> list[Leaf] | None:
    """The leaves inside ``value`` under the first layer that recognises it, or None.

    >>> [(leaf.steps[0].parser, leaf.value) for leaf in decode("eyJhIjogMX0=")]
    [('BASE64', '{"a": 1}')]
    >>> decode("plain words") is None
    True
    """
    if len(value) < 2:
        return None
    for guard, detect in DETECTORS:
        if guard(value):
            leaves = detect(value)
            if leaves:
                return leaves
    return None
