"""``lunge import FORMAT FILE``: a HAR, OpenAPI, Postman or curl file into a new test record.

The whole file is read and checked before anything is stored, so a malformed file (exit 2)
leaves no half-filled record behind; the file is in memory anyway, and the requests it describes
are about as large as its text. A file with no request lunge can test is an error too: an import
that silently yields an empty record would make the following test run pass for nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import batched
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table

from lunge.errors import InputFileError, LungeError, SettingError, StoreError
from lunge.node.display import shown
from lunge.node.settings import recording_settings, store_settings
from lunge.record.importers import FORMATS, Imported, Item, Skipped, reader
from lunge.record.importers.doc import input_error
from lunge.store import Store, open_store
from lunge.store.models import NewBaseline, TestRecord

logger = logging.getLogger(__name__)

BATCH = 500  # baselines per add_baselines call: one transaction each
_LISTED = 50  # skipped parts and notes listed in the summary and the record's stats


@dataclass(slots=True)
class _Collected:
    """What a reader gave, sorted into requests to store, skipped parts and notes."""

    imported: list[Imported] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def notes(self) -> list[dict[str, str]]:
        return [{"where": i.where, "note": i.note} for i in self.imported if i.note]


def run_import(fmt: str, path: str | Path, *, record_name: str | None = None, base_url: str | None = None,
               variables: Mapping[str, str] | None = None, build_id: str | None = None,
               store_flags: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Import ``path`` (format ``fmt``) into a new, closed test record; a summary of what was done.

    Raises SettingError for an unknown format or a bad ``--base-url``/``--build-id``, and
    InputFileError for a file that cannot be read or used (both exit 2).
    """
    read = reader(fmt)
    fmt = fmt.strip().lower()
    build = recording_settings({"build_id": build_id}, environ={}).build_id if build_id else None
    source = str(path)
    if variables and fmt in ("har", "curl"):
        logger.warning("--var is ignored for %s files", fmt)
    collected = _collect(read(read_text(path), source, base_url=base_url, variables=variables))
    if not collected.imported:
        raise input_error(source, "", "no request to import" + _skipped_hint(collected.skipped))
    name = record_name or f"Imported {fmt} {Path(source).name}"
    store = open_store(store_settings(store_flags).url)
    try:
        record = _store(store, name, build, collected, _stats(fmt, source, collected))
    finally:
        store.close()
    return _summary(record, fmt, source, collected)


def read_text(path: str | Path) -> str:
    """The file's text (UTF-8, a BOM allowed); InputFileError when it cannot be read or is not text."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputFileError(str(path), "", f"cannot read the file: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputFileError(str(path), f"line {line}", f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                                                        f"{exc.start}); save the file as UTF-8") from exc


def parse_variables(items: Sequence[str]) -> dict[str, str]:
    """``--var name=value`` options as a mapping (a later one wins)."""
    values: dict[str, str] = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not name.strip():
            raise SettingError("--var", item, "NAME=VALUE, for example --var baseUrl=http://127.0.0.1:8000")
        values[name.strip()] = value
    return values


def _collect(items: Iterable[Item]) -> _Collected:
    collected = _Collected()
    for item in items:
        if isinstance(item, Imported):
            collected.imported.append(item)
        else:
            collected.skipped.append(item)
            logger.info("skipped %s: %s", item.where, item.reason)
    return collected


def _skipped_hint(skipped: list[Skipped]) -> str:
    if not skipped:
        return " (the file describes none)"
    return f" ({len(skipped)} skipped, first at {skipped[0].where}: {skipped[0].reason})"


def _store(store: Store, name: str, build_id: str | None, collected: _Collected, stats: dict[str, Any]) -> TestRecord:
    record = store.create_record(name, build_id=build_id)
    now = datetime.now(UTC)
    try:
        for batch in batched(collected.imported, BATCH):
            store.add_baselines([NewBaseline(record.id, i.request, i.response, recorded_at=now) for i in batch])
    except LungeError as exc:
        _close_failed(store, record, stats, exc)
        raise
    return store.close_record(record.id, stats)


def _close_failed(store: Store, record: TestRecord, stats: dict[str, Any], exc: LungeError) -> None:
    """Close a record whose import failed halfway, saying so, so no one tests it unawares."""
    try:
        store.close_record(record.id, {**stats, "import_error": str(exc)})
    except StoreError:
        logger.warning("could not close %s after the failed import", record.label)


def _stats(fmt: str, source: str, collected: _Collected) -> dict[str, Any]:
    """What the record keeps about its import (``lunge records show``)."""
    return {
        "source": "import",
        "format": fmt,
        "file": Path(source).name,
        "imported": len(collected.imported),
        "with_response": sum(1 for i in collected.imported if i.response is not None),
        "skipped": len(collected.skipped),
        "skipped_reasons": [{"where": s.where, "reason": s.reason} for s in collected.skipped[:_LISTED]],
        "notes": collected.notes[:_LISTED],
    }


def _summary(record: TestRecord, fmt: str, source: str, collected: _Collected) -> dict[str, Any]:
    notes = collected.notes
    return {
        "record": {"id": record.id, "label": record.label, "name": record.name, "build_id": record.build_id,
                   "state": str(record.state)},
        "format": fmt,
        "file": source,
        "baselines": record.baseline_count,
        "with_response": sum(1 for i in collected.imported if i.response is not None),
        "skipped": len(collected.skipped),
        "skipped_entries": [{"where": s.where, "reason": s.reason} for s in collected.skipped[:_LISTED]],
        "notes": notes[:_LISTED],
        "notes_total": len(notes),
    }


def import_table(summary: Mapping[str, Any]) -> Group:
    """The human summary of ``lunge import``: the record, then what was skipped and noted."""
    head = Table(title="import", title_justify="left", show_header=False)
    head.add_column("field")
    head.add_column("value")
    record = summary["record"]
    head.add_row("record", f"{record['label']}  {shown(record['name'])}")
    if record["build_id"]:
        head.add_row("BUILD_ID", record["build_id"])
    head.add_row("file", f"{shown(summary['file'])} ({summary['format']})")
    head.add_row("baselines", str(summary["baselines"]))
    head.add_row("with recorded response", str(summary["with_response"]))
    head.add_row("skipped", str(summary["skipped"]))
    parts: list[Table] = [head]
    if summary["skipped_entries"]:
        skipped = [(s["where"], s["reason"]) for s in summary["skipped_entries"]]
        parts.append(_rows("skipped", ("where", "reason"), skipped))
    if summary["notes"]:
        parts.append(_rows(f"notes ({summary['notes_total']})", ("where", "note"),
                           [(n["where"], n["note"]) for n in summary["notes"]]))
    return Group(*parts)


def _rows(title: str, columns: tuple[str, str], rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(shown(cell) for cell in row))
    return table


__all__ = ["FORMATS", "import_table", "parse_variables", "read_text", "run_import"]
