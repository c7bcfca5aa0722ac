"""The importer registry: format names to readers."""

from __future__ import annotations

import types

import pytest

from lunge.errors import SettingError
from lunge.record import importers
from lunge.record.importers import FORMATS, READERS, Imported, read, read_har, reader

from .files import text


def test_formats() -> None:
    assert FORMATS == ("har", "openapi", "postman", "curl")
    assert reader(" HAR ") is read_har and set(READERS) == set(FORMATS)


def test_unknown_format_names_the_allowed_ones() -> None:
    with pytest.raises(SettingError) as info:
        reader("swagger")
    assert str(info.value) == "FORMAT='swagger' is not allowed: one of har, openapi, postman, curl"


def test_read_dispatches() -> None:
    [item] = list(read("curl", "curl http://t.test/x", "x.sh"))
    assert isinstance(item, Imported) and item.request.url == "http://t.test/x" and item.where == "line 1"
    assert len(list(read("har", text("firefox.har"), "f.har"))) == 3


def test_package_exports_exactly_its_public_names() -> None:
    public = sorted(name for name, value in vars(importers).items()
                    if not name.startswith("_") and not isinstance(value, types.ModuleType)
                    and name not in ("annotations", "TYPE_CHECKING"))
    assert sorted(importers.__all__) == public
