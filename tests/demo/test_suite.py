"""The functional suite passes against the shop, directly and through a proxy, and exercises every
endpoint of the manifest."""

from __future__ import annotations

from lunge.demo import MANIFEST, ThreadedDemoServer, run_suite
from tests.demo.conftest import Recording
from tests.fixtures.servers import free_port


async def test_the_suite_passes_against_the_shop(shop: ThreadedDemoServer) -> None:
    result = await run_suite(shop.url)

    assert result.ok, result.failures
    assert len(result.requests) >= len(MANIFEST)
    assert all(sent.status for sent in result.requests)
    assert result.elapsed < 2.0


def test_through_a_proxy_every_request_is_seen_in_order(recording: Recording) -> None:
    assert recording.result.ok, recording.result.failures
    seen = [(r.method, r.target) for r in recording.requests]
    assert seen == [(s.method, s.target) for s in recording.result.requests]


def test_every_manifest_endpoint_is_exercised(recording: Recording) -> None:
    for entry in MANIFEST:
        assert (recording.of(entry).method, recording.of(entry).path) == (entry.method, entry.path)


def test_cookies_and_tokens_travel_like_a_browser(recording: Recording) -> None:
    account = recording.baseline("GET", "/account")
    cookie = account.headers.get("cookie") or ""
    assert [c.split("=")[0] for c in cookie.split("; ")] == ["prefs", "session", "theme"]
    assert (recording.baseline("GET", "/api/me").headers.get("authorization") or "").startswith("Bearer ey")
    # each test has a fresh client: pages of tests that did not sign in carry no cookie
    assert recording.baseline("GET", "/search").headers.get("cookie") is None


async def test_a_broken_shop_is_reported_not_raised() -> None:
    result = await run_suite(f"http://127.0.0.1:{free_port()}")

    assert not result.ok
    assert any("no answer" in failure for failure in result.failures)
    assert all(sent.status == 0 for sent in result.requests)
