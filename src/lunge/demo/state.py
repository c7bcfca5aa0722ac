"""What every handler of the demo shop reaches through ``request.app[DEMO]``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from lunge.demo.db import Database


@dataclass(frozen=True, slots=True)
class Demo:
    """The application's resources.

    - ``db``: the SQLite database.
    - ``docs``: the directory ``/download`` serves documents from.
    - ``scratch``: the working directory of shell commands, so whatever a command injection
      writes lands there and nowhere else.
    - ``failed_sign_ins``: when each recent failed sign-in happened (``time.monotonic()``), by
      client address and username (:func:`lunge.demo.auth.sign_in`).
    - ``lockouts``: consecutive failed vault sign-ins and the end of the current lockout
      (``time.monotonic()``, 0 when none), by client address and username
      (:class:`lunge.demo.auth.Lockout`).
    """

    db: Database
    docs: Path
    scratch: Path
    failed_sign_ins: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    lockouts: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)


DEMO = web.AppKey("demo", Demo)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def demo(request: web.Request) -> Demo:
    """The resources of the application ``request`` belongs to."""
    return request.app[DEMO]
