"""The HTTP layer: byte-faithful requests and responses, and their insertion points.

Owns: :class:`Request`, :class:`Response`, :class:`Headers` (parsing from and serialising to raw
HTTP/1.1, building from a URL, reading content-encoded bodies) and :mod:`lunge.http.points`
(turning a request into its points and rebuilding it with values replaced).

May import: nothing of lunge except :mod:`lunge.errors`. Everything here is pure (no I/O).
"""

from __future__ import annotations

from lunge.http.headers import Headers
from lunge.http.message import Request, Response
from lunge.http.points import Point, Points, Step, ValueKind, parse, replace

__all__ = ["Headers", "Point", "Points", "Request", "Response", "Step", "ValueKind", "parse", "replace"]
