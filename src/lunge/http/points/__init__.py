"""Insertion points: every value inside a request, addressable by a stable name, replaceable.

>>> from lunge.http import Request
>>> req = Request.from_url("http://t.test/api/user?id=5", "POST",
...                        headers=[("Content-Type", "application/json")], body=b'{"user": {"name": "ann"}}')
>>> pts = parse(req)
>>> pts.get("POST_JSON_DOC_HASH_user_HASH_name_value").value
'ann'
>>> pts.replace("POST_JSON_DOC_HASH_user_HASH_name_value", "a\\"b").body
b'{"user": {"name": "a\\\\"b"}}'

Names follow FAST's point grammar (``docs/points.md``). One parser module per format, each a pure
function from text to :class:`Leaf` values; :mod:`~lunge.http.points.tree` strings them together.
"""

from __future__ import annotations

from lunge.http.points.model import Leaf, Point, Role, Step, ValueKind, point_name
from lunge.http.points.tree import Points, parse, replace

__all__ = ["Leaf", "Point", "Points", "Role", "Step", "ValueKind", "parse", "point_name", "replace"]
