"""Which redirect targets the safe twin allows."""

from __future__ import annotations

import pytest

from lunge.demo.redirect import same_site


@pytest.mark.parametrize("target", ["/home", "/products?id=1&next=https://evil.example/", "/a/b#c"])
def test_paths_on_this_site_are_allowed(target: str) -> None:
    assert same_site(target)


@pytest.mark.parametrize("target", [
    "//evil.example/", "/\\evil.example/", "\\\\evil.example", "https://evil.example/", "hTtPs://evil.example",
    "https:evil.example", "evil.example", "javascript:alert(1)", "/\tevil", "/%0d%0aSet-Cookie:x", "",
])
def test_anything_else_is_refused(target: str) -> None:
    assert same_site(target) is (target == "/%0d%0aSet-Cookie:x")  # percent-encoded: still a plain path
