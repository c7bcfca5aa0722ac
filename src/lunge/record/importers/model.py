"""What an importer yields: requests to store as baselines, and the parts of a file it skipped.

Every reader has the same shape (:class:`Reader`): pure, from the file's text to an iterator of
:class:`Imported` and :class:`Skipped` items, raising :class:`~lunge.errors.InputFileError` (file,
place, problem) for a file it cannot use.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from lunge.http import Request, Response


@dataclass(frozen=True, slots=True)
class Imported:
    """One request to store as a baseline, with the response recorded with it (HAR only).

    ``note`` says what the importer had to invent or leave out (a placeholder credential, a file
    that is not available, an unresolved variable); ``where`` is its place in the file.
    """

    request: Request
    response: Response | None = None
    note: str = ""
    where: str = ""


@dataclass(frozen=True, slots=True)
class Skipped:
    """A part of the file that holds no request lunge can test (a WebSocket entry, an operation
    whose method HTTP cannot send ...), and why."""

    where: str
    reason: str


Item = Imported | Skipped


class Reader(Protocol):
    """``read_<format>(text, source, *, base_url, variables)``: the items of one file.

    ``source`` names the file in error messages; ``base_url`` rewrites where the requests go;
    ``variables`` are ``--var name=value`` overrides (Postman variables, OpenAPI server variables
    and credentials; other formats ignore them). Raises InputFileError for a file it cannot use.

    Example::

        for item in read_har(Path("session.har").read_text(), "session.har", base_url=None):
            if isinstance(item, Imported):
                print(item.request.method, item.request.url)
    """

    def __call__(self, text: str, source: str, *, base_url: str | None = None,
                 variables: Mapping[str, str] | None = None) -> Iterator[Item]: ...
