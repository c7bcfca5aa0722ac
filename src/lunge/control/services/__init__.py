"""What the routers call: every function takes the project it acts for and never reaches another
project's rows (an id of another project is :class:`~lunge.errors.NotFoundError`, as an unknown
id is, so a token cannot even learn that the id exists)."""

from __future__ import annotations

from lunge.errors import LungeError


class ConflictError(LungeError):
    """The request is valid but the resource is not in a state that allows it (HTTP 409)."""
