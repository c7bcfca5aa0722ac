"""The request target: ``URI`` (all of it), ``PATH_<i>`` segments, ``ACTION_NAME`` and
``ACTION_EXT`` (the last segment split at its first dot) and the ``GET`` query parameters.

>>> [(".".join(s.label for s in leaf.steps), leaf.value) for leaf in parse_target("/api/v1/user.json?id=5")]
[('URI', '/api/v1/user.json?id=5'), ('PATH_0', 'api'), ('PATH_1', 'v1'), ('ACTION_NAME', 'user'), \
('ACTION_EXT', 'json'), ('GET_id', '5')]
"""

from __future__ import annotations

from urllib.parse import quote, unquote

from lunge.http.points import query
from lunge.http.points.model import Leaf, Step

# In a path segment '/', '?', '#' and '%' must be escaped; the rest of the sub-delims may stay.
_SEGMENT_SAFE = "-._~!$&'()*+,;=:@"
_URI_SAFE = "-._~!$&'()*+,;=:@/?%"


def encode_segment(value: str) -> str:
    """A path segment (``PATH_<i>``, ``ACTION_EXT``): everything but unreserved characters and the
    sub-delimiters is percent-encoded, so ``/``, ``?``, ``#`` and ``%`` stay inside the segment.

    >>> encode_segment("../a b?c")
    '..%2Fa%20b%3Fc'
    """
    return quote(value, safe=_SEGMENT_SAFE, errors="surrogateescape")


def encode_action_name(value: str) -> str:
    """``ACTION_NAME``: as a segment, and a dot is escaped too (the name ends at the first dot).

    >>> encode_action_name("a.b")
    'a%2Eb'
    """
    return encode_segment(value).replace(".", "%2E")


def encode_uri(value: str) -> str:
    """``URI``: the new target as the caller wrote it, made transmittable. RFC 3986 delimiters and
    existing ``%`` escapes are kept; what cannot travel in a request line or is not allowed in a
    URI (space, controls, non-ASCII, ``#``, ``"<>[]{}|\\^```) is percent-encoded; a leading ``/``
    is added when missing.

    >>> encode_uri("x/a b?q=<1>")
    '/x/a%20b?q=%3C1%3E'
    """
    encoded = quote(value, safe=_URI_SAFE, errors="surrogateescape")
    return encoded if encoded.startswith("/") else "/" + encoded


def _decode(text: str) -> str:
    return unquote(text, errors="surrogateescape")


def parse_target(target: str) -> list[Leaf]:
    """The points of a request target in origin form."""
    leaves = [Leaf((Step("URI"),), (0, len(target)), target, encode_uri, nested=False)]
    path, question, _ = target.partition("?")
    if path.startswith("/"):
        leaves.extend(_path_leaves(path))
    if question:
        offset = len(path) + 1
        for leaf in query.parse(target[offset:], "GET"):
            start, end = leaf.span
            leaf.span = (start + offset, end + offset)
            leaves.append(leaf)
    return leaves


def _path_leaves(path: str) -> list[Leaf]:
    leaves: list[Leaf] = []
    segments = path[1:].split("/")
    pos = 1
    for i, segment in enumerate(segments):
        start, end = pos, pos + len(segment)
        pos = end + 1
        if i < len(segments) - 1:
            leaves.append(Leaf((Step("PATH", str(i)),), (start, end), _decode(segment), encode_segment))
            continue
        if not segment:
            continue  # "/dir/": no action name to attack
        name, dot, ext = segment.partition(".")
        leaves.append(
            Leaf((Step("ACTION_NAME"),), (start, start + len(name)), _decode(name), encode_action_name)
        )
        if dot:
            ext_start = start + len(name) + 1
            leaves.append(Leaf((Step("ACTION_EXT"),), (ext_start, end), _decode(ext), encode_segment))
    return leaves
