"""SQL injection whose only sign is a bare 500, and the trap it must not be confused with.

| endpoint | value | how it shows |
| --- | --- | --- |
| ``POST /reviews`` | ``text``, an INSERT column value | 303 when stored, a bare 500 when the statement fails |
| ``GET /stock?item=1&warehouse=main`` | query, numeric | a trap: ``int()`` of any non-digit crashes (500) |

The review's twin under ``/safe`` binds the value; the stock page has no vulnerable sibling: its
lookup is parametrised, and its 500 comes from any non-digit input, never from SQL.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from lunge.demo.db import DB_ERRORS, Database
from lunge.demo.pages import escape, message, page
from lunge.demo.state import Handler, demo

Store = Callable[[Database, str], Awaitable[None]]

WAREHOUSES = ("main", "north")
BOARD = "reviews"  # a board no page shows: a stored review is never rendered back
_PRODUCT = re.compile(r"[0-9]{1,9}")


async def _store_unsafe(db: Database, text: str) -> None:
    await db.execute(f"INSERT INTO comments (board, text) VALUES ('{BOARD}', '{text}')")


async def _store_safe(db: Database, text: str) -> None:
    await db.execute("INSERT INTO comments (board, text) VALUES (?, ?)", (BOARD, text))


def bare_error() -> web.Response:
    """What a production server shows for an unhandled exception: nothing about it."""
    return web.Response(status=500, text="500 Internal Server Error\n\nServer got itself in trouble",
                        content_type="text/plain")


def reviews(store: Store) -> Handler:
    """``POST /reviews`` (form ``product``, ``text``): store a review, then redirect (303)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        product, text = form.get("product"), form.get("text")
        if not isinstance(product, str) or not _PRODUCT.fullmatch(product) or not isinstance(text, str) or not text:
            return message("Reviews", "Pass a product id and the text of your review.", 400)
        try:
            await store(demo(request).db, text)
        except DB_ERRORS:
            return bare_error()
        return web.Response(status=303, headers={"Location": f"/products?id={product}&view=full"})

    return handler


async def stock(request: web.Request) -> web.StreamResponse:
    """``GET /stock?item=<n>``: whether a product is in stock. ``int()`` is not guarded: any
    non-digit input is an unhandled ValueError, a bare 500 (the trap)."""
    if request.query.get("warehouse", "main") not in WAREHOUSES:
        return message("Stock", "Pass a known warehouse.", 400)
    try:
        item = int(request.query.get("item", ""))
    except ValueError:
        return bare_error()
    rows = await demo(request).db.fetch("SELECT name FROM products WHERE id = ?", (item,))
    if not rows:
        return message("Stock", "No such product.", 404)
    return page("Stock", f"<p class=\"stock\">{escape(rows[0][0])}: in stock.</p>")


def routes() -> list[web.RouteDef]:
    """The bare-500 endpoints."""
    return [
        web.post("/reviews", reviews(_store_unsafe)),
        web.post("/safe/reviews", reviews(_store_safe)),
        web.get("/stock", stock),
    ]
