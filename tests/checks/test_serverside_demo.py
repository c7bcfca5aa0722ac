"""ssti, code-injection, crlf and xss-jsonp against the demo shop on a real loopback port (a real
Jinja2, a real Python eval, a response head written raw, a JSONP script): exactly the manifest's
vulnerable entries are found; the safe twins, the traps (template syntax shown literally, a header
kept percent-encoded, a report slow at random) and every other point stay silent. Each sweep also
measures the check's requests per point where it finds nothing."""

from __future__ import annotations

import pytest

from lunge.checks.base import Check
from lunge.checks.code_injection import CODE_INJECTION
from lunge.checks.crlf import CRLF
from lunge.checks.jsonp import XSS_JSONP
from lunge.checks.ssti import SSTI
from tests.checks.test_xss_demo import Shop, expected, shop, sweep, twins

__all__ = ["shop"]  # the module-scoped demo fixture, shared


def specific(found: set[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    """The engine's rule: a verdict on the whole URI is dropped when the same check confirmed a more
    specific point of the request (a payload appended to the URI lands in its last parameter)."""
    named = {(method, path) for method, path, point in found if point != "URI_value"}
    return {key for key in found if key[2] != "URI_value" or key[:2] not in named}


@pytest.mark.slow
@pytest.mark.parametrize("check", [SSTI, CODE_INJECTION, CRLF, XSS_JSONP], ids=lambda c: c.id)
def test_finds_exactly_the_vulnerable_demo_endpoints(shop: Shop, check: Check) -> None:
    found, _ = sweep(check, shop.recording.requests)
    found = specific(found)
    assert found == expected(check.id)
    assert not found & twins(check.id)


@pytest.mark.slow
def test_the_second_order_card_is_found_through_its_redirect(shop: Shop) -> None:
    cards = tuple(r for r in shop.recording.requests if r.path in ("/cards", "/safe/cards"))
    found, attacks = sweep(SSTI, cards)
    assert found == {("POST", "/cards", "POST_FORM_URLENCODED_message_value")}
    assert attacks < 80  # both flows, every point of them: the redirect doubles the probes of the posts
