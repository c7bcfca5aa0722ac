"""path-traversal against the demo shop on a real loopback port: the vulnerable download parameter and
path segment are found, their safe twins and every other point stay silent."""

from __future__ import annotations

import pytest

from lunge.checks.traversal import PATH_TRAVERSAL
from tests.checks.test_xss_demo import Shop, expected, shop, sweep, twins

__all__ = ["shop"]  # the module-scoped demo fixture, shared


@pytest.mark.slow
def test_traversal_finds_exactly_the_vulnerable_demo_endpoints(shop: Shop) -> None:
    found, _ = sweep(PATH_TRAVERSAL, shop.recording.requests)
    assert found == expected("path-traversal")
    assert not found & twins("path-traversal")


@pytest.mark.slow
def test_traversal_light_mode_still_finds_the_demo_download(shop: Shop) -> None:
    found, _ = sweep(PATH_TRAVERSAL, shop.recording.requests, light=True)
    assert ("GET", "/download", "GET_file_value") in found
