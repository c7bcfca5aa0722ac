"""Reading a point's parameter name: the words of its innermost key, for checks that gate on names
(``next``/``returnUrl`` for redirects, ``file``/``downloadPath`` for traversal, ``host`` for commands).

>>> from lunge.http.points import Point, Step
>>> sorted(key_words(Point("GET_returnUrl_value", (Step("GET", "returnUrl"),), "/")))
['return', 'returnurl', 'url']
"""

from __future__ import annotations

import re
from collections.abc import Collection

from lunge.http.points import Point

_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])")


def key_words(point: Point) -> set[str]:
    """The lower-cased words of the innermost named key of ``point`` (split at punctuation and
    camelCase humps), plus the whole key squashed into one word; empty for unnamed points (a
    path segment, a raw body)."""
    keys = [s.key for s in point.path if s.key is not None and not s.key.isdigit()]
    if not keys:
        return set()
    words = {w.lower() for w in _SPLIT.split(keys[-1]) if w}
    words.add(re.sub(r"[^a-z0-9]", "", keys[-1].lower()))
    words.discard("")
    return words


def named_like(point: Point, vocabulary: Collection[str]) -> bool:
    """Whether any word of the point's key is in ``vocabulary``."""
    return any(word in vocabulary for word in key_words(point))
