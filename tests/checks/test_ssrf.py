"""ssrf: pure, against fake fetchers and a fake listener."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from lunge.checks.callbacks import Deferred
from lunge.checks.ssrf import SSRF, host_like
from lunge.checks.testing import context
from lunge.http import Request, Response, parse
from tests.checks.oob_fakes import FakeListener, drive_oob, with_oob

PASSWD = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n"
GROUP = "root:x:0:\ndaemon:x:1:\n"


def _url(request: Request) -> str:
    point = parse(request).get("GET_url_value")
    return point.value if point else ""


def fetcher(listener: FakeListener | None, *, show: bool = True, files: bool = True, allow: str | None = None,
            resolve_names: bool = False):
    """A link preview: fetches ``url`` and shows it (or not)."""

    def app(request: Request) -> Response:
        url = _url(request)
        if resolve_names and listener is not None:
            host = re.sub(r"^\w+://", "", url).split("/")[0].split(":")[0]
            listener.dns(host)
        if allow is not None and not url.startswith(allow):
            return Response(400, body=b"not allowed")
        body = ""
        if url.startswith("file:///") and files:
            body = {"/etc/passwd": PASSWD, "/etc/group": GROUP}.get(unquote(url[7:]), "")
        elif url.startswith("http://") and listener is not None:
            body = listener.http(url) or ""
        return Response(200, body=(f"<pre>{body}</pre>" if show else "ok").encode())

    return app


def _ctx(app, listener, url="http://127.0.0.1:8000/hooks/ping"):
    request = Request.from_url(f"http://t.test/preview?url={url}")
    return with_oob(context(request, "GET_url_value", app), listener)


def test_full_read_ssrf_is_confirmed_by_the_listener_body_and_a_second_token():
    listener = FakeListener()
    app = fetcher(listener)
    sent: list = []
    (verdict,) = drive_oob(SSRF, _ctx(app, listener), app, listener, sent)
    assert verdict.check_id == "ssrf" and not isinstance(verdict, Deferred)
    assert verdict.details["full_read"] is True and verdict.confidence == "certain"
    assert verdict.proof == listener.endpoint.body(verdict.exchange.attack.token)
    assert [a.label for a in sent] == ["url", "named", "confirm"]


def test_blind_ssrf_is_confirmed_by_the_callback():
    listener = FakeListener()
    app = fetcher(listener, show=False)
    (verdict,) = drive_oob(SSRF, _ctx(app, listener), app, listener)
    assert verdict.details["full_read"] is False and verdict.proof.startswith("GET /tstpfx")


def test_allow_listed_fetcher_and_a_resolver_answering_every_name_stay_silent_but_await_late_callbacks():
    listener = FakeListener()
    app = fetcher(listener, allow="http://127.0.0.1:8000/", resolve_names=True)
    verdicts = drive_oob(SSRF, _ctx(app, listener), app, listener)
    assert any(i.protocol == "dns" for seen in listener.seen.values() for i in seen)  # the trap fired
    assert verdicts and all(isinstance(v, Deferred) for v in verdicts)  # only ever reported on an HTTP callback


def test_file_url_read_without_the_listener():
    app = fetcher(None)
    sent: list = []
    (verdict,) = drive_oob(SSRF, _ctx(app, None), app, None, sent)
    assert verdict.details["form"] == "file-url" and "root:x:0:0:" in verdict.proof
    assert [a.payload for a in sent][0] == "file:///etc/passwd"
    assert sent[-1].label == "control"


def test_a_page_that_always_shows_passwd_text_is_not_a_file_read():
    def app(request: Request) -> Response:
        return Response(200, body=f"<pre>{PASSWD}</pre>".encode())

    assert drive_oob(SSRF, _ctx(app, None), app, None) == []


def test_scheme_less_and_userinfo_forms_reach_fetchers_that_prepend_their_own():
    listener = FakeListener(dns=False)

    def app(request: Request) -> Response:
        point = parse(request).get("GET_path_value")
        value = point.value if point else ""
        listener.http("http://internal.test" + value if value.startswith("@") else "http://" + value)
        return Response(200, body=b"queued")

    request = Request.from_url("http://t.test/proxy?path=/api/items")
    ctx = with_oob(context(request, "GET_path_value", app), listener)
    sent: list = []
    (verdict,) = drive_oob(SSRF, ctx, app, listener, sent)
    assert verdict.details["form"] in ("scheme-less", "userinfo")
    assert [a.label for a in sent][:3] == ["url", "scheme-less", "userinfo"]


@pytest.mark.parametrize(("value", "expected"), [
    ("api.example.com", True), ("10.0.0.5:8080", True), ("cdn.example.com/a.png", True),
    ("report.txt", False), ("hello", False), ("1.5", False),
])
def test_host_like(value, expected):
    assert host_like(value) is expected


def test_gate_skips_plain_values_and_the_request_target():
    app = fetcher(None)
    request = Request.from_url("http://t.test/search?q=widget")
    assert not SSRF.applies(context(request, "GET_q_value", app))
    assert not SSRF.applies(context(request, "URI_value", app))


def test_a_thorough_policy_sends_other_values_one_listener_url():
    import dataclasses

    listener = FakeListener()

    def app(request: Request) -> Response:
        point = parse(request).get("HEADER_REFERER_value")
        listener.http(point.value if point else "")  # analytics fetch whatever the Referer says
        return Response(200, body=b"ok")

    from lunge.http.headers import Headers

    request = Request.from_url("http://t.test/", headers=Headers([("Host", "t.test"), ("Referer", "home")]))
    ctx = with_oob(context(request, "HEADER_REFERER_value", app), listener)
    assert not SSRF.applies(ctx)
    thorough = dataclasses.replace(ctx, thorough=True)
    sent: list = []
    (verdict,) = drive_oob(SSRF, thorough, app, listener, sent)
    assert [a.label for a in sent] == ["url", "confirm"] and verdict.details["form"] == "url"
    assert not SSRF.applies(dataclasses.replace(thorough, oob=None))
