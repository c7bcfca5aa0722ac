"""Server-side template injection and code injection, each with its safe twin, and two traps.

- ``GET /greeting?name=`` builds a Jinja2 template *from* the name (sandboxed, so the worst a payload
  does is compute); the twin passes the name to a fixed template as data.
- ``POST /cards`` (form ``message``) keeps the message in a signed cookie and redirects (303) to
  ``/cards/preview``, which renders it as template source: a second-order injection. The twin renders
  it as data. The cookie's HMAC makes the preview refuse any message the form did not sign.
- ``POST /api/discount`` (JSON ``rule``, ``price``) evaluates the rule with Python's ``eval`` and
  shows the total; the twin evaluates numbers, ``price`` and ``+ - * /`` over the parsed AST only.
- ``POST /hooks/alert`` (form ``condition``) evaluates the condition with ``eval`` and answers the same
  whatever happens (blind: only time tells); the twin accepts ``stock <op> <number>`` only.
- Traps: ``GET /help/templates?example=`` shows template syntax literally (escaped); ``GET
  /reports/summary?formula=`` is slow at random and evaluates nothing.

Every ``eval`` runs in a worker thread with a tiny set of builtins (``str``, ``round`` and an
``__import__`` that only knows ``time``), so a sleeping payload never blocks the shop's event loop.
Names and messages lose ``<`` and ``>`` before they become template source, so these endpoints are
template injections and nothing else (no cross-site scripting to report).
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import hashlib
import hmac
import operator
import random
import re
import secrets
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import jinja2
import jinja2.sandbox
from aiohttp import web

from lunge.demo.pages import choice, cookies, escape, json_response, message, page
from lunge.demo.state import Handler

Render = Callable[[str], str]
Evaluate = Callable[[str, float], Any]

ENVIRONMENT = jinja2.sandbox.SandboxedEnvironment(autoescape=True)
EVAL_TIMEOUT = 12.0
SLOW_SHARE = 1 / 3  # of the report's answers that are slow (every slow one costs the run's quiet lane)
_CARD_KEY = secrets.token_bytes(32)  # per process: a card cookie is only good for this shop's run
_CONDITION = re.compile(r"\s*stock\s*(<|<=|>|>=|==)\s*(\d{1,6})\s*")
_OPERATORS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
}


def untagged(text: str) -> str:
    """``<`` and ``>`` written as entities: template syntax survives, markup does not.

    >>> untagged("<b>{{ 7*7 }}</b>")
    '&lt;b&gt;{{ 7*7 }}&lt;/b&gt;'
    """
    return text.replace("<", "&lt;").replace(">", "&gt;")


def as_source(text: str) -> str:
    """The vulnerability: the text becomes part of the template's source."""
    return ENVIRONMENT.from_string(f"<p>{untagged(text)}</p>").render()


def as_data(text: str) -> str:
    """The twin: a fixed template, the text passed as a variable (escaped on output)."""
    return ENVIRONMENT.from_string("<p>{{ text }}</p>").render(text=text)


def greeting(render: Render) -> Handler:
    """``GET /greeting?name=&style=``: a greeting page (``style`` is one of a fixed list)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        name = request.query.get("name", "")
        if not name or choice(request, "style", ("plain", "fancy")) is None:
            return message("Greeting", "Pass a name and a known style.", 400)
        try:
            body = render(f"Hello {name}, welcome to the shop!")
        except jinja2.TemplateError:
            return message("Greeting", "The greeting could not be rendered.", 500)
        return page("Greeting", body)

    return handler


# ---------------------------------------------------------------------------- second order
def sign(text: str) -> str:
    """``hex(text).hmac``: the card cookie (hex: nothing a cookie would need to quote)."""
    data = text.encode().hex()
    return f"{data}.{hmac.new(_CARD_KEY, data.encode(), hashlib.sha256).hexdigest()}"


def verified(cookie: str) -> str | None:
    """The text of a card cookie this process signed, else None.

    >>> verified(sign("hi")), verified(sign("hi")[:-1] + "0"), verified(sign("hi") + "\u560a")
    ('hi', None, None)
    """
    data, _, mac = cookie.rpartition(".")
    expected = hmac.new(_CARD_KEY, data.encode(), hashlib.sha256).hexdigest()
    # compared as bytes: a tampered cookie may hold any character (compare_digest refuses non-ASCII str)
    if not data or not hmac.compare_digest(mac.encode(), expected.encode()):
        return None
    try:
        return bytes.fromhex(data).decode("utf-8", "replace")
    except ValueError:
        return None


def card_cookie(prefix: str) -> str:
    """The cookie a card flow keeps its card in (the twin has its own)."""
    return "safe_card" if prefix else "card"


def post_card(prefix: str) -> Handler:
    """``POST /cards`` (form ``message``): keep the card, show it on the preview page."""

    async def handler(request: web.Request) -> web.StreamResponse:
        text = (await request.post()).get("message")
        if not isinstance(text, str) or not text or len(text) > 2000:
            return message("Cards", "Write a message (up to 2000 characters).", 400)
        response = web.Response(status=303, text="See the preview.", headers={"Location": f"{prefix}/cards/preview"})
        response.set_cookie(card_cookie(prefix), sign(text), path="/", httponly=True)
        return response

    return handler


def preview_card(prefix: str, render: Render) -> Handler:
    """``GET /cards/preview``: the card kept by the last ``POST /cards``."""

    async def handler(request: web.Request) -> web.StreamResponse:
        text = verified(cookies(request).get(card_cookie(prefix), ""))
        if text is None:
            return message("Card preview", "There is no card to preview.", 400)
        try:
            return page("Card preview", render(text))
        except jinja2.TemplateError:
            return message("Card preview", "The card could not be rendered.", 500)

    return handler


# ---------------------------------------------------------------------------- code injection
def _import_time(name: str, *args: object, **kwargs: object) -> ModuleType:
    if name != "time":
        raise ImportError(name)
    return time


def python_eval(code: str, price: float) -> Any:
    """The vulnerability: the rule is Python, evaluated."""
    builtins = {"str": str, "round": round, "__import__": _import_time}
    return eval(code, {"__builtins__": builtins}, {"price": price, "stock": price})  # noqa: S307 - on purpose


def arithmetic(code: str, price: float) -> Any:
    """The twin: numbers, ``price``/``stock`` and ``+ - * /`` over the parsed expression only."""
    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return node.value
        if isinstance(node, ast.Name) and node.id in ("price", "stock"):
            return price
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](walk(node.left), walk(node.right))
        raise ValueError("not arithmetic")
    return walk(ast.parse(code, mode="eval").body)


async def evaluate(evaluate: Evaluate, code: str, price: float) -> Any:
    """``evaluate(code, price)`` in a worker thread; raises ValueError for anything that fails."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(evaluate, code, price), EVAL_TIMEOUT)
    except Exception as exc:  # whatever the evaluated code raised is the request's fault: a 400
        raise ValueError(str(exc)) from exc


