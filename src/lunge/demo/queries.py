"""Injection into query languages other than SQL, one endpoint each, each with a safe twin.

| endpoint | value | query | how it shows |
| --- | --- | --- | --- |
| ``GET /directory?uid=alice&fields=basic`` | query | LDAP filter (RFC 4515) | filter error (500); found / 404 |
| ``GET /catalog/item?name=Widget&currency=USD`` | query | XPath 1.0 (lxml) | found / 404 only, errors hidden |
| ``GET /report?title=Stock&format=text`` | query | XSLT (lxml, no file access) | the text report |
| ``POST /api/members/lookup`` | JSON ``email`` | MongoDB query (:mod:`~lunge.demo.docstore`) | member / 404 |
| ``GET /api/coupons?code=WELCOME10&currency=EUR`` | query, ``qs`` brackets | MongoDB query | coupon / 404 |

Twins (under ``/safe``): the LDAP value escaped (RFC 4515), the XPath value bound as a variable,
the title passed as a stylesheet parameter, the JSON value required to be a string, the query
read without bracket parsing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from aiohttp import web
from lxml import etree

from lunge.demo import docstore, ldapfilter
from lunge.demo.pages import choice, escape, json_response, message, page
from lunge.demo.state import Handler

PEOPLE = (
    {"objectClass": ["top", "person"], "uid": ["alice"], "cn": ["Alice Liddell"], "mail": ["alice@example.com"]},
    {"objectClass": ["top", "person"], "uid": ["bob"], "cn": ["Bob Builder"], "mail": ["bob@example.com"]},
    {"objectClass": ["top", "person"], "uid": ["carol"], "cn": ["Carol Danvers"], "mail": ["carol@example.com"]},
)
CATALOG = etree.fromstring(
    b"<catalog>"
    b"<item><name>Widget</name><price>9.99</price><stock>12</stock></item>"
    b"<item><name>Gadget</name><price>24.50</price><stock>3</stock></item>"
    b"<item><name>Doohickey</name><price>3.25</price><stock>0</stock></item>"
    b"</catalog>"
)
MEMBERS = (
    {"email": "alice@example.com", "name": "Alice Liddell", "plan": "gold"},
    {"email": "bob@example.com", "name": "Bob Builder", "plan": "free"},
)
COUPONS = (
    {"code": "WELCOME10", "discount": 10, "active": True},
    {"code": "SPRING25", "discount": 25, "active": True},
    {"code": "LEGACY50", "discount": 50, "active": False},
)
# Display options, validated against fixed lists (a trailing parameter no check should flag).
FIELDS = ("basic", "full")
CURRENCIES = ("USD", "EUR")
FORMATS = ("text",)
_NO_ACCESS = etree.XSLTAccessControl.DENY_ALL  # no document(), no file or network access


# ---------------------------------------------------------------------- LDAP
def _filter_unsafe(uid: str) -> str:
    return f"(&(objectClass=person)(uid={uid}))"


def _filter_safe(uid: str) -> str:
    return f"(&(objectClass=person)(uid={ldapfilter.escape(uid)}))"


def directory(build: Callable[[str], str]) -> Handler:
    """``GET /directory?uid=<uid>``: a person's directory entry."""

    async def handler(request: web.Request) -> web.StreamResponse:
        uid = request.query.get("uid", "")
        if not uid or choice(request, "fields", FIELDS) is None:
            return message("Directory", "Pass a user id.", 400)
        try:
            found = ldapfilter.search(PEOPLE, build(uid))
        except ldapfilter.FilterError as exc:  # python-ldap's way of saying it, shown by a debug page
            detail = escape(f"ldap.FILTER_ERROR: {{'result': -7, 'desc': 'Bad search filter', 'info': '{exc}'}}")
            return page("Internal Server Error", f"<pre class=\"traceback\">{detail}</pre>", 500)
        if not found:
            return message("Directory", "No such person.", 404)
        entry = found[0]
        return page("Directory", f"<p class=\"person\">{escape(entry['cn'][0])} &lt;{escape(entry['mail'][0])}&gt;</p>")

    return handler


# ---------------------------------------------------------------------- XPath
def _items_unsafe(name: str) -> list[Any]:
    return list(CATALOG.xpath(f"//item[name='{name}']"))


def _items_safe(name: str) -> list[Any]:
    return list(CATALOG.xpath("//item[name=$name]", name=name))


def catalog_item(lookup: Callable[[str], list[Any]]) -> Handler:
    """``GET /catalog/item?name=<name>``: price and stock of an item. Errors look like "not found"."""

    async def handler(request: web.Request) -> web.StreamResponse:
        name = request.query.get("name", "")
        if not name or choice(request, "currency", CURRENCIES) is None:
            return message("Catalog", "Pass an item name.", 400)
        try:
            items = lookup(name)
        except etree.XPathError:
            items = []
        if not items:
            return message("Catalog", "No such item.", 404)
        item = items[0]
        return page("Catalog", f"<p class=\"item\">{escape(item.findtext('name'))}: ${escape(item.findtext('price'))}, "
                               f"{escape(item.findtext('stock'))} in stock</p>")

    return handler


