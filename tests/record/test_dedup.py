"""De-duplication: what makes two requests the same baseline."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lunge.http import Request
from lunge.record.dedup import Deduplicator, body_names, dedup_key, form_names


def _post(url: str, body: bytes, content_type: str) -> Request:
    return Request.from_url(url, "POST", headers=[("Content-Type", content_type)], body=body)


@pytest.mark.parametrize(("first", "second", "duplicate"), [
    (Request.from_url("http://t.test/a?x=1&y=2"), Request.from_url("http://t.test/a?y=9&x=8"), True),
    (Request.from_url("http://t.test/a?x=1"), Request.from_url("http://t.test/a?x=1&x=2"), True),
    (Request.from_url("http://t.test/a?x=1"), Request.from_url("http://t.test/a?x=1&z=2"), False),
    (Request.from_url("http://t.test/a?x=1"), Request.from_url("http://t.test/b?x=1"), False),
    (Request.from_url("http://t.test/a?x=1"), Request.from_url("http://t.test/a?x=1", "POST"), False),
    (Request.from_url("http://t.test/a"), Request.from_url("http://t.test:81/a"), False),
    (Request.from_url("http://t.test/a"), Request.from_url("http://T.TEST/a"), True),
    (Request.from_url("http://t.test/a"), Request.from_url("http://u.test/a"), False),
    (_post("http://t.test/f", b"a=1&b=2", "application/x-www-form-urlencoded"),
     _post("http://t.test/f", b"b=3&a=4", "application/x-www-form-urlencoded"), True),
    (_post("http://t.test/f", b"a=1&b=2", "application/x-www-form-urlencoded"),
     _post("http://t.test/f", b"a=1", "application/x-www-form-urlencoded"), False),
    (_post("http://t.test/j", b'{"a": 1, "b": {"c": 2}}', "application/json"),
     _post("http://t.test/j", b'{"b": {"c": 3}, "a": "x"}', "application/json"), True),
    # nested key paths count: b.c is a point the second body does not have
    (_post("http://t.test/j", b'{"a": 1, "b": {"c": 2}}', "application/json"),
     _post("http://t.test/j", b'{"b": null, "a": "x"}', "application/json"), False),
    # one URL, many operations: GraphQL (name and shape), JSON-RPC method, SOAP action
    (_post("http://t.test/graphql", b'{"query": "query A { a(id: 1) { x } }", "operationName": "A"}',
           "application/json"),
     _post("http://t.test/graphql", b'{"query": "query B { b(name: \\"z\\") { y } }", "operationName": "B"}',
           "application/json"), False),
    (_post("http://t.test/graphql", b'{"query": "{ a(id: 1) { x } }"}', "application/json"),
     _post("http://t.test/graphql", b'{"query": "{ a(id: 22) { x } }"}', "application/json"), True),
    (_post("http://t.test/rpc", b'{"jsonrpc": "2.0", "method": "user.get", "params": [1], "id": 1}',
           "application/json"),
     _post("http://t.test/rpc", b'{"jsonrpc": "2.0", "method": "user.delete", "params": [1], "id": 2}',
           "application/json"), False),
    (_post("http://t.test/soap", b"<s:Envelope><s:Body><GetUser/></s:Body></s:Envelope>", "text/xml"),
     _post("http://t.test/soap", b"<s:Envelope><s:Body><ListUsers/></s:Body></s:Envelope>", "text/xml"), False),
    (_post("http://t.test/j", b'{"a": 1}', "application/json"),
     _post("http://t.test/j", b'{"a": 1}', "application/vnd.api+json"), False),  # content type counts
    (_post("http://t.test/j", b'{"a": 1}', "application/json"),
     _post("http://t.test/j", b'{"a": 1}', "application/json; charset=utf-8"), True),
])
def test_duplicates(first, second, duplicate):
    seen = Deduplicator()
    assert seen.admit(first)
    assert seen.admit(second) is not duplicate


def test_names_from_every_body_kind():
    multipart = (b'--xx\r\nContent-Disposition: form-data; name="user"\r\n\r\nann\r\n--xx\r\n'
                 b'Content-Disposition: form-data; name="avatar"; filename="a.png"\r\n\r\n\x89PNG\r\n--xx--\r\n')
    assert body_names(_post("http://t/", multipart, "multipart/form-data; boundary=xx")) == ["user", "avatar"]
    assert body_names(_post("http://t/", b'{"k": 1, "l": [2]}', "text/plain")) == ["k", "l"]  # sniffed JSON
    assert body_names(_post("http://t/", b"[1, 2]", "application/json")) == []
    assert body_names(_post("http://t/", b"{broken", "application/json")) == []
    assert body_names(_post("http://t/", b"<a/>", "application/xml")) == []
    assert form_names("a%5B%5D=1&b+c=2&&=3") == ["a[]", "b c"]


def test_forget_lets_the_next_copy_in():
    seen = Deduplicator()
    request = Request.from_url("http://t.test/a?x=1")
    assert seen.admit(request) and not seen.admit(request)
    seen.forget(request)
    assert seen.admit(request)
    assert len(seen) == 1


@given(st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), st.integers(), min_size=1, max_size=6),
       st.randoms())
def test_json_key_order_and_values_never_matter(document, rnd):
    keys = list(document)
    rnd.shuffle(keys)
    shuffled = {k: document[k] + 1 for k in keys}
    first = _post("http://t.test/j", json.dumps(document).encode(), "application/json")
    second = _post("http://t.test/j", json.dumps(shuffled).encode(), "application/json")
    assert dedup_key(first) == dedup_key(second)


def _signin(user: str) -> Request:
    return _post("http://t.test/login", f"username={user}&password=pw".encode(), "application/x-www-form-urlencoded")


def _with_cookie(url: str, cookie: str) -> Request:
    return Request.from_url(url, headers=[("Cookie", cookie)])


def test_two_users_sign_ins_and_pages_are_kept_apart() -> None:
    from lunge.http import Headers, Response

    seen = Deduplicator()
    alice = Response(303, headers=Headers([("Set-Cookie", "sid=aaaaaaaa11; HttpOnly")]))
    bob = Response(303, headers=Headers([("Set-Cookie", "sid=bbbbbbbb22; HttpOnly")]))
    again = Response(303, headers=Headers([("Set-Cookie", "sid=cccccccc33; HttpOnly")]))
    token = Response(200, headers=Headers([("Content-Type", "application/json")]),
                     body=b'{"access_token": "tttttttttt44", "user": "carol"}')
    assert seen.admit(_signin("alice"), alice)
    assert seen.admit(_with_cookie("http://t.test/home", "sid=aaaaaaaa11"))
    assert seen.admit(_signin("bob"), bob)  # another user's sign-in: kept, not a duplicate
    assert seen.admit(_with_cookie("http://t.test/home", "sid=bbbbbbbb22; theme=dark"))  # bob's page: kept
    assert not seen.admit(_signin("alice"), again)  # alice again: a duplicate, as before
    assert not seen.admit(_with_cookie("http://t.test/home", "sid=cccccccc33"))  # her new session: the same user
    assert seen.admit(_with_cookie("http://t.test/home", "sid=unknown"))  # nobody's credentials: the plain key
    json_signin = Request.from_url("http://t.test/api/token", "POST", headers=[("Content-Type", "application/json")],
                                   body=b'{"login": "carol", "password": "pw"}')
    assert seen.admit(json_signin, token)
    bearer = Request.from_url("http://t.test/home", headers=[("Authorization", "Bearer tttttttttt44")])
    assert seen.admit(bearer) and not seen.admit(bearer)
    assert seen.key(bearer).who == ("carol",)


def test_a_failed_sign_in_or_a_form_without_password_is_keyed_as_before() -> None:
    from lunge.http import Headers, Response

    seen = Deduplicator()
    refused = Response(401, headers=Headers([("Set-Cookie", "sid=zzzzzzzz99")]))
    assert seen.admit(_signin("alice"), refused)
    assert not seen.admit(_signin("bob"), refused)
    search = _post("http://t.test/s", b"username=alice&q=1", "application/x-www-form-urlencoded")
    assert seen.key(search).who == ()
