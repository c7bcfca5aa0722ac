"""What every handler of the demo shop reaches through ``request.app[DEMO]``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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
    """

    db: Database
    docs: Path
    scratch: Path


DEMO = web.AppKey("demo", Demo)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def demo(request: web.Request) -> Demo:
    """The resources of the application ``request`` belongs to."""
    return request.app[DEMO]
