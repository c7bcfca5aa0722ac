"""xxe: pure, against real lxml parsers (vulnerable and safe) behind fake endpoints."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest
from lxml import etree

from lunge.checks.callbacks import Deferred
from lunge.checks.testing import context
from lunge.checks.xxe import XXE
from lunge.http import Request, Response, parse
from lunge.http.headers import Headers
from tests.checks.oob_fakes import FakeListener, drive_oob, with_oob

ORDER = "<order><item>widget</item><quantity>2</quantity></order>"


class _Resolver(etree.Resolver):
    def __init__(self, listener: FakeListener | None) -> None:
        super().__init__()
        self.listener = listener

    def resolve(self, url, pubid, context):
        if url.startswith("http://") and self.listener is not None:
            return self.resolve_string((self.listener.http(url) or "").encode(), context)
        return None


def parse_xml(data: bytes, listener: FakeListener | None, *, vulnerable: bool):
    if vulnerable:
        parser = etree.XMLParser(resolve_entities=True, load_dtd=True, no_network=False)
        parser.resolvers.add(_Resolver(listener))
    else:
        parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)
    return etree.fromstring(data, parser)


def importer(listener: FakeListener | None, *, vulnerable: bool = True, show: bool = True):
    def app(request: Request) -> Response:
        try:
            root = parse_xml(request.body, listener, vulnerable=vulnerable)
        except etree.XMLSyntaxError:
            return Response(400, body=b"invalid XML")
        text = f"Imported {root.findtext('quantity')} x {root.findtext('item')}" if show else "Imported"
        if not vulnerable:  # the trap: the safe parser's endpoint echoes what it was sent
            text += "\n" + request.body.decode()
        return Response(200, body=text.encode())

    return app


def _xml_request(body: str = ORDER) -> Request:
    return Request.from_url("http://t.test/import", "POST", headers=Headers(
        [("Host", "t.test"), ("Content-Type", "application/xml")]), body=body.encode())


def _ctx(request, point, app, listener):
    return with_oob(context(request, point, app), listener)


def test_external_entity_reads_a_file_and_is_confirmed_with_a_second_file_and_a_control():
    app = importer(None)
    sent: list = []
    (verdict,) = drive_oob(XXE, _ctx(_xml_request(), "POST_XML_XML_DTD_value", app, None), app, None, sent)
    assert "root:x:0:0:" in verdict.proof and verdict.details["egress"] is False
    assert [a.label for a in sent] == ["file", "confirm", "control"]
    assert b"&x" in sent[0].request.body and b"file:///etc/passwd" in sent[0].request.body


def test_blind_parameter_entity_is_confirmed_by_callbacks():
    listener = FakeListener()
    app = importer(listener, show=False)
    sent: list = []
    (verdict,) = drive_oob(XXE, _ctx(_xml_request(), "POST_XML_XML_DTD_value", app, listener), app, listener, sent)
    assert verdict.details["egress"] is True and verdict.details["in_band"] is False
    assert [a.label for a in sent] == ["oob", "file", "confirm"]


def test_a_safe_parser_echoing_the_doctype_stays_silent():
    listener = FakeListener()
    app = importer(listener, vulnerable=False)
    verdicts = drive_oob(XXE, _ctx(_xml_request(), "POST_XML_XML_DTD_value", app, listener), app, listener)
    assert all(isinstance(v, Deferred) for v in verdicts) and listener.seen == {}


def test_xml_nested_in_a_base64_form_value():
    listener = FakeListener()

    def app(request: Request) -> Response:
        point = parse(request).get("POST_FORM_URLENCODED_doc_value")
        data = base64.b64decode(point.value if point else "")
        try:
            root = parse_xml(data, listener, vulnerable=True)
        except etree.XMLSyntaxError:
            return Response(400, body=b"bad")
        return Response(200, body=f"item {root.findtext('item')}".encode())

    body = "doc=" + quote(base64.b64encode(ORDER.encode()).decode(), safe="")
    request = Request.from_url("http://t.test/feed", "POST", headers=Headers(
        [("Host", "t.test"), ("Content-Type", "application/x-www-form-urlencoded")]), body=body.encode())
    point = "POST_FORM_URLENCODED_doc_BASE64_XML_XML_DTD_value"
    assert parse(request).get(point) is not None
    (verdict,) = drive_oob(XXE, _ctx(request, point, app, listener), app, listener)
    assert verdict.point == point and verdict.details["in_band"] is True


def test_json_endpoint_that_also_parses_xml_is_tried_once_with_the_content_type_switched():
    def app(request: Request) -> Response:
        if request.content_type == "application/xml":
            try:
                sku = parse_xml(request.body, None, vulnerable=True).findtext("sku")
            except etree.XMLSyntaxError:
                return Response(400, body=b"{}")
        else:
            sku = json.loads(request.body)["sku"]
        return Response(200, body=json.dumps({"sku": sku}).encode())

    request = Request.from_url("http://t.test/stock", "POST", headers=Headers(
        [("Host", "t.test"), ("Content-Type", "application/json")]), body=b'{"sku": "W-1", "n": 2}')
    ctx = context(request, "POST_JSON_DOC_HASH_sku_value", app)
    (verdict,) = drive_oob(XXE, ctx, app, None)
    assert verdict.details["place"] == "content-type"
    assert verdict.exchange.attack.request.headers.get("content-type") == "application/xml"
    assert not XXE.applies(context(request, "POST_JSON_DOC_HASH_n_value", app))  # once per body


def test_xinclude_at_the_first_element_text():
    def app(request: Request) -> Response:
        root = parse_xml(request.body, None, vulnerable=False)
        try:
            etree.ElementTree(root).xinclude()
        except etree.XIncludeError:
            return Response(400, body=b"include failed")
        return Response(200, body=(root.findtext("item") or "").encode())

    request = _xml_request()
    ctx = context(request, "POST_XML_XML_TAG_order_XML_TAG_item_value", app)
    (verdict,) = drive_oob(XXE, ctx, app, None)
    assert verdict.details["place"] == "xinclude" and "root:x:0:0:" in verdict.proof
    assert not XXE.applies(context(request, "POST_XML_XML_TAG_order_XML_TAG_quantity_value", app))


@pytest.mark.parametrize("point", ["GET_q_value", "URI_value"])
def test_non_xml_points_are_not_attacked(point):
    request = Request.from_url("http://t.test/s?q=<a>b</a>x")
    assert not XXE.applies(context(request, point, lambda r: Response(200, body=b"ok")))


def test_xml_in_a_multipart_part():
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"order\"; filename=\"o.xml\"\r\n"
            f"Content-Type: application/xml\r\n\r\n{ORDER}\r\n--{boundary}--\r\n")
    request = Request.from_url("http://t.test/upload", "POST", headers=Headers(
        [("Host", "t.test"), ("Content-Type", f"multipart/form-data; boundary={boundary}")]), body=body.encode())

    def app(request: Request) -> Response:
        part = request.body.split(b"\r\n\r\n", 1)[1].rsplit(f"\r\n--{boundary}".encode(), 1)[0]
        try:
            root = parse_xml(part, None, vulnerable=True)
        except etree.XMLSyntaxError:
            return Response(400, body=b"bad")
        return Response(200, body=f"item {root.findtext('item')}".encode())

    dtd = next(p.name for p in parse(request) if p.name.endswith("XML_XML_DTD_value"))
    (verdict,) = drive_oob(XXE, context(request, dtd, app), app, None)
    assert verdict.point == dtd and "root:x:0:0:" in verdict.proof
