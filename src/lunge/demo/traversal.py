"""Path traversal: documents served from a directory, by query parameter and by path segment.

``GET /download?file=report.txt`` and ``GET /docs/report.txt/raw`` join the name to the documents
directory as given, so ``../../../../etc/passwd`` (or ``/etc/passwd``) leaves it. The twins under
``/safe`` resolve the path and serve it only if it is a file inside the directory. Neither ever
shows the requested name: a missing document is a fixed 404 page.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from lunge.demo.pages import choice, message
from lunge.demo.state import Handler, demo

Locate = Callable[[Path, str], Path]
NameOf = Callable[[web.Request], str]

MAX_DOCUMENT = 65_536
DISPOSITIONS = ("inline", "attachment")
DOCUMENTS = {
    "report.txt": "Quarterly report\n================\nRevenue grew 12% on widget sales.\n",
    "readme.txt": "Documents of the lunge demo shop. Ask support for anything missing.\n",
    "price-list.txt": "Widget 9.99\nGadget 24.50\nWidget Pro 49.00\nDoohickey 3.25\n",
}


def write_documents(directory: Path) -> None:
    """Create the documents directory with its files."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in DOCUMENTS.items():
        (directory / name).write_text(text, encoding="utf-8")


def unsafe_path(docs: Path, name: str) -> Path:
    """The vulnerability: the name is joined as given (``..`` and absolute paths included)."""
    return Path(os.path.join(docs, name))


def safe_path(docs: Path, name: str) -> Path:
    """The name resolved, and refused unless it is a file inside ``docs``."""
    root = docs.resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise FileNotFoundError(name)
    return path


def read_document(path: Path) -> bytes:
    """At most :data:`MAX_DOCUMENT` bytes of ``path``. Non-blocking open: a FIFO or a terminal
    fails instead of hanging a worker."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as file:
        return file.read(MAX_DOCUMENT)


def document(locate: Locate, name_of: NameOf) -> Handler:
    """Serve one document as text (``?disposition=inline|attachment`` picks how)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        disposition = choice(request, "disposition", DISPOSITIONS)
        name = name_of(request)
        if disposition is None or not name:
            return message("Documents", "Pass a document name and a known disposition.", 400)
        state = demo(request)
        try:
            path = locate(state.docs, name)
            data = await asyncio.get_running_loop().run_in_executor(state.db.pool, read_document, path)
        except (OSError, ValueError):  # missing, a directory, not allowed, a NUL byte in the name
            return message("Documents", "No such document.", 404)
        return web.Response(body=data, content_type="text/plain", charset="utf-8",
                            headers={"Content-Disposition": f'{disposition}; filename="document.txt"'})

    return handler


def _query_name(request: web.Request) -> str:
    return request.query.get("file", "")


def _segment_name(request: web.Request) -> str:
    return request.match_info["name"]


def routes() -> list[web.RouteDef]:
    """The path traversal endpoints and their twins."""
    return [
        web.get("/download", document(unsafe_path, _query_name)),
        web.get("/safe/download", document(safe_path, _query_name)),
        web.get("/docs/{name}/raw", document(unsafe_path, _segment_name)),
        web.get("/safe/docs/{name}/raw", document(safe_path, _segment_name)),
    ]
