"""deserialization: pure, against fake loaders and a fake listener."""

from __future__ import annotations

import base64
import io
import pickle
import re

import pytest

from lunge.checks.callbacks import Deferred
from lunge.checks.deserialization import DESERIALIZATION, decode, payload, sniff
from lunge.checks.testing import context
from lunge.http import Request, Response, parse
from lunge.http.headers import Headers
from tests.checks.oob_fakes import FakeListener, drive_oob, with_oob

CART = base64.b64encode(pickle.dumps({"items": ["widget"]}, protocol=5)).decode()
POINT = "HEADER_COOKIE_COOKIE_cart_value"


class _Recorder(pickle.Unpickler):
    """Loads like pickle.loads would, but records the REDUCE target instead of calling it."""

    def __init__(self, data: bytes, listener: FakeListener) -> None:
        super().__init__(io.BytesIO(data))
        self.listener = listener

    def find_class(self, module: str, name: str):
        if (module, name) == ("urllib.request", "urlopen"):
            return lambda url: self.listener.http(url)
        raise pickle.UnpicklingError("refused")


def shop(listener: FakeListener, *, vulnerable: bool = True):
    def app(request: Request) -> Response:
        point = parse(request).get(POINT)
        try:
            data = base64.b64decode(point.value if point else "", validate=True)
            value = _Recorder(data, listener).load() if vulnerable else _no_globals(data)
        except Exception:
            return Response(400, body=b"bad cart")
        return Response(200, body=str(value).encode())

    return app


def _no_globals(data: bytes):
    class Safe(pickle.Unpickler):
        def find_class(self, module, name):
            raise pickle.UnpicklingError("no globals")

    return Safe(io.BytesIO(data)).load()


def _ctx(app, listener):
    request = Request.from_url("http://t.test/cart", headers=Headers([("Host", "t.test"), ("Cookie", f"cart={CART}")]))
    return with_oob(context(request, POINT, app), listener)


def test_pickle_cookie_calling_back_is_confirmed_with_a_second_token():
    listener = FakeListener()
    app = shop(listener)
    sent: list = []
    (verdict,) = drive_oob(DESERIALIZATION, _ctx(app, listener), app, listener, sent)
    assert not isinstance(verdict, Deferred)
    assert verdict.details["format"] == "pickle" and verdict.details["encoding"] == "base64"
    assert [a.label for a in sent] == ["pickle", "confirm"]
    assert base64.b64decode(sent[0].payload).startswith(b"curllib.request\nurlopen\n")


def test_restricted_unpickler_stays_silent():
    listener = FakeListener()
    app = shop(listener, vulnerable=False)
    verdicts = drive_oob(DESERIALIZATION, _ctx(app, listener), app, listener)
    assert all(isinstance(v, Deferred) for v in verdicts) and listener.seen == {}


def test_without_the_listener_nothing_is_sent():
    app = shop(FakeListener())
    sent: list = []
    assert drive_oob(DESERIALIZATION, _ctx(app, None), app, None, sent) == [] and sent == []


@pytest.mark.parametrize(("value", "fmt", "encoding"), [
    (CART, "pickle", "base64"),
    (pickle.dumps([1], protocol=4).hex(), "pickle", "hex"),
    (base64.urlsafe_b64encode(pickle.dumps({"a": "??>>"}, protocol=2)).decode().rstrip("="), "pickle", "base64url"),
    ("!!python/object:app.Cart {items: []}", "yaml", "raw"),
    (base64.b64encode(b"\xac\xed\x00\x05sr\x00\x04Cart").decode(), "java", "base64"),
    ('a:1:{i:0;s:6:"widget";}', "php", "raw"),
])
def test_decode_recognises_formats_and_encodings(value, fmt, encoding):
    found = decode(value)
    assert found is not None and (found.format, found.encoding) == (fmt, encoding)
    assert decode(found.encode(value.encode() if encoding == "raw" else b"x")) is not None or encoding != "raw"


def test_plain_values_are_not_serialized_data():
    assert decode("widget") is None and decode("aGVsbG8gd29ybGQ=") is None and sniff(b"{}") is None


def test_the_payload_only_fetches_the_url():
    data = payload("pickle", "http://127.0.0.1:9/tok")
    ops = [op.name for op, _, _ in __import__("pickletools").genops(data)]
    assert ops == ["GLOBAL", "MARK", "UNICODE", "TUPLE", "REDUCE", "STOP"]
    assert re.fullmatch(rb"!!python/object/apply:urllib\.request\.urlopen \[\"http://127\.0\.0\.1:9/tok\"\]\n",
                        payload("yaml", "http://127.0.0.1:9/tok"))


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_every_pickle_protocol_is_recognised(protocol):
    assert sniff(pickle.dumps({"items": ["widget"]}, protocol=protocol)) == "pickle"


@pytest.mark.parametrize("text", [b"Some text\nthat ends.", b"Done.", b"I am here.", b"(see below)."])
def test_sentences_are_not_pickles(text):
    assert sniff(text) is None
