"""One URL, many operations: a small GraphQL endpoint, with a safe twin.

``POST /graphql`` takes ``{query, operationName, variables}`` like any GraphQL server. Three
operations share the path and the top-level keys, so a recorder that de-duplicates by path and
parameter names keeps the first (``Shop``) and drops the vulnerable one (``Product``):

| operation | argument | how it shows |
| --- | --- | --- |
| ``query Shop { shop { name } }`` | none | constant |
| ``query Product { product(name: "Widget") { name price } }`` | inline literal | SQLite error in ``errors`` (200) |
| ``query Orders($customer: String) { orders(customer: $customer) { total } }`` | variable | parametrised in both |

The twin under ``/safe/graphql`` binds the inline literal as a parameter. (A regular expression
stands in for a GraphQL parser: the demo imports nothing but aiohttp, and its operations are fixed.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from lunge.demo.db import DB_ERRORS, Database, Row
from lunge.demo.pages import describe_error, json_response
from lunge.demo.state import Handler, demo

Lookup = Callable[[Database, str], Awaitable[list[Row]]]
_PRODUCT_ARG = re.compile(r'product\(\s*name\s*:\s*("(?:[^"\\]|\\.)*")\s*\)')
_PRODUCT = "SELECT name, price FROM products WHERE name = ?"
_ORDERS = ("SELECT total FROM orders JOIN customers ON customers.id = orders.customer_id "
           "WHERE customers.name = ? ORDER BY orders.id")


async def _product_unsafe(db: Database, name: str) -> list[Row]:
    return await db.fetch(_PRODUCT.replace("?", f"'{name}'"))


async def _product_safe(db: Database, name: str) -> list[Row]:
    return await db.fetch(_PRODUCT, (name,))


def endpoint(product: Lookup) -> Handler:
    """``POST /graphql``: runs the operation the body names."""

    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            return json_response({"errors": [{"message": "the body is not JSON"}]}, 400)
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return json_response({"errors": [{"message": "pass a query"}]}, 400)
        given = body.get("variables")
        variables: dict[str, Any] = given if isinstance(given, dict) else {}
        try:
            data = await _run(demo(request).db, product, body.get("operationName"), body["query"], variables)
        except DB_ERRORS as exc:
            return json_response({"data": None, "errors": [{"message": describe_error(exc)}]})
        except (LookupError, ValueError):  # an unknown operation, or a literal that is not a string
            return json_response({"errors": [{"message": "unknown operation or bad argument"}]}, 400)
        return json_response({"data": data})

    return handler


async def _run(db: Database, product: Lookup, name: object, query: str, variables: dict[str, Any]) -> Any:
    if name == "Shop":
        return {"shop": {"name": "lunge demo shop"}}
    if name == "Product":
        match = _PRODUCT_ARG.search(query)
        if match is None:
            raise LookupError(name)
        rows = await product(db, str(json.loads(match.group(1))))
        return {"product": {"name": rows[0][0], "price": rows[0][1]} if rows else None}
    if name == "Orders":
        customer = variables.get("customer")
        rows = await db.fetch(_ORDERS, (str(customer),))
        return {"orders": [{"total": row[0]} for row in rows]}
    raise LookupError(name)


def routes() -> list[web.RouteDef]:
    return [web.post("/graphql", endpoint(_product_unsafe)), web.post("/safe/graphql", endpoint(_product_safe))]
