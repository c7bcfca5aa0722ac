"""XML external entities: an order import (XML body) and a stock API that takes JSON or XML.

- ``POST /api/orders/import`` parses the XML body with entities resolved, local files and URLs
  loaded (through an entity resolver that fetches http URLs), and echoes the item; the twin
  ``/safe/api/orders/import`` parses with entities, DTD loading and network off, and still echoes the
  document's prolog (its DOCTYPE included): a trap for checks that read the echo as an expansion.
- ``POST /api/stock`` with a JSON body ``{"sku": ...}`` answers the stock of the SKU; sent as XML
  (``Content-Type: application/xml``, ``<root><sku>...</sku></root>``) it is parsed like the order
  import. The twin accepts XML too, with the safe parser.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web
from lxml import etree

from lunge.demo.fetcher import FetchError, Resolver, fetch, resolver_of
from lunge.demo.pages import escape, json_response, message, page
from lunge.demo.state import Handler

MAX_XML = 65_536
Parse = Callable[[bytes, Resolver], Any]
STOCK = {"W-100": 12, "G-200": 0, "P-300": 4}


class _UrlResolver(etree.Resolver):  # type: ignore[misc]
    """Loads http:// entities and DTDs for the parser (the vulnerable configuration)."""

    def __init__(self, resolver: Resolver) -> None:
        super().__init__()
        self._resolver = resolver

    def resolve(self, url: str, pubid: str | None, context: Any) -> Any:
        if not url.startswith("http://"):
            return None  # file:// and the rest: libxml2 itself
        try:
            return self.resolve_string(fetch(url, self._resolver, files=False), context)
        except FetchError:
            return self.resolve_string(b"", context)


def unsafe_parse(data: bytes, resolver: Resolver) -> Any:
    """The vulnerability: external entities resolved, files and URLs loaded."""
    parser = etree.XMLParser(resolve_entities=True, load_dtd=True, no_network=False, huge_tree=False)
    parser.resolvers.add(_UrlResolver(resolver))
    return etree.fromstring(data, parser)


def safe_parse(data: bytes, resolver: Resolver) -> Any:
    """Entities left unresolved, no DTD loaded, no network."""
    parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False)
    return etree.fromstring(data, parser)


def prolog(data: bytes) -> str:
    """The document up to its root element (XML declaration, DOCTYPE), as the twin echoes it."""
    text = data.decode("utf-8", "replace")
    start = text.find("<", text.rfind("]>") + 1 if "]>" in text else text.find(">") + 1)
    return text[:start].strip() if "<!DOCTYPE" in text else ""


def import_order(parse: Parse, echo_prolog: bool) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        data = await request.read()
        if len(data) > MAX_XML:
            return message("Import", "The document is too large.", 413)
        loop = asyncio.get_running_loop()
        try:
            root = await loop.run_in_executor(None, parse, data, resolver_of(request))
        except (etree.XMLSyntaxError, ValueError):
            return message("Import", "The document is not valid XML.", 400)
        item = root.findtext("item") or ""
        quantity = (root.findtext("quantity") or "0").strip()
        if not quantity.isdigit():
            return message("Import", "The quantity must be a whole number.", 400)
        body = f"<p>Imported {escape(quantity)} x {escape(item)}</p>"
        if echo_prolog and prolog(data):
            body += f"<p>Document type declaration received:</p><pre>{escape(prolog(data))}</pre>"
        return page("Import", body)

    return handler


def stock(parse: Parse) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        data = await request.read()
        if len(data) > MAX_XML:
            return json_response({"error": "too large"}, 413)
        sku = await _sku(request, data, parse)
        if sku is None:
            return json_response({"error": "send {\"sku\": ...} as JSON or <root><sku>...</sku></root>"}, 400)
        return json_response({"sku": sku, "in_stock": STOCK.get(sku, 0)})

    return handler


async def _sku(request: web.Request, data: bytes, parse: Parse) -> str | None:
    if "xml" in request.content_type:
        try:
            root = await asyncio.get_running_loop().run_in_executor(None, parse, data, resolver_of(request))
        except (etree.XMLSyntaxError, ValueError):
            return None
        return root.findtext("sku")  # type: ignore[no-any-return]
    try:
        value = json.loads(data).get("sku")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def routes() -> list[web.RouteDef]:
    """The XXE endpoints and their twins."""
    return [
        web.post("/api/orders/import", import_order(unsafe_parse, echo_prolog=False)),
        web.post("/safe/api/orders/import", import_order(safe_parse, echo_prolog=True)),
        web.post("/api/stock", stock(unsafe_parse)),
        web.post("/safe/api/stock", stock(safe_parse)),
    ]
