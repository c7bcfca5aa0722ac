"""open-redirect against the demo shop on a real loopback port: /go is found, /safe/go and every other
point stay silent."""

from __future__ import annotations

import pytest

from lunge.checks.redirect import OPEN_REDIRECT
from tests.checks.test_xss_demo import Shop, expected, shop, sweep, twins

__all__ = ["shop"]  # the module-scoped demo fixture, shared


@pytest.mark.slow
def test_redirect_finds_exactly_the_vulnerable_demo_endpoints(shop: Shop) -> None:
    found, attacks = sweep(OPEN_REDIRECT, shop.recording.requests)
    assert found == expected("open-redirect")
    assert not found & twins("open-redirect")
    assert attacks < 60  # gated: only URL-ish or redirect-named points are attacked
