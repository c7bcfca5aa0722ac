"""The template, code, CRLF and JSONP endpoints: what their vulnerable and safe sides really do, over
real sockets (the raw response head included), and the traps."""

from __future__ import annotations

import doctest
import itertools

import pytest

from lunge.demo import ThreadedDemoServer, headers, templates
from lunge.http import Request
from tests.demo.wire import send

FORM = [("Content-Type", "application/x-www-form-urlencoded")]
JSON = [("Content-Type", "application/json")]


@pytest.mark.parametrize("module", [templates, headers])
def test_doctests(module: object) -> None:
    assert doctest.testmod(module).failed == 0  # type: ignore[arg-type]


def test_template_source_and_template_data() -> None:
    assert templates.as_source("Hi {{ 6*7 }} <b>") == "<p>Hi 42 &lt;b&gt;</p>"
    assert templates.as_data("Hi {{ 6*7 }} <b>") == "<p>Hi {{ 6*7 }} &lt;b&gt;</p>"


def test_the_sandbox_computes_but_refuses_the_interpreter() -> None:
    with pytest.raises(Exception, match="unsafe|not safely"):
        templates.as_source("{{ ''.__class__.__mro__[1].__subclasses__() }}")


def test_the_rule_is_python_on_one_side_and_arithmetic_on_the_other() -> None:
    assert templates.python_eval("'a%db' % (6*7)", 1.0) == "a42b"
    assert templates.arithmetic("price * 0.5 + 1", 20.0) == 11.0
    for code in ("'a' + 'b'", "__import__('os')", "price.__class__", "[1]"):
        with pytest.raises(ValueError):
            templates.arithmetic(code, 20.0)
    with pytest.raises(ImportError):
        templates.python_eval("__import__('os')", 1.0)  # only time is importable


def test_the_condition_twin_takes_comparisons_only() -> None:
    assert templates.condition_check("stock < 5", 3.0) is True
    with pytest.raises(ValueError):
        templates.condition_check("__import__('time').sleep(1)", 3.0)


async def test_the_language_cookie_is_written_raw(shop: ThreadedDemoServer) -> None:
    injected = await send(Request.from_url(f"{shop.url}/language?lang=en%0D%0ASet-Cookie:%20x=1&from=menu"))
    assert injected.status == 200
    assert injected.response.headers.get_all("set-cookie") == ["lang=en", "x=1; Path=/"]
    latin = await send(Request.from_url(f"{shop.url}/language?lang=en%E5%98%8D%E5%98%8ASet-Cookie:%20y=2&from=menu"))
    assert "y=2; Path=/" in latin.response.headers.get_all("set-cookie")
    safe = await send(Request.from_url(f"{shop.url}/safe/language?lang=en%0D%0ASet-Cookie:%20x=1&from=menu"))
    assert safe.status == 400 and safe.response.headers.get_all("set-cookie") == []


async def test_the_referral_header_keeps_line_breaks_encoded(shop: ThreadedDemoServer) -> None:
    sent = await send(Request.from_url(f"{shop.url}/track?ref=a%0D%0ASet-Cookie:%20x=1"))
    assert sent.response.headers.get("x-referral") == "a%0D%0ASet-Cookie%3A%20x%3D1"
    assert sent.response.headers.get_all("set-cookie") == []


async def test_jsonp_callback_raw_and_allow_listed(shop: ThreadedDemoServer) -> None:
    raw = await send(Request.from_url(f"{shop.url}/api/stock?callback=alert(1);x&sku=w-1"))
    assert raw.text.startswith("/**/alert(1);x(") and raw.response.content_type == "application/javascript"
    safe = await send(Request.from_url(f"{shop.url}/safe/api/stock?callback=alert(1);x&sku=w-1"))
    assert safe.status == 400


async def test_the_card_is_rendered_on_the_page_the_post_redirects_to(shop: ThreadedDemoServer) -> None:
    for prefix, shown in (("", "<p>6 * 7 = 42</p>"), ("/safe", "<p>6 * 7 = {{ 6*7 }}</p>")):
        posted = await send(Request.from_url(f"{shop.url}{prefix}/cards", "POST", headers=FORM,
                                             body=b"message=6+*+7+%3D+%7B%7B+6*7+%7D%7D"))
        assert posted.status == 303 and posted.response.headers.get("location") == f"{prefix}/cards/preview"
        cookie = posted.response.headers.get("set-cookie", "").split(";")[0]
        preview = await send(Request.from_url(f"{shop.url}{prefix}/cards/preview", headers=[("Cookie", cookie)]))
        assert shown in preview.text
        forged = cookie[: cookie.index("=") + 1] + "41." + "0" * 64
        refused = await send(Request.from_url(f"{shop.url}{prefix}/cards/preview", headers=[("Cookie", forged)]))
        assert refused.status == 400


async def test_the_blind_hook_answers_the_same_and_only_time_tells(shop: ThreadedDemoServer) -> None:
    def post(condition: bytes) -> Request:
        return Request.from_url(f"{shop.url}/hooks/alert", "POST", headers=FORM, body=b"condition=" + condition)

    quick = await send(post(b"stock+%3C+5"))
    broken = await send(post(b"%27"))
    slow = await send(post(b"__import__%28%27time%27%29.sleep%280.6%29"))
    assert quick.same_as(broken) and quick.same_as(slow)
    assert slow.elapsed >= 0.55 > quick.elapsed


async def test_the_report_is_slow_at_random_and_evaluates_nothing(shop: ThreadedDemoServer,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    draws = itertools.cycle([0.1, 0.2, 0.9])  # slow (0.4 + 0.2 s), then quick, and again
    monkeypatch.setattr(templates.random, "random", lambda: next(draws))
    answers = [await send(Request.from_url(f"{shop.url}/reports/summary?formula=total")) for _ in range(4)]
    assert [a.status for a in answers] == [200] * 4
    assert [a.elapsed >= 0.55 for a in answers] == [True, False, True, False]
    rejected = await send(Request.from_url(f"{shop.url}/reports/summary?formula=__import__('time')"))
    assert rejected.status == 400