# ---------------------------------------------------------------------- XSLT
_REPORT = """<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:output method="text"/>{param}
<xsl:template match="/">{title}
<xsl:for-each select="//item"><xsl:value-of select="name"/>: <xsl:value-of select="stock"/>
</xsl:for-each></xsl:template>
</xsl:stylesheet>"""


def _report_unsafe(title: str) -> str:
    return str(etree.XSLT(etree.XML(_REPORT.format(param="", title=title)), access_control=_NO_ACCESS)(CATALOG))


def _report_safe(title: str) -> str:
    stylesheet = _REPORT.format(param='<xsl:param name="title"/>', title='<xsl:value-of select="$title"/>')
    transform = etree.XSLT(etree.XML(stylesheet), access_control=_NO_ACCESS)
    return str(transform(CATALOG, title=etree.XSLT.strparam(title)))


def report(render: Callable[[str], str]) -> Handler:
    """``GET /report?title=<title>``: the stock report as text, titled."""

    async def handler(request: web.Request) -> web.StreamResponse:
        title = request.query.get("title", "")
        if not title or choice(request, "format", FORMATS) is None:
            return web.Response(status=400, text="Pass a title.\n", content_type="text/plain")
        try:
            text = render(title)
        except (etree.XMLSyntaxError, etree.XSLTError):
            return web.Response(status=500, text="Could not render the report.\n", content_type="text/plain")
        return web.Response(text=text, content_type="text/plain")

    return handler


# ---------------------------------------------------------------------- MongoDB-style queries
async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


def _email_any(body: Any) -> Any:
    return body.get("email") if isinstance(body, dict) else None


def _email_string(body: Any) -> Any:
    email = _email_any(body)
    return email if isinstance(email, str) else None


def member_lookup(read: Callable[[Any], Any]) -> Handler:
    """``POST /api/members/lookup`` (JSON ``{"email": ...}``): a member's plan."""

    async def handler(request: web.Request) -> web.StreamResponse:
        email = read(await _json_body(request))
        if email is None or email == "":
            return json_response({"error": "email (a string) is required"}, 400)
        try:
            found = docstore.find(MEMBERS, {"email": email})
        except docstore.QueryError as exc:
            return json_response({"error": f"MongoServerError: {exc}"}, 500)
        if not found:
            return json_response({"error": "no such member"}, 404)
        return json_response({"name": found[0]["name"], "plan": found[0]["plan"]})

    return handler


_BRACKETS = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")


def qs_parse(request: web.Request) -> dict[str, Any]:
    """The query as Express's ``qs`` reads it: ``a[$ne]=x`` is ``{"a": {"$ne": "x"}}``, ``a[b][]=x``
    is ``{"a": {"b": ["x"]}}``.

    >>> from aiohttp.test_utils import make_mocked_request
    >>> qs_parse(make_mocked_request("GET", "/?code[$in][]=A&page=2"))
    {'code': {'$in': ['A']}, 'page': '2'}
    """
    parsed: dict[str, Any] = {}
    for key, value in request.query.items():
        match = _BRACKETS.fullmatch(key)
        if match is None:
            continue
        keys = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node: Any = parsed
        for i, name in enumerate(keys):
            last = i == len(keys) - 1
            if name == "" and isinstance(node, list):
                node.append(value)
                break
            if not isinstance(node, dict):
                break
            if last:
                node[name] = value
            else:
                node = node.setdefault(name, [] if keys[i + 1] == "" else {})
    return parsed


def _code_brackets(request: web.Request) -> Any:
    return qs_parse(request).get("code")


def _code_plain(request: web.Request) -> Any:
    return request.query.get("code")


def coupons(read: Callable[[web.Request], Any]) -> Handler:
    """``GET /api/coupons?code=<code>``: an active coupon's discount."""

    async def handler(request: web.Request) -> web.StreamResponse:
        code = read(request)
        if code is None or code == "" or choice(request, "currency", CURRENCIES) is None:
            return json_response({"error": "code is required"}, 400)
        try:
            found = docstore.find(COUPONS, {"code": code, "active": True})
        except docstore.QueryError as exc:
            return json_response({"error": f"MongoServerError: {exc}"}, 500)
        if not found:
            return json_response({"error": "no such coupon"}, 404)
        return json_response({"code": found[0]["code"], "discount": found[0]["discount"]})

    return handler


def routes() -> list[web.RouteDef]:
    """The query-language endpoints and their twins."""
    return [
        web.get("/directory", directory(_filter_unsafe)),
        web.get("/safe/directory", directory(_filter_safe)),
        web.get("/catalog/item", catalog_item(_items_unsafe)),
        web.get("/safe/catalog/item", catalog_item(_items_safe)),
        web.get("/report", report(_report_unsafe)),
        web.get("/safe/report", report(_report_safe)),
        web.post("/api/members/lookup", member_lookup(_email_any)),
        web.post("/safe/api/members/lookup", member_lookup(_email_string)),
        web.get("/api/coupons", coupons(_code_brackets)),
        web.get("/safe/api/coupons", coupons(_code_plain)),
    ]