def discount(evaluator: Evaluate) -> Handler:
    """``POST /api/discount`` (JSON ``{"rule": "price * 0.9", "price": 20}``): the discounted total."""

    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            data = await request.json()
            rule, price = str(data["rule"]), float(data["price"])
            total = await evaluate(evaluator, rule, price)
        except (ValueError, KeyError, TypeError):
            return json_response({"error": "invalid rule"}, 400)
        return json_response({"total": str(total)})

    return handler


def condition_check(code: str, stock: float) -> Any:
    """The twin of ``POST /hooks/alert``: ``stock <op> <number>`` only, compared without eval."""
    match = _CONDITION.fullmatch(code)
    if not match:
        raise ValueError("unsupported condition")
    compare = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq}
    return compare[match[1]](stock, float(match[2]))


def alert_hook(evaluator: Evaluate) -> Handler:
    """``POST /hooks/alert`` (form ``condition``): tests the condition now, answers the same always."""

    async def handler(request: web.Request) -> web.StreamResponse:
        condition = (await request.post()).get("condition")
        if isinstance(condition, str) and condition:
            with contextlib.suppress(ValueError):  # a bad condition is dropped; the answer does not say so
                await evaluate(evaluator, condition, 3.0)
        return page("Stock alert", "<p class=\"message\">Your alert is saved.</p>")

    return handler


# ---------------------------------------------------------------------------- traps
async def template_help(request: web.Request) -> web.StreamResponse:
    """``GET /help/templates?example=``: shows an example of template syntax, literally."""
    example = request.query.get("example", "{{ customer.name }}")
    return page("Template help", f"<p>In a template, write <code>{escape(example)}</code> to insert a value.</p>")


async def report_summary(request: web.Request) -> web.StreamResponse:
    """``GET /reports/summary?formula=``: a report that is slow at random (one request in three
    takes 0.4 to 1.4 s more, whatever it asks); the formula is one of a fixed list, never evaluated.
    Time-based checks must see through it: a delay that does not follow the requested seconds."""
    if random.random() < SLOW_SHARE:
        await asyncio.sleep(0.4 + random.random())
    formula = request.query.get("formula", "total")
    if formula not in ("total", "average", "median"):
        return message("Report", "Unknown formula.", 400)
    return page("Report", f"<p>The {escape(formula)} of this month's orders is 1,234.</p>")


def routes() -> list[web.RouteDef]:
    """The template and code injection endpoints, their twins and the traps."""
    return [
        web.get("/greeting", greeting(as_source)),
        web.get("/safe/greeting", greeting(as_data)),
        web.post("/cards", post_card("")),
        web.get("/cards/preview", preview_card("", as_source)),
        web.post("/safe/cards", post_card("/safe")),
        web.get("/safe/cards/preview", preview_card("/safe", as_data)),
        web.post("/api/discount", discount(python_eval)),
        web.post("/safe/api/discount", discount(arithmetic)),
        web.post("/hooks/alert", alert_hook(python_eval)),
        web.post("/safe/hooks/alert", alert_hook(condition_check)),
        web.get("/help/templates", template_help),
        web.get("/reports/summary", report_summary),
    ]
