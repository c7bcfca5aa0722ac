"""cmdi against the demo shop on a real loopback port (a real /bin/sh behind /tools/ping): exactly the
manifest's vulnerable entries are found; the safe twin and every other point stay silent."""

from __future__ import annotations

import pytest

from lunge.checks.cmdi import CMDI
from tests.checks.test_xss_demo import Shop, expected, shop, sweep, twins

__all__ = ["shop"]  # the module-scoped demo fixture, shared


@pytest.mark.slow
def test_cmdi_finds_exactly_the_vulnerable_demo_endpoints(shop: Shop) -> None:
    found, _ = sweep(CMDI, shop.recording.requests)  # latency samples taken on demand (calibration)
    assert found == expected("cmdi")
    assert not found & twins("cmdi")
