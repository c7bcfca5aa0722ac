"""sqli against the demo shop on a real loopback port (a real SQLite database behind real HTTP): the
findings are exactly the manifest's vulnerable entries; the safe twins and every other point the
demo policy selects stay silent."""

from __future__ import annotations

import pytest

from lunge.checks.sqli import SQLI
from tests.checks.test_xss_demo import Shop, expected, shop, sweep, twins

__all__ = ["shop"]  # the module-scoped demo fixture, shared


@pytest.mark.slow
def test_sqli_finds_exactly_the_vulnerable_demo_endpoints(shop: Shop) -> None:
    found, attacks = sweep(SQLI, shop.recording.requests)
    assert found == expected("sqli")
    assert not found & twins("sqli")
