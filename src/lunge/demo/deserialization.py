"""Insecure deserialization: a shopping cart kept in a cookie as a base64 pickle.

``GET /cart`` loads the ``cart`` cookie with ``pickle.loads`` (whatever the pickle calls runs); the
twin ``/safe/cart`` reads the same cookie with an unpickler that refuses every global, so only
plain dicts, lists, strings and numbers load (the pattern the Python documentation recommends,
"Restricting Globals").
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import pickle
from collections.abc import Callable
from typing import Any

from aiohttp import web

from lunge.demo.pages import cookies, escape, message, page
from lunge.demo.state import Handler

Load = Callable[[bytes], Any]


def encode_cart(cart: dict[str, Any]) -> str:
    """The cookie value of ``cart``.

    >>> unsafe_load(base64.b64decode(encode_cart({"items": ["widget"]})))
    {'items': ['widget']}
    """
    return base64.b64encode(pickle.dumps(cart, protocol=5)).decode("ascii")


def unsafe_load(data: bytes) -> Any:
    """The vulnerability: any pickle loads, and its REDUCE calls run."""
    return pickle.loads(data)  # noqa: S301 - deliberately vulnerable


class _NoGlobals(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")


def safe_load(data: bytes) -> Any:
    """Plain data only: every global (class or function) is refused."""
    return _NoGlobals(io.BytesIO(data)).load()


def cart(load: Load) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        raw = cookies(request).get("cart", "")
        try:
            data = base64.b64decode(raw, validate=True)
            value = await asyncio.get_running_loop().run_in_executor(None, load, data)
        except (binascii.Error, ValueError, pickle.UnpicklingError, EOFError, TypeError, AttributeError,
                ImportError, IndexError, OSError):
            return message("Cart", "Your cart could not be read.", 400)
        items = value.get("items") if isinstance(value, dict) else None
        if not isinstance(items, list):
            return message("Cart", "Your cart could not be read.", 400)
        listed = "".join(f"<li>{escape(i)}</li>" for i in items)
        return page("Cart", f"<ul class=\"cart\">{listed}</ul>")

    return handler


def routes() -> list[web.RouteDef]:
    """The deserialization endpoint and its twin."""
    return [
        web.get("/cart", cart(unsafe_load)),
        web.get("/safe/cart", cart(safe_load)),
    ]
