"""The examples in lunge.http's docstrings run and hold (they are part of the documentation)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import lunge.http

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(lunge.http.__path__, "lunge.http.") if info.name != "lunge.http.curl"
)


@pytest.mark.parametrize("name", ["lunge.http", *MODULES, "lunge.node.points"])
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
