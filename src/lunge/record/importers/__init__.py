"""Importers: files that describe requests (HAR, OpenAPI, Postman, curl) into baselines.

One module per format, each a pure ``read_<format>(text, source, *, base_url, variables)``
returning an iterator of :class:`Imported` (a request, the recorded response when the file has
one, a note) and :class:`Skipped` (a part of the file that is not an HTTP request, and why).
A malformed file raises :class:`~lunge.errors.InputFileError` naming the file, the place in it
(``log.entries[3].request.url``, ``paths./users/{id}.get.parameters[0]``, ``line 12``) and what
is wrong; nothing else escapes a reader, whatever the input.

May import: :mod:`lunge.http` (storing is the caller's business: :mod:`lunge.node.importing`).

Example::

    from lunge.record.importers import Imported, read

    for item in read("openapi", text, "api.yaml", base_url="http://127.0.0.1:8000"):
        if isinstance(item, Imported):
            print(item.request.method, item.request.url)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lunge import errors
from lunge.record.importers.curl import read_curl
from lunge.record.importers.har import read_har
from lunge.record.importers.model import Imported, Item, Reader, Skipped
from lunge.record.importers.openapi import PLACEHOLDER, read_openapi
from lunge.record.importers.postman import read_postman

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

READERS: dict[str, Reader] = {
    "har": read_har,
    "openapi": read_openapi,
    "postman": read_postman,
    "curl": read_curl,
}
FORMATS = tuple(READERS)


def reader(fmt: str) -> Reader:
    """The reader of a format name (any case). Raises SettingError naming the allowed formats."""
    found = READERS.get(fmt.strip().lower())
    if found is None:
        raise errors.SettingError("FORMAT", fmt, "one of " + ", ".join(FORMATS))
    return found


def read(fmt: str, text: str, source: str, *, base_url: str | None = None,
         variables: Mapping[str, str] | None = None) -> Iterator[Item]:
    """The items of ``text`` read as format ``fmt`` (see :data:`READERS`)."""
    return reader(fmt)(text, source, base_url=base_url, variables=variables)


__all__ = [
    "FORMATS",
    "PLACEHOLDER",
    "READERS",
    "Imported",
    "Item",
    "Reader",
    "Skipped",
    "read",
    "read_curl",
    "read_har",
    "read_openapi",
    "read_postman",
    "reader",
]
