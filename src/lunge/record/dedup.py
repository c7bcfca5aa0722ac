"""De-duplication of baselines while recording (FAST's ``skip_duplicated_baselines``, on by default).

Two requests are duplicates when they have the same method, host, port, path, set of parameter
names and body content type: replaying the second with attacks would test exactly the points the
first one already covers. Parameter names are those of the query string and the body's top level
(form fields, JSON object keys, multipart field names); values never count.

>>> from lunge.http import Request
>>> seen = Deduplicator()
>>> seen.admit(Request.from_url("http://t.test/items?id=1&sort=asc"))
True
>>> seen.admit(Request.from_url("http://t.test/items?sort=desc&id=2"))
False
>>> seen.admit(Request.from_url("http://t.test/items?id=1&page=2"))
True
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import unquote_plus

from lunge.http import Request

# Bodies larger than this are not parsed for their names: the key then holds the content type only,
# which errs towards keeping more baselines, never fewer.
MAX_PARSED_BODY = 1 << 20
_MULTIPART_NAME = re.compile(rb'content-disposition:[^\r\n]*?\bname="([^"]*)"', re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DedupKey:
    """What makes two requests duplicates of each other."""

    method: str
    host: str
    port: int
    path: str
    names: frozenset[str]
    content_type: str


def dedup_key(request: Request) -> DedupKey:
    """The key of ``request``.

    >>> dedup_key(Request.from_url("http://T.test/a?x=1&y=&x=2")).names == frozenset({"x", "y"})
    True
    """
    names = set(form_names(request.query))
    names.update(body_names(request))
    return DedupKey(request.method.upper(), request.host.lower(), request.port, request.path,
                    frozenset(names), request.content_type)


def form_names(text: str) -> list[str]:
    """The names of an ``a=1&b=2`` text (query string or form body).

    >>> form_names("a=1&b&=3&c=%20")
    ['a', 'b', 'c']
    """
    names = []
    for pair in text.split("&"):
        name = pair.partition("=")[0]
        if name:
            names.append(unquote_plus(name, errors="surrogateescape"))
    return names


def body_names(request: Request) -> list[str]:
    """The top-level names in the body: form fields, JSON object keys or multipart field names."""
    body = request.body
    if not body or len(body) > MAX_PARSED_BODY:
        return []
    media = request.content_type
    if media == "application/x-www-form-urlencoded":
        return form_names(body.decode("latin-1"))
    if media.startswith("multipart/"):
        return [m.decode("latin-1") for m in _MULTIPART_NAME.findall(body)]
    if media == "application/json" or media.endswith("+json") or body.lstrip()[:1] == b"{":
        return _json_keys(body)
    return []


def _json_keys(body: bytes) -> list[str]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return []
    return [str(key) for key in document] if isinstance(document, dict) else []


class Deduplicator:
    """Remembers the keys seen in one recording.

    Memory grows with the number of *distinct* keys (endpoints × parameter sets), not with traffic.
    """

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: set[DedupKey] = set()

    def __len__(self) -> int:
        return len(self._seen)

    def admit(self, request: Request) -> bool:
        """True the first time a key is seen (and remember it); False for a duplicate."""
        key = dedup_key(request)
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def forget(self, request: Request) -> None:
        """Undo :meth:`admit` for a request that could not be stored, so its next copy is kept."""
        self._seen.discard(dedup_key(request))
