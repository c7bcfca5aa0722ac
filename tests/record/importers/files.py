"""The fixture files of the importer tests, and reading them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lunge.record.importers import Imported, Item, Skipped, read

DATA = Path(__file__).parent / "data"
FIXTURES = {
    "har": ("chrome.har", "firefox.har"),
    "openapi": ("petstore.yaml", "inventory-3.1.json"),
    "postman": ("team-api.postman_collection.json",),
    "curl": ("requests.curl",),
}


def text(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def items(fmt: str, name_or_text: str, *, base_url: str | None = None,
          variables: Mapping[str, str] | None = None, source: str = "f") -> list[Item]:
    """Every item of a fixture file (by name) or of a literal text."""
    body = text(name_or_text) if (DATA / name_or_text).is_file() else name_or_text
    return list(read(fmt, body, source, base_url=base_url, variables=variables))


def imported(fmt: str, name_or_text: str, **options: Any) -> list[Imported]:
    return [i for i in items(fmt, name_or_text, **options) if isinstance(i, Imported)]


def skipped(fmt: str, name_or_text: str, **options: Any) -> list[Skipped]:
    return [i for i in items(fmt, name_or_text, **options) if isinstance(i, Skipped)]
